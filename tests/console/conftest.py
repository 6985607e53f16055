"""The console's commands against Azurite and the Graph emulator: the app's real adapters
(``tests/integration/stack.py``) drain the queues the console fills, and the console is run as
an operator runs it, with a ``--settings`` file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.queue import QueueServiceClient
from click.testing import Result
from typer.testing import CliRunner

from devstack.provision import provision_storage
from guest_console.cli import app
from guest_onboarding.config import Settings
from tests.fixtures.azurite import AzuriteEndpoint
from tests.fixtures.graph_emulator import GraphEmulator
from tests.integration.stack import Stack, build_runtime, stack_settings


@dataclass
class Operated:
    """The app's stack and the console pointed at it."""

    stack: Stack
    values: dict[str, str]
    settings_path: Path

    async def console(self, *args: str) -> Result:
        """``guest-onboarding --settings <file> ARGS`` (in a thread: it runs its own loop)."""
        runner = CliRunner()
        argv = ["--settings", str(self.settings_path), *args]
        return await asyncio.to_thread(runner.invoke, app, argv, catch_exceptions=False)

    def queued(self, queue: str | None = None) -> list[str]:
        """The messages on ``queue`` (default the invitations queue), left there (32 at most)."""
        client = self.stack.queues.get_queue_client(queue or self.values["INVITATIONS_QUEUE"])
        return [m.content for m in client.peek_messages(max_messages=32)]

    def count(self, queue: str | None = None) -> int:
        client = self.stack.queues.get_queue_client(queue or self.values["INVITATIONS_QUEUE"])
        return client.get_queue_properties().approximate_message_count or 0


def table_rows(text: str) -> list[list[str]]:
    """The cells of each line of a rich table in ``text`` (a wrapped cell continues on the
    next line; short cells such as codes and numbers stay on the first)."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.strip().startswith("│")
    ]


@pytest.fixture
async def operated(
    azurite: AzuriteEndpoint, graph_identity_env: GraphEmulator, tmp_path: Path
) -> AsyncIterator[Operated]:
    values = stack_settings(azurite.connection_string, graph_identity_env.base_url)
    provision_storage(azurite.connection_string, values)
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    rt = build_runtime(Settings.from_env(values))
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    yield Operated(
        stack=Stack(rt=rt, graph=graph_identity_env, queues=queues),
        values=values,
        settings_path=path,
    )
    await rt.aclose()
    queues.close()
