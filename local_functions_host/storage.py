"""Resolve a trigger's ``connection`` to a Storage connection string, as the host does."""

from __future__ import annotations

from collections.abc import Mapping

from devstack.azurite import expand_development_storage
from local_functions_host.settings import SettingsError


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
