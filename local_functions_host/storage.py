"""Storage connection strings as the Functions host reads them: a trigger's ``connection``
resolved from the settings, and the ``UseDevelopmentStorage=true`` shortcut (Azurite's
well-known development account) expanded."""

from __future__ import annotations

from collections.abc import Mapping

from local_functions_host.settings import SettingsError

DEV_ACCOUNT_NAME = "devstoreaccount1"
# The well-known, public development-storage key (the same in every Azurite and SDK).
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
DEV_HOST = "127.0.0.1"
#: What ``UseDevelopmentStorage=true`` means: blob, queue and table on these ports.
DEV_BLOB_PORT, DEV_QUEUE_PORT, DEV_TABLE_PORT = 10000, 10001, 10002


def connection_string_for(
    blob_port: int, queue_port: int, table_port: int, *, host: str = DEV_HOST
) -> str:
    """Return a full connection string for the development account on the given ports.

    Every Storage SDK (queues, tables, blobs) accepts it, unlike ``UseDevelopmentStorage=true``,
    which only ever means the default ports.
    """
    base = f"http://{host}"
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={DEV_ACCOUNT_NAME};"
        f"AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{DEV_ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{DEV_ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{DEV_ACCOUNT_NAME};"
    )


def expand_development_storage(connection_string: str) -> str:
    """Return ``connection_string`` with the ``UseDevelopmentStorage=true`` shortcut expanded.

    The shortcut becomes the full development-account string on the default ports (or on the
    host named by ``DevelopmentStorageProxyUri``); any other connection string is returned
    unchanged. azure-storage-queue and azure-data-tables 12.7 understand the shortcut
    themselves, but other tools and older SDKs do not, and logs are clearer with endpoints.
    """
    parts = _parse_connection_string(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() != "true":
        return connection_string
    host = DEV_HOST
    proxy = parts.get("developmentstorageproxyuri")
    if proxy:
        host = proxy.split("://", 1)[-1].rstrip("/").split(":", 1)[0]
    return connection_string_for(DEV_BLOB_PORT, DEV_QUEUE_PORT, DEV_TABLE_PORT, host=host)


def _parse_connection_string(connection_string: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for segment in connection_string.split(";"):
        if "=" in segment:
            key, value = segment.split("=", 1)
            parts[key.strip().lower()] = value.strip()
    return parts


def storage_connection_string(connection: str, settings: Mapping[str, str]) -> str:
    """Return the connection string a trigger's ``connection`` names.

    The host looks for the setting itself, then ``AzureWebJobs<name>``; ``UseDevelopmentStorage
    =true`` is expanded. Identity-based connections (``<name>__queueServiceUri``) need Azure
    credentials and are refused here with a clear SettingsError, as is a missing setting.
    """
    name = connection or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        value = settings.get(candidate, "").strip()
        if value:
            return expand_development_storage(value)
    if any(key.startswith(f"{name}__") for key in settings):
        raise SettingsError(
            f"connection {name!r} is identity-based ({name}__*); the local host needs a "
            "connection string (for Azurite: UseDevelopmentStorage=true)"
        )
    raise SettingsError(f"the connection setting {name!r} is not set")
