"""The host as a subprocess (``python -m local_functions_host``): settings, admin, crashes."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from local_functions_host import RunningHost, start_host_process
from tests.fixtures.azurite import AzuriteEndpoint
from tests.host.support import APPS, eventually, queue_client, read_records, wait_for_records

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def hosts() -> Iterator[list[RunningHost]]:
    """Host processes started by a test; any still running are killed afterwards."""
    started: list[RunningHost] = []
    yield started
    for host in started:
        host.kill()


async def test_local_settings_load_under_the_environment_and_resolve_queue_names(
    azurite: AzuriteEndpoint,
    record_file: Path,
    tmp_path: Path,
    unique_queue_name: Callable[[str], str],
    hosts: list[RunningHost],
) -> None:
    from_file, from_env, sync = (unique_queue_name(p) for p in ("file", "env", "sync"))
    settings = tmp_path / "local.settings.json"
    values = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": from_file,
        "SYNC_QUEUE": sync,
    }
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    # An exported variable wins over local.settings.json, as with Core Tools.
    host = start_host_process(
        APPS / "recorder", {"WORK_QUEUE": from_env}, tmp_path / "host.log", settings_path=settings
    )
    hosts.append(host)
    async with httpx.AsyncClient(base_url=host.admin_url) as client:
        listing = (await client.get("/admin/functions")).json()
    queues = {f["name"]: f["queue"] for f in listing}
    assert queues == {"on_message": from_env, "on_sync_message": sync}

    queue_client(azurite.connection_string, from_env).send_message("via env")
    queue_client(azurite.connection_string, sync).send_message("via file")
    seen = await wait_for_records(record_file, 2)
    assert {r["function"] for r in seen} == {"on_message", "on_sync_message"}


async def test_admin_invocation_of_a_queue_function_reports_success_and_failure(
    azurite: AzuriteEndpoint,
    record_file: Path,
    tmp_path: Path,
    unique_queue_name: Callable[[str], str],
    hosts: list[RunningHost],
) -> None:
    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": unique_queue_name("work"),
        "SYNC_QUEUE": unique_queue_name("sync"),
    }
    host = start_host_process(APPS / "recorder", environ, tmp_path / "host.log")
    hosts.append(host)
    async with httpx.AsyncClient(base_url=host.admin_url) as client:
        ok = await client.post("/admin/functions/on_message", json={"input": "hello"})
        failed = await client.post("/admin/functions/on_message", json={"input": "fail x"})

    assert ok.status_code == 202
    assert failed.status_code == 500
    assert "RuntimeError: refusing b'fail x'" in failed.json()["error"]
    assert [r["state"] for r in read_records(record_file)] == ["done", "failing"]
    assert host.is_running()


async def test_host_killed_mid_invocation_processes_the_message_after_restart(
    azurite: AzuriteEndpoint,
    record_file: Path,
    tmp_path: Path,
    unique_queue_name: Callable[[str], str],
    hosts: list[RunningHost],
) -> None:
    work = unique_queue_name("work")
    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": work,
        "SYNC_QUEUE": unique_queue_name("sync"),
    }
    queue_client(azurite.connection_string, work).send_message("hang-once")
    # A 2 s lease: the abandoned message reappears 2 s after the crash, not 10 minutes.
    first = start_host_process(APPS / "recorder", environ, tmp_path / "first.log", message_lease=2)
    hosts.append(first)
    await wait_for_records(record_file, 1)
    first.kill()
    assert first.process.returncode == -signal.SIGKILL

    second = start_host_process(
        APPS / "recorder", environ, tmp_path / "second.log", message_lease=2
    )
    hosts.append(second)
    done = await eventually(
        lambda: [r for r in read_records(record_file) if r["state"] == "done"],
        what="the message processed after the restart",
    )
    hanging = read_records(record_file)[0]
    assert hanging["state"] == "hanging"
    assert done[0]["id"] == hanging["id"]
    assert done[0]["dequeue_count"] == 2


async def test_sigterm_stops_cleanly_and_each_invocation_logs_one_result_line(
    azurite: AzuriteEndpoint,
    record_file: Path,
    tmp_path: Path,
    unique_queue_name: Callable[[str], str],
    hosts: list[RunningHost],
) -> None:
    work = unique_queue_name("work")
    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": work,
        "SYNC_QUEUE": unique_queue_name("sync"),
    }
    host = start_host_process(APPS / "recorder", environ, tmp_path / "host.log")
    hosts.append(host)
    queue_client(azurite.connection_string, work).send_message("logged")
    record = (await wait_for_records(record_file, 1))[0]

    assert host.stop() == 0
    log = host.log_text()
    result_lines = [line for line in log.splitlines() if "Executed 'Functions.on_message'" in line]
    assert len(result_lines) == 1
    assert f"MessageId={record['id']}" in result_lines[0]
    assert "Succeeded" in result_lines[0]
    assert "Host stopped" in log
