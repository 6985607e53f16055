from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from azure.storage.queue import QueueServiceClient

from guest_onboarding.adapters.graph import GraphDirectory
from guest_onboarding.adapters.storage import QueueOutbox, TableLedger
from guest_onboarding.config import Settings
from tests.fixtures.azurite import AzuriteEndpoint
from tests.fixtures.graph_emulator import GraphEmulator
from tests.integration.stack import Stack, build_runtime, provision, stack_settings


@pytest.fixture
async def stack(
    azurite: AzuriteEndpoint, graph_identity_env: GraphEmulator
) -> AsyncIterator[Stack]:
    """Real adapters on Azurite and the Graph emulator (reset to samples/tenant.json)."""
    settings = Settings.from_env(
        stack_settings(azurite.connection_string, graph_identity_env.base_url)
    )
    provision(azurite.connection_string, settings)
    rt = build_runtime(settings)
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    yield Stack(rt=rt, graph=graph_identity_env, queues=queues)
    assert isinstance(rt.directory, GraphDirectory)
    await rt.directory.aclose()
    assert isinstance(rt.ledger, TableLedger) and isinstance(rt.outbox, QueueOutbox)
    await rt.ledger.close()
    await rt.outbox.close()
    queues.close()
