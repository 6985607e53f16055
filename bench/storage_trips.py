"""Storage round trips per onboarding, counted at the HTTP layer.

``n`` guests (two groups and an app role each) are onboarded in this process one at a time, as
``bench/cpu.py`` drives them (the invitation, then its three assignment steps, each delivered
once), with the app's Table and Queue traffic sent through the storage proxy
(``devstack/storage_proxy.py``, no faults), which counts every request by table or queue. The
driver's own receives and deletes go to Azurite directly, so only the app's requests count.

Reported per onboarding: the ledger table (guest rows and the tenant's health record, which
lives there), the Graph budget table (the pacer's shared record), the queues the app writes to,
and the total, each split by HTTP method.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import app_pacing, environment
from bench.cpu import _drive
from devstack.stack import LocalStack
from devstack.storage_proxy import start_storage_proxy


def measure(stack: LocalStack, *, n: int = 100, warmup: int = 5, workdir: Path) -> dict[str, Any]:
    """Onboard ``n`` guests through the counting proxy; requests per onboarding."""
    control = stack.emulator.control
    control.reset()
    control.set_faults(latency_ms=0)
    control.set_limits(throttling=False)
    ledger, budget = stack.settings["GUEST_LEDGER_TABLE"], stack.settings["GRAPH_BUDGET_TABLE"]
    with start_storage_proxy(
        stack.azurite.connection_string, log_path=workdir / "storage-proxy.log"
    ) as proxy:
        settings = stack.settings | app_pacing(1000.0)
        settings["AzureWebJobsStorage"] = proxy.connection_string
        with environment(settings):
            driven = asyncio.run(
                _drive(stack, settings, n, warmup, "trips", proxy.control.reset_counters)
            )
        counted: dict[str, int] = proxy.control.counters()["requests"]
    groups: dict[str, Counter[str]] = {
        "ledger table": Counter(),
        "budget table": Counter(),
        "queues": Counter(),
        "other": Counter(),
    }
    for key, count in counted.items():
        service, method, resource = key.split(" ", 2)
        if service == "table" and resource == ledger:
            group = "ledger table"
        elif service == "table" and resource == budget:
            group = "budget table"
        elif service == "queue":
            group = "queues"
        else:
            group = "other"
        groups[group][method] += count
    per_onboarding = {
        name: {
            "total": sum(methods.values()) / n,
            **{m: c / n for m, c in sorted(methods.items())},
        }
        for name, methods in groups.items()
    }
    total = sum(sum(methods.values()) for methods in groups.values())
    return {
        "onboardings": n,
        "outcomes": driven["outcomes"],
        "requests": counted,
        "per_onboarding": per_onboarding,
        "total_per_onboarding": total / n,
    }
