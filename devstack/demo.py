"""``make demo`` and ``make run``: the sample HR messages end to end on the local stack."""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devstack.enqueue import read_messages
from devstack.stack import LocalStack, local_stack
from guest_onboarding.domain.addresses import normalize_address
from guest_onboarding.domain.ledger import GuestStatus, StepStatus
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.wire import decode_body

# Wide enough for the report when output is piped (CI logs), where rich would assume 80.
console = Console(width=None if Console().is_terminal else 132)


@dataclass
class GuestRow:
    email: str
    outcome: str = ""
    groups: list[str] = field(default_factory=list)
    app_roles: list[str] = field(default_factory=list)
    emails_sent: int = 0
    problems: list[str] = field(default_factory=list)


def _address_of(body: str) -> str | None:
    try:
        data = json.loads(decode_body(body))
    except (InvalidMessage, json.JSONDecodeError):
        return None
    email = data.get("email") if isinstance(data, dict) else None
    return normalize_address(email) if isinstance(email, str) else None


def collect_report(stack: LocalStack, messages: list[str]) -> list[GuestRow]:
    """One row per guest (and one per message that never named one), from what the stack holds:
    the ledger, the poison queues, the emulator's directory and mailbox."""
    state = stack.emulator.control.state()
    mailbox = Counter(normalize_address(m["to"]) for m in stack.emulator.control.mailbox())
    members_of: dict[str, list[str]] = {}
    for group in state["groups"]:
        for member in group["members"]:
            members_of.setdefault(member, []).append(group["displayName"])
    roles_of: dict[str, list[str]] = {}
    for sp in state["servicePrincipals"]:
        role_names = {r["id"]: r["value"] for r in sp.get("appRoles", [])}
        for a in sp.get("assignments", []):
            roles_of.setdefault(a["principalId"], []).append(
                f"{sp['displayName']}: {role_names.get(a['appRoleId'], 'default access')}"
            )
    ledger = {entry.email: entry for entry in stack.ledger_entries()}
    rejected = {p["original"]: p["error"] for p in stack.poison(stack.invitations_queue)}
    failed_steps = stack.poison(stack.assignments_queue)

    rows: dict[str, GuestRow] = {}
    for index, body in enumerate(messages):
        email = _address_of(body)
        key = email or f"(message {index + 1})"
        row = rows.setdefault(key, GuestRow(email=key))
        error = rejected.get(body) or rejected.get(decode_body(body) if email else body)
        entry = ledger.get(email or "")
        if entry is None or error is not None:
            reason = error or {"code": "Lost", "message": "neither done nor in poison"}
            row.outcome = f"rejected: {reason['code']}"
            if reason["code"] == "Lost":
                row.problems.append("message lost")
            continue
        status = entry.status
        row.outcome = {"invited": "invited", "existing": "already existed"}.get(status, status)
        user_id = entry.user_id or ""
        row.groups = sorted(members_of.get(user_id, []))
        row.app_roles = sorted(roles_of.get(user_id, []))
        row.emails_sent = mailbox.get(email or "", 0)
        unfinished = [key for key, step in entry.steps.items() if step != StepStatus.DONE]
        if unfinished:
            row.problems.append(f"{len(unfinished)} step(s) not done")
        if row.emails_sent > 1:
            row.problems.append("more than one email")
        if status == GuestStatus.EXISTING and row.emails_sent:
            row.problems.append("email to an existing user")
    for step in failed_steps:
        console.print(f"[red]assignment step in poison:[/red] {step['error']}")
    return list(rows.values())


def print_report(rows: list[GuestRow]) -> None:
    table = Table(title="What happened to each guest", show_lines=False)
    for column in ("guest", "outcome", "groups", "app roles", "emails sent"):
        table.add_column(column)
    for row in rows:
        style = "red" if row.problems else ("yellow" if row.outcome.startswith("rejected") else "")
        outcome = row.outcome + (f" ({'; '.join(row.problems)})" if row.problems else "")
        table.add_row(
            row.email,
            outcome,
            ", ".join(row.groups) or "-",
            ", ".join(row.app_roles) or "-",
            str(row.emails_sent),
            style=style,
        )
    console.print(table)


def run_demo(*, messages_path: Path, tenant_path: Path, timeout: float) -> int:
    """Start everything, onboard the sample messages, print the table, stop everything.
    Returns 0 when every message ended done or rejected with its reason, and nothing else."""
    messages = read_messages(file=messages_path)
    with tempfile.TemporaryDirectory(prefix="guest-onboarding-demo-") as tmp:
        workdir = Path(tmp)
        console.print("[bold]Starting Azurite, the Graph emulator and the local Functions host…")
        started = time.monotonic()
        with local_stack(workdir=workdir, tenant_path=tenant_path) as stack:
            console.print(
                f"  ready in {time.monotonic() - started:.1f} s; "
                f"queueing {len(messages)} HR messages from {messages_path}"
            )
            for body in messages:
                stack.send(body)
            drained = stack.wait_until_drained(timeout)
            rows = collect_report(stack, messages)
            counters = stack.emulator.control.counters()
            assignment_failures = stack.poison(stack.assignments_queue)
        print_report(rows)
        graph_calls = {k: v for k, v in counters["requests"].items() if "/msi/" not in k}
        console.print(
            f"Graph calls: {sum(graph_calls.values())} "
            + ", ".join(f"{k} x{v}" for k, v in sorted(graph_calls.items()))
        )
        problems = [r for r in rows if r.problems]
        if not drained:
            console.print(f"[red]The queues did not drain within {timeout:.0f} s.")
        if problems or assignment_failures or not drained:
            console.print("[red bold]Something went wrong (rows in red above).")
            return 1
        console.print("[green bold]Every message ended done or rejected with its reason.")
        return 0


#: ``make run`` prints spans and metrics (OpenTelemetry's console exporter, into the host's log);
#: an ``OTEL_EXPORTER_OTLP_ENDPOINT`` in the environment sends them there instead.
RUN_TELEMETRY = {"OTEL_TRACES_EXPORTER": "console"}


def run_stack_forever(*, tenant_path: Path) -> None:
    """``make run``: the stack on fixed ports until Ctrl-C."""
    with (
        tempfile.TemporaryDirectory(prefix="guest-onboarding-run-") as tmp,
        local_stack(
            workdir=Path(tmp),
            tenant_path=tenant_path,
            overrides=RUN_TELEMETRY,
            development_ports=True,
            emulator_port=8400,
            admin_port=7071,
        ) as stack,
    ):
        console.print(
            "[bold]Running.[/bold] Azurite on 10000-10002 (UseDevelopmentStorage=true), the Graph "
            f"emulator on {stack.emulator.root_url}, the host's admin API on "
            f"{stack.host.admin_url if stack.host else '-'}; logs in {tmp}.\n"
            "Queue a message from another terminal:\n"
            '  .venv/bin/python -m devstack enqueue \'{"email": "ada@fabrikam.example"}\'\n'
            "  .venv/bin/python -m devstack enqueue --file samples/hr_messages.jsonl [--base64]\n"
            f"See the emulated tenant: curl {stack.emulator.root_url}/_control/state\n"
            f"Spans and metrics: {tmp}/host-1.log (or OTEL_EXPORTER_OTLP_ENDPOINT, when set)\n"
            "Ctrl-C stops everything."
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        console.print("Stopping…")
