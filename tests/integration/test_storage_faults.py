"""Every Storage call of the app's storage adapters (ledger, tenant health, Graph budget,
outbox) meets each fault Storage can answer with, through the storage proxy in front of Azurite,
and nothing but a ``StoreError`` comes out: 503 ``ServerBusy``, 500, 429, a timeout and a
dropped connection as ``StoreUnavailable`` (retried, never poisoned), a 403 or 404 as
``PermanentStoreError`` (or the method's own answer, where "not found" means something to it).

The adapters are driven, not read: a method added without the mapping fails here, and the
list of methods driven must name every public method of each adapter. (The operator console's
storage classes answer with the console's ``StorageError``s; their own tests drive them.)
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import AzureError
from azure.data.tables import TableServiceClient as SyncTables
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue import QueueServiceClient as SyncQueues
from azure.storage.queue.aio import QueueServiceClient

from devstack.storage_proxy import RunningStorageProxy
from guest_onboarding.adapters.storage import QueueOutbox, TableLedger, TableTenantHealth
from guest_onboarding.adapters.storage.budget import TableBudgetStore
from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.changes import Expired, StepsRecorded
from guest_onboarding.domain.invitation import group_step_key
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus, retired_record
from guest_onboarding.errors import PermanentStoreError, StoreError, StoreUnavailable
from guest_onboarding.internal_messages import GroupMembership, ReminderRequest
from guest_onboarding.ports import TenantStop
from tests.support import T0

EMAIL = "ada@fabrikam.example"
USER = "00000000-0000-4000-8000-000000000001"
GROUP = "11111111-1111-1111-1111-111111111111"
#: The clients' own retries are off and their read timeout short: each call meets the fault once.
CLIENT = {"retry_total": 0, "read_timeout": 1, "connection_timeout": 1}

TRANSIENT = {
    "ServerBusy": {"kind": "status", "code": "ServerBusy"},
    "InternalError after apply": {"kind": "status", "code": "InternalError", "afterApply": True},
    "OperationTimedOut": {"kind": "status", "code": "OperationTimedOut"},
    "TooManyRequests": {"kind": "status", "code": "TooManyRequests"},
    "timeout": {"kind": "timeout", "delayMs": 2500},
    "reset": {"kind": "reset"},
    "reset after apply": {"kind": "reset", "afterApply": True},
}
PERMANENT = {
    "AuthorizationPermissionMismatch": {
        "kind": "status",
        "code": "AuthorizationPermissionMismatch",
    },
    "ResourceNotFound": {"kind": "status", "code": "ResourceNotFound"},
}


@dataclass
class Adapters:
    ledger: TableLedger
    health: TableTenantHealth
    budget: TableBudgetStore
    outbox: QueueOutbox


def _row() -> LedgerEntry:
    return LedgerEntry(
        email=EMAIL,
        status=GuestStatus.INVITED,
        user_id=USER,
        created_at=T0,
        first_sent_at=T0,
        steps={group_step_key(GROUP): StepStatus.QUEUED},
    )


@pytest.fixture
async def adapters(storage_proxy: RunningStorageProxy) -> AsyncIterator[Adapters]:
    """The four adapters on a fresh table and queues, every request through the proxy."""
    tag = uuid.uuid4().hex[:8]
    table, budget_table = f"faults{tag}", f"budget{tag}"
    invitations, assignments = f"inv-{tag}", f"asg-{tag}"
    with SyncTables.from_connection_string(storage_proxy.connection_string) as tables:
        for name in (table, budget_table):
            tables.create_table(name)
    with SyncQueues.from_connection_string(storage_proxy.connection_string) as queues:
        for name in (invitations, assignments, f"{invitations}-poison"):
            queues.create_queue(name)
    conn = storage_proxy.connection_string

    def tables_client() -> TableServiceClient:
        return TableServiceClient.from_connection_string(conn, **CLIENT)

    service = tables_client()
    ledger = TableLedger(service.get_table_client(table), service)
    assert await ledger.claim(_row())  # a row to read, write and retire
    health_service, budget_service = tables_client(), tables_client()
    queue_service = QueueServiceClient.from_connection_string(conn, **CLIENT)
    built = Adapters(
        ledger=ledger,
        health=TableTenantHealth(health_service.get_table_client(table), health_service),
        budget=TableBudgetStore(budget_service.get_table_client(budget_table), budget_service),
        outbox=QueueOutbox(
            queue_service, invitations_queue=invitations, assignments_queue=assignments
        ),
    )
    storage_proxy.control.reset_counters()
    yield built
    storage_proxy.control.set_faults([])
    for part in (built.ledger, built.health, built.budget, built.outbox):
        await part.close()


async def _drain(stream: AsyncIterator[LedgerEntry]) -> list[LedgerEntry]:
    return [entry async for entry in stream]


def _stop() -> TenantStop:
    return TenantStop(code="Stopped", message="stopped", since=T0, last_probe_at=T0)


def _claim(_: dict[str, float] | None) -> tuple[dict[str, float], int]:
    return {"next_slot": 1.0}, 1


Call = Callable[[Adapters], Awaitable[Any]]
#: Every public method of each adapter, as the app calls it; False: it makes no Storage call.
CALLS: dict[type, dict[str, tuple[Call, bool]]] = {
    TableLedger: {
        "get": (lambda a: a.ledger.get(EMAIL), True),
        "claim": (lambda a: a.ledger.claim(_row()), True),
        "take_over": (lambda a: a.ledger.take_over(_row(), etag='W/"x"'), True),
        "update": (lambda a: a.ledger.update(EMAIL, Expired(expired_at=T0, at=T0)), True),
        "tracked_entries": (lambda a: _drain(a.ledger.tracked_entries()), True),
        "stale_entries": (
            lambda a: _drain(a.ledger.stale_entries(updated_before=datetime.now(UTC))),
            True,
        ),
        "retire": (lambda a: a.ledger.retire(_row(), retired_record(_row())), True),
        "last_retired": (lambda a: a.ledger.last_retired(EMAIL), True),
        "entries": (lambda a: _drain(a.ledger.entries()), True),
        "ending_entries": (
            lambda a: _drain(a.ledger.ending_entries(on_or_before=T0.date())),
            True,
        ),
        "brake": (lambda a: a.ledger.brake(), True),
        "write_brake": (lambda a: a.ledger.write_brake(BrakeState()), True),
        "close": (lambda a: a.ledger.close(), False),
    },
    TableTenantHealth: {
        "invitations_stopped": (lambda a: a.health.invitations_stopped(), True),
        "record_stop": (lambda a: a.health.record_stop(_stop()), True),
        "clear_stop": (lambda a: a.health.clear_stop(), True),
        "close": (lambda a: a.health.close(), False),
    },
    TableBudgetStore: {
        "update": (lambda a: a.budget.update("writes", _claim), True),
        "forget": (lambda a: _nothing(a.budget.forget()), False),
        "close": (lambda a: a.budget.close(), False),
    },
    QueueOutbox: {
        "queue_assignment": (
            lambda a: a.outbox.queue_assignment(
                GroupMembership(email=EMAIL, userId=USER, groupId=GROUP)
            ),
            True,
        ),
        "queue_reminder": (
            lambda a: a.outbox.queue_reminder(ReminderRequest(email=EMAIL, number=1)),
            True,
        ),
        "requeue_invitation": (
            lambda a: a.outbox.requeue_invitation('{"email": "x"}', delay_seconds=1),
            True,
        ),
        "reject": (
            lambda a: a.outbox.reject(
                queue=a.outbox._invitations, original="{}", code="InvalidJson", message="bad"
            ),
            True,
        ),
        "close": (lambda a: a.outbox.close(), False),
    },
}


async def _nothing(_: None) -> None:
    return None


def _public_methods(cls: type) -> set[str]:
    return {
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


def test_every_public_method_of_every_storage_adapter_is_driven() -> None:
    for cls, calls in CALLS.items():
        assert set(calls) == _public_methods(cls), cls.__name__


def _driven() -> list[tuple[str, str, Call, bool]]:
    return [
        (cls.__name__, name, call, touches)
        for cls, calls in CALLS.items()
        for name, (call, touches) in calls.items()
        if name != "close"  # last: it ends the clients the others use
    ]


async def _outcome(call: Call, adapters: Adapters) -> BaseException | None:
    try:
        await call(adapters)
    except Exception as exc:
        return exc
    return None


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
async def test_transient_faults_come_out_as_store_unavailable_from_every_call(
    storage_proxy: RunningStorageProxy, adapters: Adapters, fault: str
) -> None:
    storage_proxy.control.set_faults([TRANSIENT[fault]])
    escaped: dict[str, str] = {}
    for cls, name, call, touches in _driven():
        raised = await _outcome(call, adapters)
        if touches and not isinstance(raised, StoreUnavailable):
            escaped[f"{cls}.{name}"] = repr(raised)
        if isinstance(raised, StoreError):
            assert isinstance(raised.__cause__, AzureError)  # the SDK's error, kept as cause
            assert "fabrikam" not in str(raised)  # no row key (an address) in the message
    assert escaped == {}
    assert storage_proxy.control.counters()["faults"]  # the faults were really met


@pytest.mark.parametrize("fault", sorted(PERMANENT))
async def test_refusals_come_out_as_permanent_store_errors_or_the_methods_own_answer(
    storage_proxy: RunningStorageProxy, adapters: Adapters, fault: str
) -> None:
    storage_proxy.control.set_faults([PERMANENT[fault]])
    escaped: dict[str, str] = {}
    refused = 0
    for cls, name, call, _ in _driven():
        raised = await _outcome(call, adapters)
        refused += isinstance(raised, PermanentStoreError)
        if raised is not None and not isinstance(raised, PermanentStoreError):
            escaped[f"{cls}.{name}"] = repr(raised)
    assert escaped == {}
    assert refused > 0


@pytest.mark.parametrize("fault", ["ServerBusy", "reset"])
async def test_close_after_faults_raises_nothing_from_the_sdk(
    storage_proxy: RunningStorageProxy, adapters: Adapters, fault: str
) -> None:
    storage_proxy.control.set_faults([TRANSIENT[fault]])
    for cls, calls in CALLS.items():
        call, _ = calls["close"]
        raised = await _outcome(call, adapters)
        assert raised is None or isinstance(raised, StoreError), cls.__name__


async def test_what_a_fault_says_is_storages_code_status_and_request_id(
    storage_proxy: RunningStorageProxy, adapters: Adapters
) -> None:
    storage_proxy.control.set_faults([TRANSIENT["ServerBusy"]])
    with pytest.raises(StoreUnavailable) as busy:
        await adapters.ledger.update(EMAIL, StepsRecorded(steps={"g": StepStatus.DONE}))
    assert busy.value.as_reason() | {"requestId": "-"} == {
        "code": "ServerBusy",
        "message": "could not write a ledger row: Storage answered 503 ServerBusy",
        "status": "503",
        "requestId": "-",
    }
    assert busy.value.request_id  # the proxy's x-ms-request-id, for Storage's own logs
    storage_proxy.control.set_faults([PERMANENT["AuthorizationPermissionMismatch"]])
    with pytest.raises(PermanentStoreError) as refused:
        await adapters.outbox.queue_reminder(ReminderRequest(email=EMAIL, number=1))
    assert refused.value.code == "AuthorizationPermissionMismatch"
    assert refused.value.status == 403


async def test_a_refused_insert_says_storages_code_too(
    storage_proxy: RunningStorageProxy, adapters: Adapters
) -> None:
    storage_proxy.control.set_faults([TRANSIENT["TooManyRequests"]])
    with pytest.raises(StoreUnavailable) as throttled:
        await adapters.ledger.claim(_row())
    assert (throttled.value.code, throttled.value.status) == ("TooManyRequests", 429)


# -- a write whose answer was lost, retried by the SDK -----------------------------------------


def _claimed(token: str) -> LedgerEntry:
    return LedgerEntry(
        email="grace@fabrikam.example",
        status=GuestStatus.INVITING,
        claim_token=token,
        claimed_at=datetime.now(UTC),
        created_at=T0,
    )


@pytest.fixture
async def retrying_ledger(storage_proxy: RunningStorageProxy) -> AsyncIterator[TableLedger]:
    """A ledger whose client retries as deployed (a 500 on a write is retried), quickly."""
    name = f"retries{uuid.uuid4().hex[:8]}"
    with SyncTables.from_connection_string(storage_proxy.connection_string) as tables:
        tables.create_table(name)
    service = TableServiceClient.from_connection_string(
        storage_proxy.connection_string, retry_backoff_factor=0.01
    )
    ledger = TableLedger(service.get_table_client(name), service)
    yield ledger
    await ledger.close()


async def test_a_claim_whose_answer_was_lost_is_still_this_deliverys(
    storage_proxy: RunningStorageProxy, retrying_ledger: TableLedger
) -> None:
    # The insert is applied, its answer replaced by a 500; the SDK's retry meets the row (409).
    lost_answer = {"kind": "status", "code": "InternalError", "afterApply": True, "count": 1}
    storage_proxy.control.set_faults([{**lost_answer, "method": "POST"}])
    mine = _claimed("m1")
    assert await retrying_ledger.claim(mine) is True
    assert storage_proxy.control.counters()["faults"] == {
        "table status InternalError after apply": 1
    }
    assert await retrying_ledger.claim(_claimed("m2")) is False  # another delivery's claim
    # The same for a take-over (an etag-checked replace): the retry meets its own new etag.
    row = await retrying_ledger.get(mine.email)
    assert row is not None and row.etag is not None
    storage_proxy.control.set_faults([{**lost_answer, "method": "PUT"}])
    again = _claimed("m3")
    assert await retrying_ledger.take_over(again, etag=row.etag) is True
    current = await retrying_ledger.get(mine.email)
    assert current is not None and current.claim_token == "m3"
    assert await retrying_ledger.take_over(_claimed("m4"), etag=row.etag) is False
