"""The storage proxy forwards Table and Queue traffic unchanged to Azurite, counts it without
row keys, and injects each fault the way the Storage SDKs meet a real one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient

from devstack.storage_proxy import ProxyConfigError, RunningStorageProxy, endpoint_ports
from tests.fixtures.azurite import AzuriteEndpoint

EMAIL = "ada@fabrikam.example"


@pytest.fixture
def table(storage_proxy: RunningStorageProxy) -> Iterator[TableClient]:
    """A fresh table, through the proxy, with the SDK's own retries off (each request once)."""
    name = f"proxy{uuid.uuid4().hex[:10]}"
    service = TableServiceClient.from_connection_string(
        storage_proxy.connection_string, retry_total=0, read_timeout=2
    )
    service.create_table(name)
    with service.get_table_client(name) as client:
        yield client
    service.close()


@pytest.fixture
def queue(storage_proxy: RunningStorageProxy) -> Iterator[QueueClient]:
    name = f"proxy-{uuid.uuid4().hex[:10]}"
    service = QueueServiceClient.from_connection_string(
        storage_proxy.connection_string, retry_total=0, read_timeout=2
    )
    service.create_queue(name)
    with service.get_queue_client(name) as client:
        yield client
    service.close()


def _row(n: int = 1) -> dict[str, object]:
    return {"PartitionKey": "fabrikam.example", "RowKey": EMAIL, "n": n}


def test_forwards_signed_requests_unchanged_and_counts_them_without_keys(
    storage_proxy: RunningStorageProxy, table: TableClient, queue: QueueClient
) -> None:
    table.create_entity(_row())
    assert table.get_entity("fabrikam.example", EMAIL)["n"] == 1
    queue.send_message("hello")
    received = queue.receive_message()
    assert received is not None and received.content == "hello"

    counters = storage_proxy.control.counters()
    requests = counters["requests"]
    assert requests[f"table POST {table.table_name}"] == 1
    assert requests[f"table GET {table.table_name}"] == 1
    assert requests[f"queue POST {queue.queue_name}"] == 1
    assert requests[f"queue GET {queue.queue_name}"] == 1
    assert "fabrikam" not in repr(counters)  # the row key (an address) is never recorded
    assert counters["faults"] == {}


@pytest.mark.parametrize("code, status", [("ServerBusy", 503), ("InternalError", 500)])
def test_a_status_fault_is_storages_own_error_answer_on_both_services(
    storage_proxy: RunningStorageProxy,
    table: TableClient,
    queue: QueueClient,
    code: str,
    status: int,
) -> None:
    storage_proxy.control.set_faults([{"kind": "status", "code": code}])
    with pytest.raises(HttpResponseError) as on_table:
        table.create_entity(_row())
    with pytest.raises(HttpResponseError) as on_queue:
        queue.send_message("x")
    for raised in (on_table.value, on_queue.value):
        assert raised.status_code == status
        assert raised.response is not None
        assert raised.response.headers["x-ms-error-code"] == code
    storage_proxy.control.set_faults([])
    with pytest.raises(ResourceNotFoundError):  # not applied: the fault came first
        table.get_entity("fabrikam.example", EMAIL)


def test_a_fault_after_apply_loses_the_answer_but_not_the_write(
    storage_proxy: RunningStorageProxy, table: TableClient
) -> None:
    storage_proxy.control.set_faults(
        [{"kind": "status", "code": "InternalError", "afterApply": True}]
    )
    with pytest.raises(HttpResponseError):
        table.create_entity(_row())
    storage_proxy.control.set_faults([])
    assert table.get_entity("fabrikam.example", EMAIL)["n"] == 1


def test_reset_drops_the_connection_and_timeout_outlasts_the_client(
    storage_proxy: RunningStorageProxy, table: TableClient
) -> None:
    storage_proxy.control.set_faults([{"kind": "reset"}])
    with pytest.raises(ServiceResponseError):
        table.create_entity(_row())
    storage_proxy.control.set_faults([{"kind": "timeout", "delayMs": 4000, "afterApply": True}])
    with pytest.raises(ServiceResponseTimeoutError):  # the client's read timeout is 2 s
        table.create_entity(_row())
    storage_proxy.control.set_faults([])
    assert table.get_entity("fabrikam.example", EMAIL)["n"] == 1  # applied before the silence


def test_slow_answers_late_and_rules_pick_service_method_and_resource(
    storage_proxy: RunningStorageProxy, table: TableClient, queue: QueueClient
) -> None:
    storage_proxy.control.set_faults(
        [
            {"service": "queue", "method": "POST", "kind": "status", "code": "ServerBusy"},
            {"service": "table", "resource": table.table_name, "kind": "slow", "delayMs": 800},
        ]
    )
    started = time.monotonic()
    table.create_entity(_row())
    assert time.monotonic() - started >= 0.8
    with pytest.raises(HttpResponseError):
        queue.send_message("refused")
    assert queue.receive_message() is None  # GET on the queue: no rule, forwarded
    assert storage_proxy.control.counters()["faults"] == {
        "queue status ServerBusy": 1,
        "table slow": 1,
    }


def test_the_connection_string_sends_tables_and_queues_through_it_and_blobs_past_it(
    azurite: AzuriteEndpoint, storage_proxy: RunningStorageProxy
) -> None:
    direct, proxied = (
        endpoint_ports(azurite.connection_string),
        endpoint_ports(storage_proxy.connection_string),
    )
    assert proxied["blob"] == direct["blob"]
    assert proxied["table"] == storage_proxy.ports["table"] != direct["table"]
    assert proxied["queue"] == storage_proxy.ports["queue"] != direct["queue"]
    with pytest.raises(ProxyConfigError):
        endpoint_ports("UseDevelopmentStorage=true")
