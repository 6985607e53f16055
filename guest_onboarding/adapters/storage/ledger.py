"""The guest ledger on Azure Tables (``GUEST_LEDGER_TABLE``), one row per guest."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from guest_onboarding.adapters.storage.brake_record import (
    BRAKE_PARTITION,
    BRAKE_ROW,
    brake_of_entity,
    entity_of_brake,
)
from guest_onboarding.adapters.storage.clients import service_client
from guest_onboarding.adapters.storage.codec import (
    RETIRED_PARTITION,
    entity_of_change,
    entity_of_entry,
    entry_of_entity,
    partition_of,
)
from guest_onboarding.adapters.storage.failures import storage_call, storage_stream
from guest_onboarding.config import StorageSettings
from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.changes import Change, Transition
from guest_onboarding.domain.ledger import TRACKED, GuestStatus, LedgerEntry, retired_prefix
from guest_onboarding.domain.offboarding import OFFBOARDABLE

#: Partitions that hold no guest rows (``~health``, ``~brake``).
RESERVED_PARTITION_PREFIX = "~"
#: What ``tracked_entries`` reads of each row (the sweep needs nothing else).
SWEEP_COLUMNS = (
    "RowKey",
    "status",
    "user_id",
    "first_sent_at",
    "last_sent_at",
    "reminders_scheduled",
    "reminders_sent",
    "disabled_at",
    "redirect_url",
    "send_message",
)
_PAGE = 1000


def _etag(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None)
    return metadata.get("etag") if isinstance(metadata, dict) else None


def _touched(entry: LedgerEntry) -> LedgerEntry:
    return dataclasses.replace(entry, updated_at=datetime.now(UTC))


def _status_filter(statuses: frozenset[GuestStatus]) -> str:
    return " or ".join(f"status eq '{s.value}'" for s in sorted(statuses))


class TableLedger:
    """The ``Ledger`` port on an existing Azure Table (the deployment creates it)."""

    def __init__(self, table: TableClient, service: TableServiceClient | None = None) -> None:
        self._table = table
        # The table client borrows the service client's transport: close both.
        self._service = service

    @classmethod
    def create(cls, storage: StorageSettings, table_name: str) -> TableLedger:
        """A ledger on the configured account (connection string or managed identity)."""
        service = service_client(TableServiceClient, storage, storage.table_service_uri, "table")
        return cls(service.get_table_client(table_name), service)

    @storage_call("read a ledger row")
    async def get(self, email: str) -> LedgerEntry | None:
        return await self._read(email)

    async def _read(self, email: str) -> LedgerEntry | None:
        """``get`` for this adapter's own methods, whose Storage errors their caller's
        ``storage_call`` maps already (one mapping per port call, no re-entry)."""
        try:
            entity = await self._table.get_entity(partition_of(email), email)
        except ResourceNotFoundError:
            return None
        return entry_of_entity(entity, _etag(entity))

    @storage_call("claim a ledger row")
    async def claim(self, entry: LedgerEntry) -> bool:
        written = _touched(entry)
        try:
            await self._table.create_entity(entity_of_entry(written))
        except ResourceExistsError:
            return await self._is_own_claim(written)
        return True

    @storage_call("take over a ledger row")
    async def take_over(self, entry: LedgerEntry, *, etag: str) -> bool:
        written = _touched(entry)
        try:
            await self._table.update_entity(
                entity_of_entry(written),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return await self._is_own_claim(written)
        except ResourceNotFoundError:
            return False
        return True

    async def _is_own_claim(self, written: LedgerEntry) -> bool:
        """Whether the row is this very claim after all: the SDK retries a write whose answer a
        5xx or a dropped connection lost, and the retry meets the write it retries (409, 412).
        The claim token and the instant of this write (``updated_at``, to the microsecond) tell
        it from any other delivery's; a "no" would only defer the message."""
        if written.claim_token is None:
            return False
        current = await self._read(written.email)
        return (
            current is not None
            and current.claim_token == written.claim_token
            and current.updated_at == written.updated_at
        )

    @storage_call("write a ledger row")
    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        history = None
        if isinstance(change, Transition):
            # The history is appended to: read it (and the etag guarding the write) first.
            current = await self._read(email)
            if current is None or (etag is not None and current.etag != etag):
                return False
            history, etag = current.history, current.etag
        entity = entity_of_change(email, change, updated_at=datetime.now(UTC), history=history)
        condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
        try:
            await self._table.update_entity(
                entity, mode=UpdateMode.MERGE, etag=etag, match_condition=condition
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    @storage_stream("list the tracked ledger rows")
    async def tracked_entries(self) -> AsyncIterator[LedgerEntry]:
        # Only the columns the sweep reads: tens of thousands of rows stream through here.
        async for entity in self._table.query_entities(
            _status_filter(TRACKED), results_per_page=_PAGE, select=list(SWEEP_COLUMNS)
        ):
            yield entry_of_entity(entity, _etag(entity))

    @storage_stream("list the ledger rows whose access ends")
    async def ending_entries(self, *, on_or_before: date) -> AsyncIterator[LedgerEntry]:
        # ISO dates compare as text as they do as dates; a row without one holds "".
        query = (
            f"({_status_filter(OFFBOARDABLE)}) and access_ends_on ne '' and access_ends_on le @day"
        )
        async for entity in self._table.query_entities(
            query, parameters={"day": on_or_before.isoformat()}, results_per_page=_PAGE
        ):
            yield entry_of_entity(entity, _etag(entity))

    @storage_call("read the offboarding brake")
    async def brake(self) -> BrakeState:
        try:
            entity = await self._table.get_entity(BRAKE_PARTITION, BRAKE_ROW)
        except ResourceNotFoundError:
            return BrakeState()
        return brake_of_entity(entity, _etag(entity))

    @storage_call("write the offboarding brake")
    async def write_brake(self, state: BrakeState) -> bool:
        entity = entity_of_brake(state)
        try:
            if state.etag is None:
                await self._table.create_entity(entity)
            else:
                await self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=state.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    @storage_stream("list the ledger rows past retention")
    async def stale_entries(self, *, updated_before: datetime) -> AsyncIterator[LedgerEntry]:
        query = f"updated_at lt @cutoff and PartitionKey ne '{RETIRED_PARTITION}'"
        async for entity in self._table.query_entities(
            query, parameters={"cutoff": updated_before}, results_per_page=_PAGE
        ):
            yield entry_of_entity(entity, _etag(entity))

    @storage_call("read a guest's retired records")
    async def last_retired(self, email: str) -> LedgerEntry | None:
        prefix = retired_prefix(email)  # "...-<created_at>": the latest lifecycle is the last
        query = "PartitionKey eq @partition and RowKey ge @low and RowKey lt @high"
        bounds = {"partition": RETIRED_PARTITION, "low": prefix, "high": prefix[:-1] + "."}
        latest: tuple[int, LedgerEntry] | None = None
        async for entity in self._table.query_entities(query, parameters=bounds):
            since = int(str(entity["RowKey"])[len(prefix) :] or 0)
            if latest is None or since >= latest[0]:
                latest = (since, entry_of_entity(entity, _etag(entity)))
        return latest[1] if latest else None

    @storage_call("retire a ledger row")
    async def retire(self, entry: LedgerEntry, record: LedgerEntry) -> bool:
        await self._table.upsert_entity(entity_of_entry(record), mode=UpdateMode.REPLACE)
        try:
            await self._table.delete_entity(
                partition_of(entry.email),
                entry.email,
                etag=entry.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return False
        except ResourceNotFoundError:
            pass  # retired by a concurrent sweep
        return True

    @storage_stream("list the ledger")
    async def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]:
        pages = (
            self._table.list_entities(results_per_page=_PAGE)
            if statuses is None
            else self._table.query_entities(_status_filter(statuses), results_per_page=_PAGE)
        )
        async for entity in pages:
            if str(entity["PartitionKey"]).startswith(RESERVED_PARTITION_PREFIX):
                continue  # not a guest (the tenant's health record)
            yield entry_of_entity(entity, _etag(entity))

    @storage_call("close the ledger's connections")
    async def close(self) -> None:
        await self._table.close()
        if self._service is not None:
            await self._service.close()
