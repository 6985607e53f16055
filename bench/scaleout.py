"""Scale-out: N local host processes on the same queues and the same emulator write bucket, as
instances of one app on Flex Consumption, with the shared Graph budget and without it.

Each run is a fresh stack (Azurite, the emulator with its latency and write bucket, N hosts).
The hosts start first; the clock starts when the HR messages go onto the invitations queue and
stops when both work queues are empty. "Shared" paces every host on the budget table
(``GRAPH_BUDGET_SHARED=true``); "naive" is the same N processes each pacing on its own
(``GRAPH_BUDGET_SHARED=false``), which is what each process does without a shared record.

Invitations are not what this run measures (they are writes like the others here, paced far
above the ceiling); the trickle run (:func:`run_trickle`) shows them paced on their own while
group and role writes keep the write ceiling.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    WRITES_PER_ONBOARDING,
    app_pacing,
    graph_calls,
    guest_address,
    hr_message,
)
from bench.throughput import Limits, enqueue, onboarded_in_ledger, wait_drained
from devstack.seeds import SAMPLE_TENANT_PATH
from devstack.stack import LocalStack, local_stack
from local_functions_host.process import RunningHost

#: Graph calls that add a guest to a group or an app role.
ASSIGNMENT_CALLS = (
    "POST /groups/{id}/members/$ref",
    "POST /servicePrincipals/{id}/appRoleAssignedTo",
)
INVITATION_CALL = "POST /invitations"


def budget_settings(limits: Limits, *, shared: bool) -> dict[str, str]:
    """The app settings of a run: the app's write pace is the emulator's ceiling."""
    return app_pacing(limits.writes_per_second) | {
        "GRAPH_BUDGET_SHARED": "true" if shared else "false"
    }


def _warm_up(stack: LocalStack) -> None:
    """Run the reminder sweep once on every host (through its admin API, so each host does it):
    each imports the SDK and builds its clients before the clock starts. On one 2-core machine
    N hosts doing that at once would stall each other for seconds, which instances on their own
    machines never do."""

    def sweep(host: RunningHost) -> None:
        response = httpx.post(
            f"{host.admin_url}/admin/functions/resend_timer_fn", json={}, timeout=120
        )
        response.raise_for_status()

    with ThreadPoolExecutor(max_workers=len(stack.hosts)) as pool:
        list(pool.map(sweep, stack.hosts))


class CounterSampler:
    """Samples the emulator's per-endpoint counters every ``interval`` seconds."""

    def __init__(self, stack: LocalStack, interval: float = 0.5) -> None:
        self._control = stack.emulator.control
        self._interval = interval
        self._stop = threading.Event()
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CounterSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), graph_calls(self._control.counters())))
            self._stop.wait(self._interval)

    def first_time(self, calls: tuple[str, ...], at_least: int) -> float | None:
        for at, counts in self.samples:
            if sum(counts.get(c, 0) for c in calls) >= at_least:
                return at
        return None


def _outcome(stack: LocalStack, n: int, seconds: float, limits: Limits) -> dict[str, Any]:
    counters = stack.emulator.control.counters()
    calls = graph_calls(counters)
    total = sum(calls.values())
    throttled = int(counters.get("throttled", 0))
    poisoned = len(stack.poison(stack.invitations_queue)) + len(
        stack.poison(stack.assignments_queue)
    )
    onboarded = onboarded_in_ledger(stack.ledger_entries())
    mailbox = Counter(m["to"] for m in stack.emulator.control.mailbox())
    per_minute = onboarded / seconds * 60 if seconds else 0.0
    ceiling_per_minute = limits.writes_per_second * 60 / WRITES_PER_ONBOARDING
    return {
        "messages": n,
        "onboarded": onboarded,
        "seconds": seconds,
        "onboarded_per_minute": per_minute,
        "ceiling_onboarded_per_minute": ceiling_per_minute,
        "of_ceiling": per_minute / ceiling_per_minute,
        "graph_calls": total,
        "graph_calls_by_endpoint": dict(sorted(calls.items())),
        "throttled_429": throttled,
        "share_429": throttled / total if total else 0.0,
        "poisoned": poisoned,
        "lost": max(0, n - onboarded - poisoned),
        "emails": sum(mailbox.values()),
        "emails_per_guest": sum(mailbox.values()) / n if n else 0.0,
        "guests_with_more_than_one_email": sum(1 for c in mailbox.values() if c > 1),
        "throttling": counters.get("throttling", {}),
    }


def run_scaleout(
    hosts: int, *, shared: bool, messages: int, limits: Limits, workdir: Path, timeout: float
) -> dict[str, Any]:
    """``messages`` HR messages (2 groups + 1 app role each) through ``hosts`` host processes."""
    settings = budget_settings(limits, shared=shared)
    bodies = [json.dumps(hr_message(guest_address(f"scale{hosts}", i))) for i in range(messages)]
    with local_stack(workdir=workdir, start_host=False, overrides=settings) as stack:
        limits.apply(stack.emulator.control)
        started = time.monotonic()
        stack.start_hosts(hosts)
        _warm_up(stack)
        host_start = time.monotonic() - started
        limits.apply(stack.emulator.control)  # counters and buckets from zero after the warm-up
        started = time.monotonic()
        enqueue(stack, bodies)
        drained_at = wait_drained(stack, timeout)
        seconds = (drained_at or time.monotonic()) - started
        stack.stop_hosts()
        result = _outcome(stack, messages, seconds, limits)
    return result | {
        "hosts": hosts,
        "shared": shared,
        "drained": drained_at is not None,
        "hosts_start_seconds": host_start,
        "limits": limits.__dict__,
    }


# -- invitations trickle while group and role writes keep the ceiling ------------------------


def _existing_guests(count: int) -> list[dict[str, Any]]:
    """Guests already in the tenant (they need no invitation, only their groups and role)."""
    return [
        {
            "id": f"00000000-0000-4000-8000-{i:012d}",
            "displayName": f"existing {i}",
            "mail": guest_address("existing", i),
            "userType": "Guest",
            "creationType": "Invitation",
            "externalUserState": "Accepted",
            "externalUserStateChangeDateTime": "2024-03-02T10:15:00Z",
            "createdDateTime": "2024-03-01T08:30:00Z",
        }
        for i in range(count)
    ]


def run_trickle(
    hosts: int,
    *,
    existing: int,
    new: int,
    invitations_per_minute: float,
    limits: Limits,
    workdir: Path,
    timeout: float,
) -> dict[str, Any]:
    """``existing`` guests already in the tenant plus ``new`` guests to invite, all at once,
    with invitations paced at ``invitations_per_minute``: group and role writes should keep
    the write ceiling while the invitations trickle at their own pace."""
    settings = budget_settings(limits, shared=True)
    settings["INVITATIONS_PER_MINUTE"] = f"{invitations_per_minute:g}"
    seed = json.loads(SAMPLE_TENANT_PATH.read_text(encoding="utf-8"))
    seed["users"] = seed["users"] + _existing_guests(existing)
    bodies = [json.dumps(hr_message(guest_address("existing", i))) for i in range(existing)]
    bodies += [json.dumps(hr_message(guest_address("new", i))) for i in range(new)]
    with local_stack(workdir=workdir, start_host=False, overrides=settings) as stack:
        limits.apply(stack.emulator.control, seed)
        stack.start_hosts(hosts)
        _warm_up(stack)
        limits.apply(stack.emulator.control, seed)
        started = time.monotonic()
        with CounterSampler(stack) as sampler:
            enqueue(stack, bodies)
            drained_at = wait_drained(stack, timeout)
        seconds = (drained_at or time.monotonic()) - started
        stack.stop_hosts()
        result = _outcome(stack, existing + new, seconds, limits)
        mails = sorted(
            datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp()
            for m in stack.emulator.control.mailbox()
        )
    # Group and role writes for the existing guests: how fast the first 90% of them went.
    target = int(existing * (WRITES_PER_ONBOARDING - 1) * 0.9)
    first = sampler.first_time(ASSIGNMENT_CALLS, 1)
    reached = sampler.first_time(ASSIGNMENT_CALLS, target)
    assignment_rate = target / (reached - first) if first and reached and reached > first else None
    invitation_rate = (len(mails) - 1) / (mails[-1] - mails[0]) * 60 if len(mails) > 1 else None
    return result | {
        "hosts": hosts,
        "existing": existing,
        "new": new,
        "drained": drained_at is not None,
        "assignment_writes_per_second": assignment_rate,
        "assignment_of_ceiling": (
            assignment_rate / limits.writes_per_second if assignment_rate else None
        ),
        "invitations_per_minute_configured": invitations_per_minute,
        "invitations_per_minute_observed": invitation_rate,
        "min_seconds_between_invitations": (
            min(b - a for a, b in itertools.pairwise(mails)) if len(mails) > 1 else None
        ),
        "limits": limits.__dict__,
    }
