"""The shared Graph budget on Azure Tables (``GRAPH_BUDGET_TABLE``): one row per bucket.

Every instance of the app changes the same few rows (``adapters/graph/pacing`` says what they
hold), read then replaced under an etag check, so two instances never hand out the same slot.
The table is the app's own (not the ledger, whose read side lists every row), in the storage
account the app already uses, with Table Data Contributor scoped to it (infra/app/rbac.bicep).

An instance writes on the row as it last saw it (one round trip) while no other instance wrote
since; a change that loses the etag race is re-read and re-applied. The client is built to fail
fast (short timeouts, one retry): the pacer falls back to per-process pacing when the record is
slow or down, which is better than holding Graph calls behind a struggling table.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from guest_onboarding.adapters.storage.clients import service_client
from guest_onboarding.adapters.storage.failures import storage_call
from guest_onboarding.config import StorageSettings
from guest_onboarding.errors import BudgetContention

Result = TypeVar("Result")

#: The rows' partition; the row key is the bucket (writes, reads, invitations).
BUDGET_PARTITION = "graph"
#: Lost etag races re-read and re-apply the change this many times at most.
MAX_ATTEMPTS = 20
#: After a write on this instance's last view of the row lost a race, read first this long.
RACE_MEMORY = 5.0
#: Seconds; the pacer's own deadline (budget_record.STORE_TIMEOUT_SECONDS) is the outer bound.
_CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 2, "read_timeout": 2, "retry_total": 1}


class TableBudgetStore:
    """The ``BudgetStore`` the Graph pacer uses, on an existing table (Bicep creates it)."""

    def __init__(self, table: TableClient, service: TableServiceClient | None = None) -> None:
        self._table = table
        self._service = service
        # The row as this instance last read or wrote it, with its etag, per bucket; and when
        # writing on that view last lost a race (then read first for a while: others write).
        self._known: dict[str, tuple[dict[str, float], str | None]] = {}
        self._raced_at: dict[str, float] = {}

    @classmethod
    def create(cls, storage: StorageSettings, table_name: str) -> TableBudgetStore:
        """The budget on the configured account (connection string or managed identity)."""
        service = service_client(
            TableServiceClient, storage, storage.table_service_uri, "table", **_CLIENT_OPTIONS
        )
        return cls(service.get_table_client(table_name), service)

    @storage_call("update the shared Graph budget")
    async def update(
        self,
        bucket: str,
        change: Callable[[Mapping[str, float] | None], tuple[dict[str, float], Result]],
    ) -> Result:
        """Apply ``change`` to the bucket's row atomically (see ``pacer.BudgetStore``)."""
        known = self._known.get(bucket)
        if known is not None and time.monotonic() - self._raced_at.get(bucket, -1e9) > RACE_MEMORY:
            # Write on the row as this instance last saw it: one round trip while no other
            # instance wrote since. A claim that gets nothing on that view would get nothing on
            # the real row either (slots and pauses only move forward), so it needs none.
            record, result = change(known[0])
            if record == known[0] or await self._replace(bucket, record, known[1]):
                return result
            self._raced_at[bucket] = time.monotonic()
        for attempt in range(MAX_ATTEMPTS):
            try:
                entity = await self._table.get_entity(BUDGET_PARTITION, bucket)
            except ResourceNotFoundError:
                record, result = change(None)
                if await self._create(bucket, record):
                    return result
            else:
                current = {
                    k: float(v)
                    for k, v in entity.items()
                    if k not in ("PartitionKey", "RowKey") and isinstance(v, int | float)
                }
                self._known[bucket] = (current, entity.metadata.get("etag"))
                record, result = change(current)
                if record == current:  # nothing to write (a claim that got nothing)
                    return result
                if await self._replace(bucket, record, entity.metadata.get("etag")):
                    return result
            # Lost the race: another instance changed the row in between. Step aside briefly,
            # for longer after each loss (up to a tenth of a second).
            await asyncio.sleep(random.uniform(0, min(0.1, 0.005 * 2**attempt)))
        raise BudgetContention(f"the {bucket} row changed under {MAX_ATTEMPTS} attempts")

    def forget(self) -> None:
        """Drop the rows as last seen: the next update reads the table (see ``BudgetStore``)."""
        self._known.clear()

    async def _create(self, bucket: str, record: dict[str, float]) -> bool:
        try:
            written = await self._table.create_entity(_entity(bucket, record))
        except ResourceExistsError:
            return False
        self._known[bucket] = (record, written.get("etag"))
        return True

    async def _replace(self, bucket: str, record: dict[str, float], etag: str | None) -> bool:
        try:
            written = await self._table.update_entity(
                _entity(bucket, record),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        self._known[bucket] = (record, written.get("etag"))
        return True

    @storage_call("close the Graph budget's connections")
    async def close(self) -> None:
        await self._table.close()
        if self._service is not None:
            await self._service.close()


def _entity(bucket: str, record: dict[str, float]) -> dict[str, Any]:
    # Floats always: a whole number would otherwise be stored as Int32/Int64 and read back so.
    return {
        "PartitionKey": BUDGET_PARTITION,
        "RowKey": bucket,
        **{k: float(v) for k, v in record.items()},
    }
