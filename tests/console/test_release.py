"""``guest-onboarding release``: the offboardings the brake holds (``OFFBOARD_THRESHOLD``) go
ahead only once an operator releases them, through the console, on Azurite; the app's real
adapters drain what it sends and the Graph emulator's directory is the oracle."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueServiceClient

from devstack.provision import provision_storage
from devstack.seeds import GROUP_PARTNERS
from guest_onboarding.config import Settings
from tests.console.conftest import Operated
from tests.fixtures.azurite import AzuriteEndpoint
from tests.fixtures.graph_emulator import GraphEmulator
from tests.integration.stack import Stack, build_runtime, stack_settings

pytestmark = pytest.mark.integration

GUESTS = [f"leaver{i}@partner.example" for i in range(3)]


@pytest.fixture
async def braked(
    azurite: AzuriteEndpoint, graph_identity_env: GraphEmulator, tmp_path: Path
) -> AsyncIterator[Operated]:
    """The console and the app with a brake that holds the second offboarding of an hour."""
    values = stack_settings(
        azurite.connection_string, graph_identity_env.base_url, OFFBOARD_THRESHOLD="1"
    )
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


def members(state: dict[str, Any]) -> set[str]:
    return {m for g in state["groups"] if g["id"] == GROUP_PARTNERS for m in g["members"]}


async def test_held_offboardings_go_ahead_only_once_released(braked: Operated) -> None:
    stack = braked.stack
    for email in GUESTS:
        stack.send({"email": email, "groups": [GROUP_PARTNERS]})
    await stack.drain()
    state = stack.graph.control.state()
    ids = {u["mail"]: u["id"] for u in state["users"] if u["mail"] in GUESTS}
    assert set(ids.values()) <= members(state)

    for email in GUESTS:
        stack.send({"email": email, "action": "offboard"})
    outcomes = await stack.drain()
    assert sorted(o for o in outcomes if o != "done") == ["brake_engaged", "held", "offboarding"]
    held = set(ids.values()) & members(stack.graph.control.state())
    assert len(held) == 2  # only the first offboarding removed anything

    listed = await braked.console("release", "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert "2 offboarding(s) held" in listed.stdout
    assert held <= members(stack.graph.control.state())  # a dry run decides nothing

    released = await braked.console("release")
    assert released.exit_code == 0, released.output
    assert "released 2 held offboarding(s)" in released.stdout
    await stack.drain()

    after = stack.graph.control.state()
    assert not set(ids.values()) & members(after)
    enabled = {u["id"]: u.get("accountEnabled") for u in after["users"]}
    assert all(enabled[i] is False for i in ids.values())
    assert stack.poison(stack.settings.invitations_queue) == []
    assert stack.poison(stack.settings.assignments_queue) == []

    again = await braked.console("release")
    assert again.exit_code == 2  # nothing held, the brake off: nothing to decide
    assert "nothing to decide" in again.stderr
