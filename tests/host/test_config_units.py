"""Units of the local host that need no Azurite: host.json, settings, schedules, back-off."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local_functions_host.host_config import HostConfigError, load_host_config, parse_timespan
from local_functions_host.queue_listener import PollingBackoff, decode_body
from local_functions_host.settings import (
    SettingsError,
    load_local_settings,
    merge_settings,
    resolve_binding_expression,
)
from local_functions_host.storage import (
    DEV_ACCOUNT_KEY,
    connection_string_for,
    expand_development_storage,
    storage_connection_string,
)
from local_functions_host.timer_trigger import TimerSchedule


def write_host_json(tmp_path: Path, queues: dict[str, object] | None = None) -> Path:
    document: dict[str, object] = {"version": "2.0"}
    if queues is not None:
        document["extensions"] = {"queues": queues}
    path = tmp_path / "host.json"
    path.write_text(json.dumps(document))
    return path


def test_timespans_parse_as_dotnet_does() -> None:
    assert parse_timespan("00:00:02") == timedelta(seconds=2)
    assert parse_timespan("00:01:00.250") == timedelta(minutes=1, milliseconds=250)
    assert parse_timespan("1.02:00:00") == timedelta(days=1, hours=2)
    with pytest.raises(HostConfigError):
        parse_timespan("2000")


def test_silent_host_json_gets_the_real_hosts_queue_defaults(tmp_path: Path) -> None:
    config = load_host_config(write_host_json(tmp_path), processor_count=2)
    queues = config.queues
    assert (queues.batch_size, queues.new_batch_threshold) == (16, 16)  # batchSize/2 x CPUs
    assert queues.max_polling_interval == timedelta(minutes=1)
    assert queues.visibility_timeout == timedelta(0)
    assert queues.max_dequeue_count == 5
    assert queues.message_encoding == "base64"
    assert config.function_timeout == timedelta(minutes=30)


def test_repo_host_json_is_read_with_its_values() -> None:
    config = load_host_config(Path(__file__).parents[2] / "host.json")
    assert config.queues.batch_size == 16
    assert config.queues.new_batch_threshold == 8
    assert config.queues.max_polling_interval == timedelta(seconds=2)
    assert config.queues.visibility_timeout == timedelta(seconds=5)
    assert config.queues.message_encoding == "none"
    assert config.function_timeout == timedelta(minutes=10)


@pytest.mark.parametrize(
    "queues",
    [
        {"batchSize": 33},
        {"batchSize": 0},
        {"messageEncoding": "utf8"},
        {"maxPollingInterval": 2000},
        {"maxPollingInterval": "00:00:00.050"},
        {"visibilityTimout": "00:00:01"},
    ],
)
def test_host_json_outside_the_schema_is_refused(tmp_path: Path, queues: dict[str, object]) -> None:
    with pytest.raises(HostConfigError):
        load_host_config(write_host_json(tmp_path, queues))


def test_host_json_must_be_version_two(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text('{"version": "1.0"}')
    with pytest.raises(HostConfigError):
        load_host_config(path)


def test_local_settings_values_yield_to_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file", "N": 3}})
    )
    values = load_local_settings(path)
    assert values == {"A": "file", "B": "file", "N": "3"}
    assert merge_settings(values, {"B": "env"}) == {"A": "file", "B": "env", "N": "3"}
    assert load_local_settings(tmp_path / "absent.json") == {}


def test_encrypted_local_settings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(SettingsError):
        load_local_settings(path)


def test_binding_expressions_resolve_from_settings() -> None:
    settings = {"QUEUE": "guest-invitations", "ENV": "dev"}
    assert resolve_binding_expression("%QUEUE%", settings) == "guest-invitations"
    assert resolve_binding_expression("%ENV%-%QUEUE%", settings) == "dev-guest-invitations"
    assert resolve_binding_expression("literal", settings) == "literal"
    with pytest.raises(SettingsError, match="MISSING"):
        resolve_binding_expression("%MISSING%", settings)


def test_development_storage_shortcut_expands_to_the_dev_ports() -> None:
    expanded = expand_development_storage("UseDevelopmentStorage=true")
    assert expanded == connection_string_for(10000, 10001, 10002)
    assert f"AccountKey={DEV_ACCOUNT_KEY};" in expanded
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" in expanded
    other = "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=eA==;"
    assert expand_development_storage(other) == other


def test_trigger_connection_resolves_like_the_host() -> None:
    assert storage_connection_string("AzureWebJobsStorage", {"AzureWebJobsStorage": "X=1"}) == "X=1"
    # A connection named "Jobs" falls back to the AzureWebJobsJobs setting.
    assert storage_connection_string("Jobs", {"AzureWebJobsJobs": "Y=2"}) == "Y=2"
    with pytest.raises(SettingsError, match="identity-based"):
        storage_connection_string(
            "AzureWebJobsStorage", {"AzureWebJobsStorage__queueServiceUri": "https://q"}
        )
    with pytest.raises(SettingsError, match="not set"):
        storage_connection_string("AzureWebJobsStorage", {})


def test_six_field_ncrontab_has_seconds_first() -> None:
    start = datetime(2024, 1, 1, 7, 59, 58, tzinfo=UTC)
    daily = TimerSchedule("0 0 8 * * *")
    assert daily.next_after(start) == datetime(2024, 1, 1, 8, 0, 0, tzinfo=UTC)
    every_second = TimerSchedule("* * * * * *")
    assert every_second.next_after(start) == start + timedelta(seconds=1)
    assert TimerSchedule("00:00:30").next_after(start) == start + timedelta(seconds=30)
    for invalid in ("0 0 8 * *x *", "0 0 8", "99 * * * * *"):
        with pytest.raises(ValueError):
            TimerSchedule(invalid)


def test_empty_polls_back_off_exponentially_up_to_the_maximum() -> None:
    backoff = PollingBackoff(timedelta(milliseconds=100), timedelta(seconds=2))
    delays = [backoff.next_delay(found_messages=False) for _ in range(12)]
    assert delays == sorted(delays)
    assert delays[0] > 0.1
    assert delays[-1] == 2.0
    assert backoff.next_delay(found_messages=True) == 0.1


def test_message_bodies_decode_per_encoding() -> None:
    assert decode_body("AP8=", "base64") == b"\x00\xff"
    assert decode_body("AP8=", "none") == b"AP8="
    with pytest.raises(ValueError):
        decode_body("{not base64}", "base64")
