"""``status``: where each guest stands, read from the ledger.

A row is shown through :func:`record`, which walks ``LedgerEntry``'s fields (and the
invitation's) generically: a field added to the row (sponsors, redemption facts, a new status)
appears in ``--json`` and in the per-guest view with no edit here. The table picks a few of
them by name in ``TABLE_COLUMNS``.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from rich.table import Table
from rich.text import Text

from guest_console.errors import ConsoleError
from guest_console.storage.ports import LedgerReader
from guest_onboarding.domain.addresses import normalize_address
from guest_onboarding.domain.invitation import (
    APP_ROLE_STEP_PREFIX,
    GROUP_STEP_PREFIX,
    PROFILE_STEP_KEY,
)
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus

#: Fields never shown: the optimistic-concurrency tag and the claim's lease token.
HIDDEN_FIELDS = frozenset({"etag", "claim_token"})
#: ``--state pending``: invited (or being invited), not redeemed, not expired.
STATE_ALIASES = {
    "pending": frozenset({GuestStatus.INVITING, GuestStatus.INVITED, GuestStatus.UNTRACKED})
}


def state_names() -> list[str]:
    """Every value ``--state`` takes: the ledger's statuses and the aliases."""
    return sorted({*STATE_ALIASES, *(s.value for s in GuestStatus)})


def states_of(names: Sequence[str]) -> frozenset[GuestStatus] | None:
    """The statuses ``--state`` names (None: every status)."""
    if not names:
        return None
    found: set[GuestStatus] = set()
    for name in names:
        key = name.strip().lower()
        if key in STATE_ALIASES:
            found |= STATE_ALIASES[key]
            continue
        try:
            found.add(GuestStatus(key))
        except ValueError:
            raise ConsoleError(
                f"unknown state {name!r}; one of: {', '.join(state_names())}"
            ) from None
    return frozenset(found)


def _guid(compact: str) -> str:
    c = compact
    return f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}" if len(c) == 32 else c


def step_label(key: str) -> str:
    """A step key as a person reads it: ``group <id>``, ``app role <id> on <resource>``,
    ``profile``."""
    if key == PROFILE_STEP_KEY:
        return "profile"
    if key.startswith(GROUP_STEP_PREFIX):
        return f"group {_guid(key[len(GROUP_STEP_PREFIX) :])}"
    if key.startswith(APP_ROLE_STEP_PREFIX):
        resource, _, role = key[len(APP_ROLE_STEP_PREFIX) :].partition("_")
        return f"app role {_guid(role)} on {_guid(resource)}"
    return key


def _jsonable(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def record(entry: LedgerEntry) -> dict[str, Any]:
    """The row as JSON-ready data: every field but the hidden ones, steps as a list."""
    data: dict[str, Any] = {
        f.name: _jsonable(getattr(entry, f.name))
        for f in dataclasses.fields(entry)
        if f.name not in HIDDEN_FIELDS and f.name != "steps"
    }
    data["steps"] = [
        {"key": key, "target": step_label(key), "status": _jsonable(status)}
        for key, status in sorted(entry.steps.items())
    ]
    return data


def sponsors_of(data: Mapping[str, Any]) -> list[str]:
    """The guest's sponsors, wherever the row keeps them (the row or its invitation)."""
    invitation = data.get("invitation") or {}
    found = data.get("sponsors") or invitation.get("sponsors") or []
    return [str(s) for s in found]


def _steps_cell(data: Mapping[str, Any]) -> str:
    steps = data["steps"]
    if not steps:
        return "-"
    counts = Counter(str(s["status"]) for s in steps)
    done, failed = counts[StepStatus.DONE.value], counts[StepStatus.FAILED.value]
    removed, removing = counts[StepStatus.REMOVED.value], counts[StepStatus.REMOVING.value]
    cell = f"{done}/{len(steps)} done"
    for number, what in ((removed, "removed"), (removing, "removing"), (failed, "failed")):
        cell += f", {number} {what}" if number else ""
    return cell


def _day(value: object) -> str:
    return str(value)[:10] if value else "-"


#: The table's columns: a title and how to read it from ``record``'s data.
TABLE_COLUMNS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("guest", lambda d: str(d["email"])),
    ("state", lambda d: str(d["status"])),
    ("invited", lambda d: _day(d.get("first_sent_at"))),
    ("sends", lambda d: str(d.get("send_count", 0))),
    ("reminders", lambda d: f"{d.get('reminders_sent', 0)}/{d.get('reminders_scheduled', 0)}"),
    ("steps", _steps_cell),
    ("sponsors", lambda d: ", ".join(sponsors_of(d)) or "-"),
    ("last error", lambda d: str(d.get("last_error") or "-")),
)


#: Columns whose text may run long and wraps; the others stay on one line.
FOLDING_COLUMNS = frozenset({"sponsors", "last error"})


def status_table(entries: Sequence[LedgerEntry]) -> Table:
    table = Table(title=f"{len(entries)} guest(s)", title_justify="left")
    widest = max((len(e.email) for e in entries), default=5)
    for title, _ in TABLE_COLUMNS:
        folds = title in FOLDING_COLUMNS
        table.add_column(
            title,
            overflow="fold" if folds else "ellipsis",
            no_wrap=not folds,
            min_width=widest if title == "guest" else (8 if folds else None),
        )
    for entry in entries:
        data = record(entry)
        style = "red" if entry.status == GuestStatus.FAILED or data.get("last_error") else ""
        table.add_row(*(Text(read(data)) for _, read in TABLE_COLUMNS), style=style)
    return table


def guest_detail(entry: LedgerEntry) -> Table:
    """One guest, every field of the row and each step with its status."""
    data = record(entry)
    table = Table(title=str(data["email"]), title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in data.items():
        if name in {"email", "steps"}:
            continue
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        table.add_row(name, Text("-" if value in (None, "", [], {}) else str(shown)))
    for step in data["steps"]:
        table.add_row(f"step: {step['target']}", Text(str(step["status"])))
    return table


async def read_status(
    ledger: LedgerReader, addresses: Sequence[str], states: frozenset[GuestStatus] | None
) -> tuple[list[LedgerEntry], list[str]]:
    """The rows asked for (by address, or every row in ``states``), sorted by address, and
    the addresses the ledger has no row for."""
    if addresses:
        found: list[LedgerEntry] = []
        missing: list[str] = []
        for address in addresses:
            entry = await ledger.get(normalize_address(address))
            if entry is None:
                missing.append(address)
            elif states is None or entry.status in states:
                found.append(entry)
        return sorted(found, key=lambda e: e.email), missing
    entries = [entry async for entry in ledger.entries(statuses=states)]
    return sorted(entries, key=lambda e: e.email), []
