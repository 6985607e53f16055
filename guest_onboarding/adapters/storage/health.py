"""The tenant's invitation health: one row in the ledger table, shared by every instance.

It lives in a partition of its own (``~health``: ``~`` sorts after every domain), which the
ledger's listings skip; the identity already has Table Data Contributor on that table.
"""

from __future__ import annotations

import dataclasses

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from guest_onboarding.adapters.storage.clients import service_client
from guest_onboarding.adapters.storage.codec import utc
from guest_onboarding.adapters.storage.failures import storage_call
from guest_onboarding.config import StorageSettings
from guest_onboarding.ports import TenantStop

HEALTH_PARTITION = "~health"
_ROW = "invitations"


class TableTenantHealth:
    """The ``TenantHealth`` port on the ledger table."""

    def __init__(self, table: TableClient, service: TableServiceClient | None = None) -> None:
        self._table = table
        self._service = service

    @classmethod
    def create(cls, storage: StorageSettings, table_name: str) -> TableTenantHealth:
        service = service_client(TableServiceClient, storage, storage.table_service_uri, "table")
        return cls(service.get_table_client(table_name), service)

    @storage_call("read the tenant's invitation health")
    async def invitations_stopped(self) -> TenantStop | None:
        try:
            entity = await self._table.get_entity(HEALTH_PARTITION, _ROW)
        except ResourceNotFoundError:
            return None
        if not entity.get("stopped"):
            return None
        return TenantStop(
            code=str(entity.get("code", "")),
            message=str(entity.get("message", "")),
            since=utc(entity["since"]),
            last_probe_at=utc(entity["last_probe_at"]),
            etag=entity.metadata.get("etag"),
        )

    @storage_call("record that invitations stopped")
    async def record_stop(self, stop: TenantStop) -> TenantStop | None:
        entity = {
            "PartitionKey": HEALTH_PARTITION,
            "RowKey": _ROW,
            "stopped": True,
            "code": stop.code,
            "message": stop.message,
            "since": stop.since,
            "last_probe_at": stop.last_probe_at,
        }
        etag = stop.etag
        try:
            if etag is None:
                # Only if no stop is recorded now: the row is absent, or says "not stopped".
                try:
                    current = await self._table.get_entity(HEALTH_PARTITION, _ROW)
                except ResourceNotFoundError:
                    written = await self._table.create_entity(entity)
                    return dataclasses.replace(stop, etag=written.get("etag"))
                if current.get("stopped"):
                    return None
                etag = current.metadata.get("etag")
            written = await self._table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
            return None
        return dataclasses.replace(stop, etag=written.get("etag"))

    @storage_call("record that invitations resumed")
    async def clear_stop(self) -> None:
        entity = {"PartitionKey": HEALTH_PARTITION, "RowKey": _ROW, "stopped": False}
        await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    @storage_call("close the health record's connections")
    async def close(self) -> None:
        await self._table.close()
        if self._service is not None:
            await self._service.close()
