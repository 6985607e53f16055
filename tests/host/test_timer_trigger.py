"""The timer trigger, with the host running in this process (the monitor uses Azurite tables)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from local_functions_host.timer_trigger import ScheduleMonitor, ScheduleStatus
from tests.fixtures.azurite import AzuriteEndpoint
from tests.host.conftest import StartHost
from tests.host.support import APPS, eventually_async, read_records, wait_for_records

pytestmark = pytest.mark.integration

YEARLY = "0 0 0 1 1 *"


def timers_environ(azurite: AzuriteEndpoint, record_file: Path, **extra: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        # A fresh host id per test, so schedule status from other runs is never shared.
        "AzureFunctionsWebHost__hostid": f"t{uuid.uuid4().hex[:12]}",
        "TICK_SCHEDULE": YEARLY,
        "NIGHTLY_SCHEDULE": YEARLY,
        **extra,
    }


async def test_every_second_schedule_fires_and_a_late_occurrence_is_past_due(
    azurite: AzuriteEndpoint, record_file: Path, start_host: StartHost
) -> None:
    environ = timers_environ(azurite, record_file, TICK_SCHEDULE="* * * * * *", TICK_SLOW_FIRST="1")
    await start_host(APPS / "timers", environ)
    ticks = await wait_for_records(record_file, 2, "tick")
    # The first occurrence fires on time; it runs 2.5 s, so the next one starts late.
    assert ticks[0]["past_due"] is False
    assert ticks[1]["past_due"] is True
    assert set(ticks[0]["status"]) == {"Last", "Next", "LastUpdated"}


async def test_run_on_startup_fires_once_and_the_monitor_records_the_next_occurrence(
    azurite: AzuriteEndpoint, record_file: Path, start_host: StartHost
) -> None:
    environ = timers_environ(azurite, record_file)
    await start_host(APPS / "timers", environ)
    started = await wait_for_records(record_file, 1, "at_startup")
    assert [r["past_due"] for r in started] == [False]

    monitor = ScheduleMonitor(azurite.connection_string, environ["AzureFunctionsWebHost__hostid"])
    try:
        status = await eventually_async(lambda: monitor.read("nightly"), what="the status")
    finally:
        await monitor.close()
    assert status.next == datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)
    assert read_records(record_file, "nightly") == []


async def test_occurrence_missed_while_the_host_was_down_fires_past_due_at_start(
    azurite: AzuriteEndpoint, record_file: Path, start_host: StartHost
) -> None:
    environ = timers_environ(azurite, record_file)
    now = datetime.now(UTC)
    monitor = ScheduleMonitor(azurite.connection_string, environ["AzureFunctionsWebHost__hostid"])
    try:
        await monitor.write(
            "nightly",
            ScheduleStatus(
                last=now - timedelta(days=1, hours=1),
                next=now - timedelta(hours=1),
                last_updated=now - timedelta(days=1),
            ),
        )
    finally:
        await monitor.close()

    await start_host(APPS / "timers", environ)
    fired = await wait_for_records(record_file, 1, "nightly")
    assert [r["past_due"] for r in fired] == [True]


async def test_admin_endpoint_runs_a_timer_now_not_past_due(
    azurite: AzuriteEndpoint, record_file: Path, start_host: StartHost
) -> None:
    host = await start_host(APPS / "timers", timers_environ(azurite, record_file), admin_port=0)
    assert host.admin_url is not None
    async with httpx.AsyncClient(base_url=host.admin_url) as client:
        status = await client.get("/admin/host/status")
        response = await client.post("/admin/functions/nightly", json={"input": ""})
        missing = await client.post("/admin/functions/nope", json={"input": ""})

    assert status.json()["state"] == "Running"
    assert response.status_code == 202
    # 202 comes back after the function ran.
    assert [r["past_due"] for r in read_records(record_file, "nightly")] == [False]
    assert missing.status_code == 404
