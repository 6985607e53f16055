"""Reminder-sweep scale: the real ``run_reminder_sweep`` (real adapters) over 1k to 50k pending
guests generated in the emulator, one fresh interpreter per size so peak RSS is its own.

The generated guests are *untracked* (not in the ledger) and ``RESEND_UNTRACKED`` keeps its
default (false): the sweep lists every pending guest and decides each one, but writes nothing.
That isolates what issue 5 is about: listing cost and whether memory grows with the tenant.

    python -m bench.sweep --child ...   (used by the suite; prints one JSON object)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_ROOT,
    environment,
    graph_calls,
    list_calls_minimum,
)
from devstack.seeds import sample_tenant
from devstack.stack import LocalStack

#: Issue 5: peak RSS of a 20k sweep may exceed a 1k sweep's by less than this.
RSS_BUDGET_MB = 50.0


def _peak_rss_mb() -> float:
    """This process's own peak resident set, in MB: the kernel's high-water mark of its memory
    (``VmHWM``), which starts afresh at exec. (``getrusage``'s ``ru_maxrss`` is kept across
    exec on Linux, so a child spawned by a big parent would report the parent's size.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _sweep(settings_env: dict[str, str]) -> dict[str, Any]:
    from guest_onboarding.bootstrap import build_runtime
    from guest_onboarding.config import Settings
    from guest_onboarding.entrypoints import run_reminder_sweep

    with environment(settings_env):
        rt = build_runtime(Settings.from_env(settings_env))
        before_rss = _peak_rss_mb()
        wall = time.perf_counter()
        cpu = time.process_time()
        summary = await run_reminder_sweep(rt=rt)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        await rt.aclose()
    return {
        "summary": summary.as_dict(),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb_before_sweep": before_rss,
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_main(settings_path: Path) -> int:
    """Run one sweep with the settings in ``settings_path``; print the figures as JSON."""
    settings_env: dict[str, str] = json.loads(settings_path.read_text(encoding="utf-8"))
    print(json.dumps(asyncio.run(_sweep(settings_env))))
    return 0


def _generated_seed(n: int) -> dict[str, Any]:
    seed = sample_tenant()
    seed["generatedPendingGuests"] = {
        "count": n,
        "domain": "bulk.example",
        "createdDaysAgo": 5,
        "prefix": "pending",
    }
    return seed


def _sweep_in_child(stack: LocalStack, settings_path: Path, n: int, label: str) -> dict[str, Any]:
    """One sweep in a fresh interpreter against the emulator as seeded now; its figures plus
    the emulator's call counts."""
    process = subprocess.run(
        [sys.executable, "-m", "bench.sweep", "--child", str(settings_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if process.returncode != 0:
        raise RuntimeError(f"{label} of {n} failed:\n{process.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    calls = graph_calls(stack.emulator.control.counters())
    figures |= {
        "pending_guests": n,
        "list_calls": calls.get("GET /users", 0),
        "list_calls_minimum": list_calls_minimum(n),
        "other_graph_calls": sum(v for k, v in calls.items() if k != "GET /users"),
    }
    print(
        f"  {label} {n:>6}: {figures['wall_seconds']:6.2f} s, "
        f"peak RSS {figures['peak_rss_mb']:6.1f} MB, {figures['list_calls']} list calls, "
        f"{figures['summary']['scheduled']} scheduled",
        file=sys.stderr,
    )
    return figures


def run_sizes(stack: LocalStack, sizes: list[int], *, workdir: Path) -> list[dict[str, Any]]:
    """One sweep per size, each in a fresh interpreter, against ``stack``'s Azurite and emulator
    (the host need not run)."""
    settings_path = workdir / "sweep-settings.json"
    settings_path.write_text(json.dumps(stack.settings), encoding="utf-8")
    results = []
    for n in sizes:
        stack.emulator.control.reset(_generated_seed(n))
        results.append(_sweep_in_child(stack, settings_path, n, "sweep"))
    return results


def _seed_ledger(connection_string: str, table_name: str, users: list[dict[str, Any]]) -> None:
    """One ledger row per pending guest, as if this system had invited them five days ago and
    sent the day-3 reminder: tracked, none due (the next reminder is on day 7)."""
    from datetime import UTC, datetime, timedelta

    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(connection_string)
    table = service.create_table_if_not_exists(table_name)
    sent = datetime.now(UTC) - timedelta(days=5)
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for user in users:
        email = user["mail"].lower()
        by_partition.setdefault(email.rsplit("@", 1)[1], []).append(
            {
                "PartitionKey": email.rsplit("@", 1)[1],
                "RowKey": email,
                "status": "invited",
                "user_id": user["id"],
                "first_sent_at": sent,
                "last_sent_at": sent,
                "send_count": 2,
                "reminders_scheduled": 1,
                "reminders_sent": 1,
                "redirect_url": "https://myapps.microsoft.com",
            }
        )
    for rows in by_partition.values():
        for start in range(0, len(rows), 100):  # a table transaction holds at most 100
            table.submit_transaction([("upsert", row) for row in rows[start : start + 100]])
    service.close()


def run_tracked(stack: LocalStack, sizes: list[int], *, workdir: Path) -> list[dict[str, Any]]:
    """Like :func:`run_sizes`, but every pending guest also has a ledger row, so the sweep holds
    its in-memory index of tracked rows (the part of its memory that grows with the ledger)."""
    results = []
    for n in sizes:
        settings = {**stack.settings, "GUEST_LEDGER_TABLE": f"trackedsweep{n}"}
        settings_path = workdir / f"tracked-sweep-{n}.json"
        settings_path.write_text(json.dumps(settings), encoding="utf-8")
        seed = _generated_seed(n)
        stack.emulator.control.reset(seed)
        pending = [
            u
            for u in stack.emulator.control.state()["users"]
            if u.get("externalUserState") == "PendingAcceptance"
        ]
        _seed_ledger(stack.azurite.connection_string, settings["GUEST_LEDGER_TABLE"], pending)
        stack.emulator.control.reset(seed)  # counters from zero
        figures = _sweep_in_child(stack, settings_path, n, "tracked sweep")
        results.append(figures | {"tracked_rows": len(pending)})
    return results


def rss_difference(
    results: list[dict[str, Any]], big: int = 20_000, small: int = 1_000
) -> float | None:
    """Peak RSS of the ``big`` sweep minus the ``small`` one, in MB (None if either is missing)."""
    by_size = {r["pending_guests"]: r["peak_rss_mb"] for r in results}
    if big not in by_size or small not in by_size:
        return None
    return float(by_size[big] - by_size[small])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one reminder sweep (child process of the suite)")
    parser.add_argument("--child", type=Path, required=True, help="settings JSON file")
    args = parser.parse_args(argv)
    return child_main(args.child)


if __name__ == "__main__":
    raise SystemExit(main())
