"""Where the console's settings come from: the environment, a ``local.settings.json``-style file
(``--settings``), and ``--account-url``. ``Settings.from_env`` reads the result, exactly as the
function app reads its own, so submissions are validated with the app's allow-lists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from guest_console.errors import ConsoleError
from guest_onboarding.config import STORAGE_SETTING, Settings

#: Azurite on its usual ports: the console's storage when nothing else is configured.
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
_IDENTITY_PREFIX = STORAGE_SETTING + "__"
_SERVICES = frozenset({"blob", "queue", "table", "dfs", "file", "web"})


def read_settings_file(path: Path) -> dict[str, str]:
    """The ``Values`` of a ``local.settings.json``-style file (or a flat JSON object)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConsoleError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConsoleError(f"the settings file {path} is not JSON: {exc}") from None
    values = data.get("Values", data) if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ConsoleError(f"the settings file {path} must hold an object of settings")
    return {
        str(name): value if isinstance(value, str) else json.dumps(value)
        for name, value in values.items()
        if value is not None
    }


def service_uris(account_url: str) -> tuple[str, str]:
    """The queue and table endpoints of a storage account, from any of its endpoint URLs
    (``https://<account>.blob.core.windows.net``) or its bare name."""
    text = account_url.strip().rstrip("/")
    if "://" not in text and "." not in text and text:
        text = f"https://{text}.blob.core.windows.net"
    parts = urlsplit(text)
    labels = (parts.hostname or "").split(".")
    if parts.scheme != "https":
        raise ConsoleError(
            f"--account-url must be https (tokens are never sent in clear), got {account_url!r}"
        )
    if len(labels) < 3 or labels[1] not in _SERVICES or parts.path not in {"", "/"}:
        raise ConsoleError(
            "--account-url must name a storage account endpoint such as "
            f"https://<account>.queue.core.windows.net, got {account_url!r}"
        )
    port = f":{parts.port}" if parts.port else ""
    suffix = ".".join(labels[2:]) + port

    def endpoint(service: str) -> str:
        return f"https://{labels[0]}.{service}.{suffix}"

    return endpoint("queue"), endpoint("table")


def settings_values(
    environ: Mapping[str, str],
    *,
    settings_file: Path | None = None,
    account_url: str | None = None,
) -> dict[str, str]:
    """The settings the console runs with: the environment, overridden by ``settings_file``;
    ``account_url`` replaces any storage setting by the account's endpoints and
    ``DefaultAzureCredential``; with no storage setting at all, Azurite."""
    values = dict(environ)
    if settings_file is not None:
        values.update(read_settings_file(settings_file))
    if account_url is not None:
        queue_uri, table_uri = service_uris(account_url)
        for name in [n for n in values if n == STORAGE_SETTING or n.startswith(_IDENTITY_PREFIX)]:
            if name != _IDENTITY_PREFIX + "clientId":
                del values[name]
        values[_IDENTITY_PREFIX + "queueServiceUri"] = queue_uri
        values[_IDENTITY_PREFIX + "tableServiceUri"] = table_uri
    elif not any(
        value.strip()
        for name, value in values.items()
        if name == STORAGE_SETTING or name.startswith(_IDENTITY_PREFIX)
    ):
        values[STORAGE_SETTING] = DEVELOPMENT_STORAGE
    return values


def load_settings(
    environ: Mapping[str, str],
    *,
    settings_file: Path | None = None,
    account_url: str | None = None,
) -> Settings:
    """``Settings`` as the function app would read them from these sources (``SettingsError``
    names a malformed setting)."""
    values = settings_values(environ, settings_file=settings_file, account_url=account_url)
    return Settings.from_env(values)


def describe_storage(settings: Settings) -> str:
    """Where the console is talking to, for its first line (no secrets)."""
    storage = settings.storage
    if storage.connection_string:
        if DEVELOPMENT_STORAGE.lower() in storage.connection_string.lower().replace(" ", ""):
            return "Azurite (UseDevelopmentStorage=true)"
        parts = dict(
            p.split("=", 1) for p in storage.connection_string.split(";") if "=" in p.strip()
        )
        endpoint = parts.get("QueueEndpoint") or parts.get("AccountName") or "a storage account"
        return f"{endpoint} (connection string)"
    return f"{storage.queue_service_uri} (DefaultAzureCredential)"
