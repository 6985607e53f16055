"""Onboarding throughput under Graph's write limit: our functions on the local host against a
naive loop over the SDK's typed client, on the same workload, latency and limits.

Ours: N HR messages go onto the invitations queue in Azurite; the local Functions host runs
``invite_fn`` / ``assign_fn`` against the Graph emulator until both work queues are empty.
Baseline: the same N guests through ``GraphServiceClient`` the obvious way (typed models,
default middleware, the SDK's own 429 retries and nothing else), ``concurrency`` plain loops
sharing the message list, against a fresh emulator with the same faults and limits.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    MIN_CALLS_PER_ONBOARDING,
    REDIRECT,
    WRITES_PER_ONBOARDING,
    app_pacing,
    environment,
    graph_calls,
    guest_address,
    hr_message,
)
from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_PROFILE
from devstack.seeds import SAMPLE_TENANT_PATH as TENANT_PATH
from devstack.stack import LocalStack, local_stack
from graph_emulator.control import EmulatorControl
from graph_emulator.process import start_emulator
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Graph as the benchmark configures it: latency and a scaled-down write bucket."""

    latency_ms: int = 50
    write_capacity: int = 40
    writes_per_second: float = 20.0

    def apply(self, control: EmulatorControl, seed: dict[str, Any] | None = None) -> None:
        """Reset the tenant (to ``seed``, else the demo seed), then set latency and the write
        bucket."""
        control.reset(seed)
        control.set_faults(latency_ms=self.latency_ms)
        control.set_limits(
            throttling=True,
            writes_per_window=self.write_capacity,
            window_seconds=self.write_capacity / self.writes_per_second,
        )


def _summary(counters: dict[str, Any], *, onboarded: int, n: int, seconds: float) -> dict[str, Any]:
    calls = graph_calls(counters)
    total = sum(calls.values())
    throttled = int(counters.get("throttled", 0))
    writes = int(counters.get("writes", 0))
    return {
        "graph_calls": total,
        "graph_calls_by_endpoint": dict(sorted(calls.items())),
        "throttled_429": throttled,
        "share_429": throttled / total if total else 0.0,
        "writes_admitted": writes,
        "writes_per_second": writes / seconds if seconds else 0.0,
        "calls_per_onboarding": total / onboarded if onboarded else None,
        "admitted_calls_per_onboarding": (total - throttled) / onboarded if onboarded else None,
        "min_calls_per_onboarding": MIN_CALLS_PER_ONBOARDING,
        "onboarded": onboarded,
        "messages": n,
        "seconds": seconds,
        "throttling": counters.get("throttling", {}),
    }


def enqueue(stack: LocalStack, bodies: list[str]) -> None:
    queue = stack.queue(stack.invitations_queue)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(queue.send_message, bodies))


def wait_drained(stack: LocalStack, timeout: float, settle: float = 2.0) -> float | None:
    """Seconds (monotonic) at which both work queues became empty for good, None on timeout;
    a host of the stack (the first or a scaled-out one) that died raises."""
    deadline = time.monotonic() + timeout
    empty_since: float | None = None
    while time.monotonic() < deadline:
        hosts = [stack.host, *stack.hosts] if stack.host is not None else stack.hosts
        dead = [h for h in hosts if not h.is_running()]
        if dead:
            raise RuntimeError("a local host died:\n" + dead[0].log_text()[-3000:])
        if stack.pending_messages() == 0:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since >= settle:
                return empty_since
        else:
            empty_since = None
        time.sleep(0.25)
    return None


def process_cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the host, the emulator and Azurite."""
    pids = {
        "host": stack.host.pid if stack.host is not None else None,
        "graph_emulator": stack.emulator.process.pid,
        "azurite": stack.azurite.pid,
    }
    used: dict[str, float] = {}
    for name, pid in pids.items():
        if pid is None:
            continue
        try:
            process = psutil.Process(pid)
            times = [process.cpu_times()]
            times += [c.cpu_times() for c in process.children(recursive=True)]
        except psutil.Error:
            continue
        used[name] = sum(t.user + t.system for t in times)
    return used


def onboarded_in_ledger(entries: list[LedgerEntry]) -> int:
    """Ledger rows whose every step (two groups and an app role) is done, with a user."""
    return sum(
        1
        for entry in entries
        if entry.user_id
        and len(entry.steps) == 3
        and all(step == StepStatus.DONE for step in entry.steps.values())
    )


def run_ours(n: int, limits: Limits, *, workdir: Path, timeout: float) -> dict[str, Any]:
    """N messages through Azurite, the local host and the emulator; figures from its counters."""
    bodies = [json.dumps(hr_message(guest_address("ours", i))) for i in range(n)]
    pacing = app_pacing(limits.writes_per_second)
    with local_stack(workdir=workdir, start_host=False, overrides=pacing) as stack:
        limits.apply(stack.emulator.control)
        enqueue(stack, bodies)
        started = time.monotonic()
        stack.start_host()
        host_ready = time.monotonic() - started
        drained_at = wait_drained(stack, timeout)
        seconds = (drained_at or time.monotonic()) - started
        counters = stack.emulator.control.counters()
        poisoned = len(stack.poison(stack.invitations_queue)) + len(
            stack.poison(stack.assignments_queue)
        )
        onboarded = onboarded_in_ledger(stack.ledger_entries())
        mailbox = Counter(m["to"] for m in stack.emulator.control.mailbox())
        cpu = process_cpu_seconds(stack)
        stack.stop_host()
    result = _summary(counters, onboarded=onboarded, n=n, seconds=seconds)
    result |= {
        "drained": drained_at is not None,
        "host_start_seconds": host_ready,
        "process_cpu_seconds": cpu,
        "poisoned": poisoned,
        "guests_with_more_than_one_email": sum(1 for c in mailbox.values() if c > 1),
        "ceiling_writes_per_second": limits.writes_per_second,
        "write_utilisation": result["writes_per_second"] / limits.writes_per_second,
        "limits": asdict(limits),
    }
    return result


# -- the naive baseline ------------------------------------------------------------------------


async def _naive(
    n: int, concurrency: int, base_url: str, time_limit: float
) -> tuple[int, Counter[str], float, float]:
    """Onboard N guests the obvious way; (completed, failures by kind, wall s, CPU s)."""
    from uuid import UUID

    from azure.identity.aio import DefaultAzureCredential
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment
    from msgraph.generated.models.invitation import Invitation
    from msgraph.generated.models.reference_create import ReferenceCreate
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph.graph_request_adapter import GraphRequestAdapter, options
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    credential = DefaultAzureCredential()
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"], allowed_hosts=["127.0.0.1"]
    )
    http_client = GraphClientFactory.create_with_default_middleware(options=options)
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = base_url
    client = GraphServiceClient(request_adapter=adapter)

    async def onboard(email: str) -> None:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"mail eq '{email}'"
        )
        found = await client.users.get(RequestConfiguration(query_parameters=query))
        if found is not None and found.value:
            user_id = found.value[0].id
        else:
            invitation = await client.invitations.post(
                Invitation(
                    invited_user_email_address=email,
                    invite_redirect_url=REDIRECT,
                    send_invitation_message=True,
                )
            )
            assert invitation is not None and invitation.invited_user is not None
            user_id = invitation.invited_user.id
        for group in (GROUP_PROFILE, GROUP_PARTNERS):
            await client.groups.by_group_id(group).members.ref.post(
                ReferenceCreate(
                    odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}"
                )
            )
        await client.service_principals.by_service_principal_id(
            PORTAL_SP
        ).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=UUID(str(user_id)),
                resource_id=UUID(PORTAL_SP),
                app_role_id=UUID(READER_ROLE),
            )
        )

    todo = [guest_address("naive", i) for i in range(n)]
    completed = 0
    failures: Counter[str] = Counter()
    wall = time.perf_counter()
    cpu = time.process_time()
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        nonlocal completed
        while todo and time.monotonic() < deadline:
            email = todo.pop()
            try:
                await onboard(email)
                completed += 1
            except Exception as exc:
                status = getattr(exc, "response_status_code", None)
                failures[f"{type(exc).__name__} {status or ''}".strip()] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    failures["not attempted (timeout)"] += len(todo)
    await http_client.aclose()
    await credential.close()
    return completed, +failures, wall, cpu


def run_naive(n: int, limits: Limits, *, concurrency: int, timeout: float) -> dict[str, Any]:
    """The baseline against its own emulator (same seed, latency and write bucket)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp,
        start_emulator(seed_path=TENANT_PATH, log_path=Path(tmp) / "emulator.log") as emulator,
    ):
        limits.apply(emulator.control)
        with environment(emulator.identity_environment()):
            completed, failures, wall, cpu = asyncio.run(
                _naive(n, concurrency, emulator.base_url, timeout)
            )
        counters = emulator.control.counters()
    result = _summary(counters, onboarded=completed, n=n, seconds=wall)
    result |= {
        "failures": dict(failures),
        "failed": sum(failures.values()),
        "concurrency": concurrency,
        "client_cpu_seconds": cpu,
        "ceiling_writes_per_second": limits.writes_per_second,
        "write_utilisation": result["writes_per_second"] / limits.writes_per_second,
        "limits": asdict(limits),
    }
    return result


def expected_minimum_seconds(n: int, limits: Limits) -> float:
    """How long N onboardings take at the write ceiling (the bucket's first fill included)."""
    return max(0.0, (n * WRITES_PER_ONBOARDING - limits.write_capacity) / limits.writes_per_second)
