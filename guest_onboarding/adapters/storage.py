"""Azure Storage adapters: the guest ledger (Tables) and the outbox (Queues).

Vendor imports stay inside this module; their errors never leave it unmapped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from guest_onboarding.config import StorageSettings
from guest_onboarding.domain import TRACKED, GuestStatus, LedgerEntry
from guest_onboarding.messages import AssignmentStep, ReminderRequest, rejection_envelope

ServiceClient = TypeVar("ServiceClient", TableServiceClient, QueueServiceClient)
_STEP_PREFIXES = ("g_", "r_")
_DATETIME_FIELDS = frozenset(
    {
        "claimed_at",
        "first_sent_at",
        "last_sent_at",
        "redeemed_at",
        "expired_at",
        "deleted_at",
        "created_at",
        "updated_at",
    }
)


@functools.cache
def _identity_credential(client_id: str | None) -> AsyncTokenCredential:
    """One credential per identity for the process: the ledger and the outbox share its tokens."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


def _service_client(
    client_type: type[ServiceClient], storage: StorageSettings, service_uri: str | None, kind: str
) -> ServiceClient:
    """A Tables or Queues service client from a connection string, or from the service URI and
    the managed identity (identity-based ``AzureWebJobsStorage__*``)."""
    if storage.connection_string:
        return client_type.from_connection_string(storage.connection_string)
    if service_uri:
        return client_type(service_uri, credential=_identity_credential(storage.client_id))
    raise ValueError(f"AzureWebJobsStorage (or __{kind}ServiceUri) is not set")


def _to_entity(email: str, changes: dict[str, Any]) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": _partition(email), "RowKey": email}
    for key, value in changes.items():
        if key in {"email", "etag"}:
            continue
        if key == "steps":
            entity.update(value)
        elif isinstance(value, GuestStatus):
            entity[key] = value.value
        else:
            entity[key] = value
    return entity


def _partition(email: str) -> str:
    # One partition per domain spreads load while keeping a company's guests together.
    return email.rsplit("@", 1)[-1]


def _from_entity(entity: Any) -> LedgerEntry:
    data = dict(entity)
    steps = {k: str(v) for k, v in data.items() if k.startswith(_STEP_PREFIXES)}
    kwargs: dict[str, Any] = {}
    for name in LedgerEntry.__dataclass_fields__:
        if name in {"email", "steps", "etag"} or name not in data:
            continue
        value = data[name]
        if name in _DATETIME_FIELDS and isinstance(value, datetime):
            value = datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
        kwargs[name] = value
    kwargs["status"] = GuestStatus(data.get("status", GuestStatus.INVITING))
    etag = entity.metadata.get("etag") if hasattr(entity, "metadata") else None
    return LedgerEntry(email=data["RowKey"], steps=steps, etag=etag, **kwargs)


#: What ``tracked_entries`` reads of each row (the sweep needs nothing else).
SWEEP_COLUMNS = ("RowKey", "status", "user_id", "first_sent_at", "reminders_scheduled")


class TableLedger:
    """The guest ledger on Azure Tables (``GUEST_LEDGER_TABLE``), one row per guest."""

    def __init__(self, table: TableClient, service: TableServiceClient | None = None) -> None:
        self._table = table
        # The table client borrows the service client's transport: close both.
        self._service = service
        self._created = False

    @classmethod
    def create(cls, storage: StorageSettings, table_name: str) -> TableLedger:
        """A ledger on the configured account (connection string or managed identity)."""
        service = _service_client(TableServiceClient, storage, storage.table_service_uri, "table")
        return cls(service.get_table_client(table_name), service)

    async def _ensure_table(self) -> None:
        if not self._created:
            try:
                await self._table.create_table()
            except ResourceExistsError:
                pass
            self._created = True

    async def get(self, email: str) -> LedgerEntry | None:
        await self._ensure_table()
        try:
            entity = await self._table.get_entity(_partition(email), email)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    async def claim(self, entry: LedgerEntry) -> bool:
        await self._ensure_table()
        try:
            await self._table.create_entity(_to_entity(entry.email, _fields(entry)))
        except ResourceExistsError:
            return False
        return True

    async def take_over(self, entry: LedgerEntry, *, etag: str) -> bool:
        await self._ensure_table()
        try:
            await self._table.update_entity(
                _to_entity(entry.email, _fields(entry)),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def update(
        self, email: str, changes: dict[str, object], *, etag: str | None = None
    ) -> bool:
        await self._ensure_table()
        entity = _to_entity(email, {**changes, "updated_at": datetime.now(UTC)})
        try:
            if etag is None:
                await self._table.upsert_entity(entity, mode=UpdateMode.MERGE)
            else:
                await self._table.update_entity(
                    entity,
                    mode=UpdateMode.MERGE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def tracked_entries(self) -> AsyncIterator[LedgerEntry]:
        await self._ensure_table()
        query = " or ".join(f"status eq '{s.value}'" for s in sorted(TRACKED))
        # Only the columns the sweep reads: tens of thousands of rows stream through here.
        async for entity in self._table.query_entities(
            query, results_per_page=1000, select=list(SWEEP_COLUMNS)
        ):
            yield _from_entity(entity)

    async def close(self) -> None:
        await self._table.close()
        if self._service is not None:
            await self._service.close()


def _fields(entry: LedgerEntry) -> dict[str, Any]:
    values = {
        name: getattr(entry, name)
        for name in LedgerEntry.__dataclass_fields__
        if getattr(entry, name) is not None
    }
    return values


class QueueOutbox:
    """Queues this app writes: assignments, reminders, deferrals and ``<queue>-poison``."""

    def __init__(
        self, service: QueueServiceClient, *, invitations_queue: str, assignments_queue: str
    ) -> None:
        self._service = service
        self._invitations = invitations_queue
        self._assignments = assignments_queue
        self._clients: dict[str, QueueClient] = {}

    @classmethod
    def create(
        cls, storage: StorageSettings, *, invitations_queue: str, assignments_queue: str
    ) -> QueueOutbox:
        """An outbox on the configured account (connection string or managed identity)."""
        service = _service_client(QueueServiceClient, storage, storage.queue_service_uri, "queue")
        return cls(
            service, invitations_queue=invitations_queue, assignments_queue=assignments_queue
        )

    async def _queue(self, name: str) -> QueueClient:
        client = self._clients.get(name)
        if client is None:
            client = self._service.get_queue_client(name)
            try:
                await client.create_queue()
            except ResourceExistsError:
                pass
            self._clients[name] = client
        return client

    async def _send(self, queue: str, text: str, delay_seconds: float = 0) -> None:
        client = await self._queue(queue)
        # Visibility delays are whole seconds on the service; round up so a Retry-After is honoured.
        delay = int(-(-delay_seconds // 1)) if delay_seconds > 0 else None
        await client.send_message(text, visibility_timeout=delay)

    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None:
        await self._send(self._assignments, step.model_dump_json(exclude_none=True), delay_seconds)

    async def queue_reminder(self, reminder: ReminderRequest) -> None:
        await self._send(self._invitations, json.dumps({"reminder": reminder.model_dump()}))

    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
        await self._send(self._invitations, body, delay_seconds)

    async def reject(
        self,
        *,
        queue: str,
        original: str,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        envelope = rejection_envelope(
            original=original, code=code, message=message, details=details
        )
        await self._send(f"{queue}-poison", envelope)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()
