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

#: Seconds. Storage finishes or abandons a Table or Queue operation within 30 s, its maximum
#: server timeout ("Setting timeouts for Table service operations" and "... for Queue service
#: operations", Storage REST API docs); a read waiting longer waits on a connection nobody will
#: answer. The SDKs' own defaults are 300 s (azure-core, Tables) and 60 s (Queues), which would
#: hold a function for minutes before the error reaches the retry policy.
CONNECTION_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 35


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
    (timeouts, retries) over the timeouts above."""
    options = {
        "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        **options,
    }
    if storage.connection_string:
        return client_type.from_connection_string(storage.connection_string, **options)
    if service_uri:
        credential = _identity_credential(storage.client_id)
        return client_type(service_uri, credential=credential, **options)
    raise ValueError(f"AzureWebJobsStorage (or __{kind}ServiceUri) is not set")
