"""The operator console's storage adapters on Azurite: bulk sends, poison read and replayed,
and every refusal turned into an error that names the queue or table and the missing role."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import AccountSasPermissions as TableSasPermissions
from azure.data.tables import ResourceTypes as TableResourceTypes
from azure.data.tables import TableServiceClient
from azure.data.tables import generate_account_sas as table_account_sas
from azure.storage.queue import (
    AccountSasPermissions,
    QueueClient,
    QueueServiceClient,
    ResourceTypes,
    generate_account_sas,
)

from guest_console.storage.adapters import CheckedLedgerReader, QueueOperator
from guest_console.storage.ports import StorageAccessDenied, StorageNotFound, StorageUnreachable
from guest_onboarding.config import StorageSettings
from local_functions_host.storage import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.fixtures.azurite import AzuriteEndpoint

pytestmark = pytest.mark.integration


def endpoints(connection_string: str) -> dict[str, str]:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return {k: v for k, v in parts.items() if k.endswith("Endpoint")}


def sas_connection_string(azurite: AzuriteEndpoint, *, queue: str, table: str) -> str:
    """Endpoints of this Azurite with an account SAS allowing only ``queue`` / ``table``
    permissions (letters as the SAS spells them: r read, a add, p process, ...)."""
    expiry = datetime.now(UTC) + timedelta(hours=1)
    queue_sas = generate_account_sas(
        DEV_ACCOUNT_NAME,
        DEV_ACCOUNT_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read="r" in queue, add="a" in queue, process="p" in queue),
        expiry,
    )
    table_sas = table_account_sas(
        AzureNamedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY),
        resource_types=TableResourceTypes(service=True, container=True, object=True),
        permission=TableSasPermissions(read="r" in table, write="w" in table),
        expiry=expiry,
    )
    ends = endpoints(azurite.connection_string)
    # One SAS per connection string: the queue tests use the queue one, the table tests the other.
    sas = queue_sas if queue != "-" else table_sas
    return (
        f"QueueEndpoint={ends['QueueEndpoint']};TableEndpoint={ends['TableEndpoint']};"
        f"SharedAccessSignature={sas}"
    )


@pytest.fixture
def queue_names(azurite: AzuriteEndpoint) -> Iterator[str]:
    """A work queue and its poison queue, created for this test."""
    name = f"work-{uuid.uuid4().hex[:10]}"
    with QueueServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_queue(name)
        service.create_queue(f"{name}-poison")
        yield name
        service.delete_queue(name)
        service.delete_queue(f"{name}-poison")


@pytest.fixture
async def operator(azurite: AzuriteEndpoint) -> AsyncIterator[QueueOperator]:
    queues = QueueOperator.create(StorageSettings(connection_string=azurite.connection_string))
    yield queues
    await queues.close()


def client(azurite: AzuriteEndpoint, queue: str) -> QueueClient:
    return QueueClient.from_connection_string(azurite.connection_string, queue)


def drain(azurite: AzuriteEndpoint, queue: str) -> list[str]:
    """Every message on ``queue``, removed."""
    found: list[str] = []
    with client(azurite, queue) as q:
        while batch := list(q.receive_messages(max_messages=32)):
            for message in batch:
                found.append(message.content)
                q.delete_message(message)
    return found


async def test_send_many_sends_every_body_once(
    azurite: AzuriteEndpoint, operator: QueueOperator, queue_names: str
) -> None:
    bodies = [json.dumps({"email": f"guest{i}@fabrikam.example"}) for i in range(150)]
    progress: list[int] = []
    await operator.send_many(queue_names, bodies, concurrency=16, on_sent=progress.append)
    assert sorted(drain(azurite, queue_names)) == sorted(bodies)
    assert sum(progress) == 150


def poison_envelope(original: str, code: str) -> str:
    return json.dumps({"error": {"code": code, "message": "why"}, "original": original})


async def test_poison_lists_every_message_and_leaves_them_there(
    azurite: AzuriteEndpoint, operator: QueueOperator, queue_names: str
) -> None:
    with client(azurite, f"{queue_names}-poison") as q:
        for i in range(40):  # more than one peek (32) can show
            q.send_message(poison_envelope(f'{{"email": "g{i}@fabrikam.example"}}', "InvalidJson"))
    first = await operator.poison(queue_names)
    second = await operator.poison(queue_names)
    assert len(first) == 40 and len({m.id for m in first}) == 40
    assert {m.id for m in second} == {m.id for m in first}
    assert all(m.queue == queue_names for m in first)


async def test_replay_sends_the_original_unchanged_once(
    azurite: AzuriteEndpoint, operator: QueueOperator, queue_names: str
) -> None:
    original = base64.b64encode(b'{"email": "ada@fabrikam.example"}').decode()
    with client(azurite, f"{queue_names}-poison") as q:
        q.send_message(poison_envelope(original, "Forbidden"))
        q.send_message(poison_envelope('{"email": "bob@fabrikam.example"}', "InvalidJson"))
    target = next(m for m in await operator.poison(queue_names) if "Forbidden" in m.content).id

    first = await operator.replay(queue_names, [target])
    second = await operator.replay(queue_names, [target])

    assert first.replayed == (target,) and first.not_found == ()
    assert second.replayed == () and second.not_found == (target,)
    assert drain(azurite, queue_names) == [original]  # base64 stays base64, sent once
    left = await operator.poison(queue_names)
    assert [json.loads(m.content)["error"]["code"] for m in left] == ["InvalidJson"]


async def test_a_queue_that_does_not_exist_is_named(
    azurite: AzuriteEndpoint, operator: QueueOperator
) -> None:
    with pytest.raises(StorageNotFound, match="queue 'no-such-queue-here' does not exist"):
        await operator.send_many("no-such-queue-here", ["{}"], concurrency=1)


async def test_no_send_permission_names_the_role_and_the_queue(
    azurite: AzuriteEndpoint, queue_names: str
) -> None:
    read_only = sas_connection_string(azurite, queue="r", table="-")
    queues = QueueOperator.create(StorageSettings(connection_string=read_only))
    try:
        with pytest.raises(StorageAccessDenied) as caught:
            await queues.send_many(queue_names, ["{}", "{}"], concurrency=2)
    finally:
        await queues.close()
    assert caught.value.role == "Storage Queue Data Message Sender"
    assert f"queue '{queue_names}'" in str(caught.value)
    assert "sig=" not in str(caught.value)  # the SAS is a secret
    assert drain(azurite, queue_names) == []


async def test_no_read_permission_on_the_poison_queue_names_the_processor_role(
    azurite: AzuriteEndpoint, queue_names: str
) -> None:
    send_only = sas_connection_string(azurite, queue="a", table="-")
    queues = QueueOperator.create(StorageSettings(connection_string=send_only))
    try:
        with pytest.raises(StorageAccessDenied) as caught:
            await queues.poison(queue_names)
    finally:
        await queues.close()
    assert caught.value.role == "Storage Queue Data Message Processor"
    assert f"queue '{queue_names}-poison'" in str(caught.value)


@pytest.fixture
def table_name(azurite: AzuriteEndpoint) -> Iterator[str]:
    name = f"ledger{uuid.uuid4().hex[:10]}"
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        tables.create_table(name)
        yield name
        tables.delete_table(name)


async def test_no_read_permission_on_the_ledger_names_the_reader_role(
    azurite: AzuriteEndpoint, table_name: str
) -> None:
    write_only = sas_connection_string(azurite, queue="-", table="w")
    reader = CheckedLedgerReader.create(StorageSettings(connection_string=write_only), table_name)
    try:
        with pytest.raises(StorageAccessDenied) as caught:
            _ = [entry async for entry in reader.entries()]
    finally:
        await reader.close()
    assert caught.value.role == "Storage Table Data Reader"
    assert f"table '{table_name}'" in str(caught.value)


async def test_a_missing_ledger_table_and_an_unreachable_account_are_named(
    azurite: AzuriteEndpoint,
) -> None:
    storage = StorageSettings(connection_string=azurite.connection_string)
    reader = CheckedLedgerReader.create(storage, "nosuchledgertable")
    try:
        with pytest.raises(StorageNotFound, match="table 'nosuchledgertable' does not exist"):
            await reader.get("ada@fabrikam.example")
    finally:
        await reader.close()
    table_endpoint = endpoints(azurite.connection_string)["TableEndpoint"]
    port = table_endpoint.rsplit(":", 1)[1].split("/", 1)[0]
    nowhere = azurite.connection_string.replace(f":{port}/", ":9/")  # discard port: nobody
    reader = CheckedLedgerReader.create(StorageSettings(connection_string=nowhere), "ledger")
    try:
        with pytest.raises(StorageUnreachable, match="cannot reach"):
            await reader.get("ada@fabrikam.example")
    finally:
        await reader.close()
