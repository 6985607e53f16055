"""The console's ``submit`` throughput: a portal bulk-invite CSV of 10,000 rows sent to the
invitations queue by the installed ``guest-onboarding``, in its own process, as an operator runs
it (start-up, reading, validation with the app's rules and the concurrent sends all counted):

- on Azurite as it is (no network between the two: CPU is the limit);
- through a proxy adding a storage account's round trip (``ROUND_TRIP_SECONDS``), where each
  request waits on the network: concurrently, and one at a time on a slice for comparison."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REDIRECT, Stopwatch, guest_address
from bench.latency import LatencyProxy
from devstack.seeds import ACCESS_PROFILE, GROUP_PARTNERS
from devstack.stack import LocalStack
from guest_console.submit import prepare
from guest_onboarding.config import Settings

DEFAULT_ROWS = 10_000
SEQUENTIAL_ROWS = 500
#: An operator's laptop to a storage account in a nearby region (tens of milliseconds).
ROUND_TRIP_SECONDS = 0.030
#: "Seconds, not minutes" (issue 16).
TARGET_SECONDS = 60
HEADER = [
    "Email address to invite [inviteeEmail] Required",
    "Redirection url [inviteRedirectURL] Required",
    "Send invitation message (true or false) [sendEmail]",
    "Customized invitation message [customizedMessageBody]",
    "Display name [displayName]",
    "Groups [groups]",
    "Access profiles [accessProfiles]",
    "External id [externalId]",
]


def write_portal_csv(path: Path, rows: int, run: str) -> None:
    """The portal's template with ``rows`` guests, as a spreadsheet saves it (BOM, CRLF, a
    quoted message with a comma and a line break)."""
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(["version:v1.0"] + [""] * (len(HEADER) - 1))
        writer.writerow(HEADER)
        for index in range(rows):
            email = guest_address(run, index)
            writer.writerow(
                [
                    email,
                    REDIRECT,
                    "true",
                    f"Welcome, {email.split('@')[0]}!\nYour access is ready.",
                    f"Guest {index}",
                    GROUP_PARTNERS,
                    ACCESS_PROFILE,
                    f"HR-{index:06d}",
                ]
            )


def _console() -> list[str]:
    script = Path(sys.executable).with_name("guest-onboarding")
    return [str(script)] if script.exists() else [sys.executable, "-m", "guest_console"]


def _submit(settings_path: Path, csv_path: Path, *extra: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [*_console(), "--settings", str(settings_path), "submit", str(csv_path), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"submit exited {result.returncode}: {result.stderr[-2000:]}")
    return seconds


def _settings_file(stack: LocalStack, path: Path, queue_port: int | None = None) -> Path:
    """The stack's settings, with queue traffic sent to ``queue_port`` (the proxy) if given."""
    values = dict(stack.settings)
    if queue_port is not None:
        values["AzureWebJobsStorage"] = values["AzureWebJobsStorage"].replace(
            f":{stack.azurite.ports.queue}/", f":{queue_port}/"
        )
    path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    return path


def _run(
    stack: LocalStack, settings_path: Path, csv_path: Path, rows: int, *extra: str
) -> dict[str, Any]:
    queue = stack.queue(stack.invitations_queue)
    queue.clear_messages()
    seconds = _submit(settings_path, csv_path, *extra)
    queued = queue.get_queue_properties().approximate_message_count or 0
    queue.clear_messages()
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds, "queued": queued}


def measure(stack: LocalStack, *, rows: int, workdir: Path) -> dict[str, Any]:
    """Submit ``rows`` rows on Azurite, then through the round-trip proxy concurrently and
    (``SEQUENTIAL_ROWS`` of them) one at a time; every run checks its rows reached the queue."""
    workdir.mkdir(parents=True, exist_ok=True)
    big = workdir / "bulk-invite.csv"
    write_portal_csv(big, rows, "bench")
    small = workdir / "bulk-invite-small.csv"
    write_portal_csv(small, SEQUENTIAL_ROWS, "seq")
    judged = Stopwatch()
    plan = prepare([big], Settings.from_env(stack.settings).policy)
    judge_seconds = judged.wall
    if plan.rejected or len(plan.accepted) != rows:
        raise RuntimeError(f"{len(plan.rejected)} benchmark rows rejected: {plan.rejected[:3]}")

    local = _run(stack, _settings_file(stack, workdir / "local.json"), big, rows)
    with LatencyProxy(stack.azurite.ports.queue, round_trip_seconds=ROUND_TRIP_SECONDS) as proxy:
        remote_settings = _settings_file(stack, workdir / "remote.json", proxy.port)
        remote = _run(stack, remote_settings, big, rows)
        one_at_a_time = _run(stack, remote_settings, small, SEQUENTIAL_ROWS, "--concurrency", "1")
    return {
        "rows": rows,
        "file_bytes": big.stat().st_size,
        "read_and_judge_seconds_in_process": judge_seconds,
        "round_trip_ms": ROUND_TRIP_SECONDS * 1000,
        "local": local,
        "remote": remote,
        "remote_one_at_a_time": one_at_a_time,
        "target_seconds": TARGET_SECONDS,
    }
