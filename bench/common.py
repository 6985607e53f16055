"""Shared pieces of the benchmarks and the chaos run: the HR workload, counter arithmetic and
report writing (the sample tenant's ids are in devstack.seeds)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack.seeds import ACCESS_PROFILE, GROUP_PARTNERS

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench-results"

REDIRECT = "https://myapps.microsoft.com"

#: What every benchmark guest asks for: the profile (one group, one app role) plus one group.
GROUPS_PER_GUEST = 2
ROLES_PER_GUEST = 1
#: Fewest Graph calls one onboarding can take: look the address up, invite, one call per step.
MIN_CALLS_PER_ONBOARDING = 2 + GROUPS_PER_GUEST + ROLES_PER_GUEST
WRITES_PER_ONBOARDING = 1 + GROUPS_PER_GUEST + ROLES_PER_GUEST

#: Counter keys that are not Graph calls of the app (the token endpoint, the control API).
_NOT_GRAPH = ("/msi/", "/_control")


def app_pacing(writes_per_second: float) -> dict[str, str]:
    """App settings that pace Graph writes at the emulator's write ceiling, with invitations
    paced far above it: the runs measure the write ceiling, not invitation pacing (which the
    scale-out trickle run shows on its own)."""
    return {
        "GRAPH_WRITES_PER_SECOND": f"{writes_per_second:g}",
        "INVITATIONS_PER_MINUTE": f"{writes_per_second * 60:g}",
    }


def guest_address(run: str, index: int) -> str:
    return f"{run}-{index:06d}@fabrikam.example"


def hr_message(email: str, *, external_id: str | None = None) -> dict[str, Any]:
    """An HR message for ``email`` with two groups and one app role (profile + a group)."""
    message: dict[str, Any] = {
        "email": email,
        "displayName": email.split("@", 1)[0],
        "accessProfiles": [ACCESS_PROFILE],
        "groups": [GROUP_PARTNERS],
        "sendInvitationMessage": True,
    }
    if external_id is not None:
        message["externalId"] = external_id
    return message


def graph_calls(counters: Mapping[str, Any]) -> dict[str, int]:
    """The emulator's per-endpoint request counts, without token and control calls."""
    requests: Mapping[str, int] = counters.get("requests", {})
    return {k: v for k, v in requests.items() if not any(p in k for p in _NOT_GRAPH)}


def list_calls_minimum(guests: int) -> int:
    """Pages needed to list ``guests`` users at Graph's largest page size (999); at least one."""
    return max(1, math.ceil(guests / 999))


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration (azure-identity reads them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Stopwatch:
    """Wall and process-CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.wall_start

    @property
    def cpu(self) -> float:
        return time.process_time() - self.cpu_start


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
