"""devstack.provision creates what infra/app/storage.bicep creates, named by the settings."""

from __future__ import annotations

import uuid

from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from devstack.provision import provision_storage, storage_names
from tests.fixtures.azurite import AzuriteEndpoint


def test_default_names_are_the_documented_ones() -> None:
    names = storage_names({"INVITATIONS_QUEUE": ""})
    assert names.queues == (
        "guest-invitations",
        "guest-assignments",
        "guest-invitations-poison",
        "guest-assignments-poison",
    )
    assert names.table == "guestledger"
    assert names.tables == ("guestledger", "graphbudget")


def test_every_queue_and_both_tables_exist_afterwards_and_twice_is_harmless(
    azurite: AzuriteEndpoint,
) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = {
        "INVITATIONS_QUEUE": f"inv-{tag}",
        "ASSIGNMENTS_QUEUE": f"asg-{tag}",
        "GUEST_LEDGER_TABLE": f"ledger{tag}",
        "GRAPH_BUDGET_TABLE": f"budget{tag}",
    }
    provision_storage(azurite.connection_string, settings)
    with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        service.get_queue_client(f"inv-{tag}").send_message("kept")
    provision_storage(azurite.connection_string, settings)

    with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        queues = {q.name for q in service.list_queues(name_starts_with="")}
        kept = service.get_queue_client(f"inv-{tag}").peek_messages()
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        table_names = {t.name for t in tables.list_tables()}
    assert {f"inv-{tag}", f"asg-{tag}", f"inv-{tag}-poison", f"asg-{tag}-poison"} <= queues
    assert {f"ledger{tag}", f"budget{tag}"} <= table_names
    assert [m.content for m in kept] == ["kept"]


def test_the_enqueue_cli_provisions_before_sending(azurite: AzuriteEndpoint) -> None:
    from typer.testing import CliRunner

    from devstack.cli import app

    queue = f"cli-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        app, ["enqueue", "{}", "--queue", queue, "--connection", azurite.connection_string]
    )
    assert result.exit_code == 0, result.output
    with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        queues = {q.name for q in service.list_queues()}
    assert {queue, f"{queue}-poison"} <= queues
