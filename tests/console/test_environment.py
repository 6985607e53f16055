"""The console reads its settings as the function app does: the environment, a
local.settings.json-style file, or an account URL signed in with DefaultAzureCredential."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guest_console.environment import load_settings, service_uris, settings_values
from guest_console.errors import ConsoleError
from guest_onboarding.config import SettingsError


def settings_file(tmp_path: Path, values: dict[str, object]) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}), encoding="utf-8")
    return path


def test_with_nothing_configured_the_console_talks_to_azurite() -> None:
    settings = load_settings({})
    assert settings.storage.connection_string == "UseDevelopmentStorage=true"


def test_the_settings_file_overrides_the_environment(tmp_path: Path) -> None:
    path = settings_file(tmp_path, {"INVITATIONS_QUEUE": "from-file", "REMINDER_DAYS": 5})
    settings = load_settings(
        {"INVITATIONS_QUEUE": "from-env", "ASSIGNMENTS_QUEUE": "env-only"}, settings_file=path
    )
    assert settings.invitations_queue == "from-file"
    assert settings.assignments_queue == "env-only"
    assert settings.reminder_days == (5,)


def test_an_account_url_replaces_the_connection_string_by_identity_endpoints() -> None:
    values = settings_values(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AzureWebJobsStorage__clientId": "client",
        },
        account_url="https://contosoguests.blob.core.windows.net/",
    )
    settings = load_settings(values)
    assert settings.storage.connection_string is None
    assert settings.storage.queue_service_uri == "https://contosoguests.queue.core.windows.net"
    assert settings.storage.table_service_uri == "https://contosoguests.table.core.windows.net"
    assert settings.storage.client_id == "client"


@pytest.mark.parametrize(
    ("url", "queue"),
    [
        ("contosoguests", "https://contosoguests.queue.core.windows.net"),
        (
            "https://contosoguests.table.core.chinacloudapi.cn",
            "https://contosoguests.queue.core.chinacloudapi.cn",
        ),
    ],
)
def test_account_url_forms(url: str, queue: str) -> None:
    assert service_uris(url)[0] == queue


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:10001/devstoreaccount1",
        "https://example.com",
        "https://a.queue.core.windows.net/x",
    ],
)
def test_an_account_url_that_is_not_an_https_storage_endpoint_is_refused(url: str) -> None:
    with pytest.raises(ConsoleError, match="--account-url"):
        service_uris(url)


def test_a_malformed_setting_is_named(tmp_path: Path) -> None:
    path = settings_file(tmp_path, {"ACCESS_PROFILES": "{not json"})
    with pytest.raises(SettingsError, match="ACCESS_PROFILES"):
        load_settings({}, settings_file=path)


@pytest.mark.parametrize("content", ["{", "[1, 2]"])
def test_a_settings_file_that_is_not_a_settings_object_is_refused(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConsoleError, match="settings file"):
        load_settings({}, settings_file=path)
