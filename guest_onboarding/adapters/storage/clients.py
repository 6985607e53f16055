"""Service clients for the configured account: a connection string, or the service URIs and the
managed identity (identity-based ``AzureWebJobsStorage__*``)."""

from __future__ import annotations

import functools
from typing import TypeVar

from azure.core.credentials_async import AsyncTokenCredential
from azure.data.tables.aio import TableServiceClient
from azure.storage.queue.aio import QueueServiceClient

from guest_onboarding.config import StorageSettings

ServiceClient = TypeVar("ServiceClient", TableServiceClient, QueueServiceClient)


@functools.cache
def _identity_credential(client_id: str | None) -> AsyncTokenCredential:
    """One credential per identity for the process: the ledger and the outbox share its tokens."""
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id)


def service_client(
    client_type: type[ServiceClient], storage: StorageSettings, service_uri: str | None, kind: str
) -> ServiceClient:
    """A Tables or Queues service client for ``storage``."""
    if storage.connection_string:
        return client_type.from_connection_string(storage.connection_string)
    if service_uri:
        return client_type(service_uri, credential=_identity_credential(storage.client_id))
    raise ValueError(f"AzureWebJobsStorage (or __{kind}ServiceUri) is not set")
