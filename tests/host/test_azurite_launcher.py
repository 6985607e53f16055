"""devstack.azurite: starting the pinned Azurite, its connection string, and clear failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from devstack.azurite import LOCAL_HOST, Azurite, AzuriteError, AzuritePorts, endpoint_answers

pytestmark = pytest.mark.integration


def test_missing_node_modules_says_to_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match="run npm ci"):
        Azurite(ports=AzuritePorts.free(), repo_root=tmp_path).start()


def test_started_azurite_serves_queues_and_tables_then_stops_and_cleans_up() -> None:
    azurite = Azurite(ports=AzuritePorts.free())
    with azurite:
        location = azurite.location
        assert location is not None and location.is_dir()
        queues = QueueServiceClient.from_connection_string(azurite.connection_string)
        tables = TableServiceClient.from_connection_string(azurite.connection_string)
        # The current SDKs only work because Azurite runs with --skipApiVersionCheck.
        queues.create_queue("launcher-check")
        tables.create_table("launchercheck")
        assert [q.name for q in queues.list_queues()] == ["launcher-check"]
        assert [t.name for t in tables.list_tables()] == ["launchercheck"]
        queues.close()
        tables.close()
    assert not endpoint_answers(LOCAL_HOST, azurite.ports.queue)
    assert not location.exists()


def test_ports_in_use_are_refused_rather_than_mistaken_for_ours(tmp_path: Path) -> None:
    ports = AzuritePorts.free()
    with socket.socket() as squatter:
        squatter.bind((LOCAL_HOST, ports.table))
        squatter.listen()
        with pytest.raises(AzuriteError, match="already in use"):
            Azurite(ports=ports, location=tmp_path / "data").start()
