"""Service clients for the configured account: a connection string, or the service URIs and the
managed identity (identity-based ``AzureWebJobsStorage__*``)."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

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
    client_type: type[ServiceClient],
    storage: StorageSettings,
    service_uri: str | None,
    kind: str,
    **options: Any,
) -> ServiceClient:
    """A Tables or Queues service client for ``storage``; ``options`` go to the SDK client
    (timeouts, retries)."""
    if storage.connection_string:
        return client_type.from_connection_string(storage.connection_string, **options)
    if service_uri:
        credential = _identity_credential(storage.client_id)
        return client_type(service_uri, credential=credential, **options)
    raise ValueError(f"AzureWebJobsStorage (or __{kind}ServiceUri) is not set")
