"""``make chaos``: 1,000 HR messages (10% duplicates, 5% invalid) through Azurite, the local host
and the Graph emulator with faults on (5% 5xx, 1% connection resets, 1% answers slower than the
client's timeout, replication lag, throttling) and Storage faults on the app's own Storage
traffic through the storage proxy (``devstack/storage_proxy.py``: on the ledger and budget
tables and the messages the app sends, 503 ``ServerBusy``, 429, 500 after the write was
applied, dropped connections, silences longer than the client's read timeout, slow answers),
while the host is SIGKILLed and restarted at random moments. Exits non-zero if any invariant
fails:

- poisoned as expected: exactly the invalid messages on the invitations poison queue (each with
  its original; a send whose answer a Storage fault lost may leave one there twice, which is
  counted), nothing on the assignments poison queue, with no operator step (an invitation whose
  outcome a fault left unknown, and whose guest never appeared, is invited again by the app
  after the replication wait; the ledger counts those re-invitations);
- lost = 0: every valid guest is done in the ledger;
- exactly one invitation email per valid guest;
- the directory ends as expected: every valid guest exists with exactly its groups and app role,
  and no user exists that should not.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import (
    RESULTS_DIR,
    app_pacing,
    guest_address,
    hr_message,
    markdown_table,
    write_json,
)
from bench.throughput import onboarded_in_ledger
from devstack.seeds import GROUP_PARTNERS, GROUP_ROLE_ASSIGNABLE, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_PROFILE
from devstack.stack import LocalStack, local_stack
from devstack.storage_proxy import start_storage_proxy
from guest_onboarding.adapters.storage.clients import READ_TIMEOUT_SECONDS

console = Console(width=None if Console().is_terminal else 132)

#: The adapter's Graph timeout (``GraphClient.create(timeout_seconds=30.0)``, which
#: ``bootstrap.build_runtime`` keeps): a "slow" answer takes longer than this.
CLIENT_TIMEOUT_SECONDS = 30.0


def fault_rules(slow_ms: int) -> list[dict[str, Any]]:
    """5% 5xx (half after the write was applied), 1% resets (half after apply), 1% slow, on
    every Graph call of the app (the token endpoint is left alone)."""
    rules: list[dict[str, Any]] = []
    for endpoint in ("POST /*", "GET /[!m]*"):
        rules += [
            {"endpoint": endpoint, "rate": 0.025, "kind": "status", "status": 503},
            {
                "endpoint": endpoint,
                "rate": 0.025,
                "kind": "status",
                "status": 500,
                "afterApply": True,
            },
            {"endpoint": endpoint, "rate": 0.005, "kind": "reset"},
            {"endpoint": endpoint, "rate": 0.005, "kind": "reset", "afterApply": True},
            {"endpoint": endpoint, "rate": 0.01, "kind": "slow", "delayMs": slow_ms},
        ]
    return rules


def storage_fault_rules(ledger: str, budget: str, silence_ms: int) -> list[dict[str, Any]]:
    """Faults on the app's own Storage traffic: every request to the ledger and budget tables,
    and the messages the app sends (POST); the host's receives, renewals and deletes pass.

    Ledger table: 2% 503 ServerBusy, 0.5% 429, 1% 500 after the write was applied, 0.5% dropped
    connections (half after apply), 0.3% silent past the client's read timeout (a third after
    apply), 2% slow. Budget table: 1% ServerBusy, 0.2% dropped, 0.1% silent, 1% slow (lighter:
    each failure there holds invitations back for 15 s, by the pacer's design). Sends: 2%
    ServerBusy, 0.5% 500 after apply, 0.4% dropped (half after apply), 0.2% silent, 2% slow."""
    on_ledger = {"service": "table", "resource": ledger}
    on_budget = {"service": "table", "resource": budget}
    sends = {"service": "queue", "method": "POST"}
    silent = {"kind": "timeout", "delayMs": silence_ms}
    return [
        {**on_ledger, "rate": 0.02, "kind": "status", "code": "ServerBusy"},
        {**on_ledger, "rate": 0.005, "kind": "status", "code": "TooManyRequests"},
        {**on_ledger, "rate": 0.01, "kind": "status", "code": "InternalError", "afterApply": True},
        {**on_ledger, "rate": 0.0025, "kind": "reset"},
        {**on_ledger, "rate": 0.0025, "kind": "reset", "afterApply": True},
        {**on_ledger, "rate": 0.002, **silent},
        {**on_ledger, "rate": 0.001, **silent, "afterApply": True},
        {**on_ledger, "rate": 0.02, "kind": "slow", "delayMs": 1500},
        {**on_budget, "rate": 0.01, "kind": "status", "code": "ServerBusy"},
        {**on_budget, "rate": 0.002, "kind": "reset"},
        {**on_budget, "rate": 0.001, **silent},
        {**on_budget, "rate": 0.01, "kind": "slow", "delayMs": 1500},
        {**sends, "rate": 0.02, "kind": "status", "code": "ServerBusy"},
        {**sends, "rate": 0.005, "kind": "status", "code": "InternalError", "afterApply": True},
        {**sends, "rate": 0.002, "kind": "reset"},
        {**sends, "rate": 0.002, "kind": "reset", "afterApply": True},
        {**sends, "rate": 0.002, **silent},
        {**sends, "rate": 0.02, "kind": "slow", "delayMs": 1500},
    ]


def invalid_messages(count: int, rng: random.Random) -> list[str]:
    """Messages the app must reject: one kind after another."""
    makers = [
        lambda i: json.dumps(hr_message(f"bad+{i}@fabrikam.example")),  # forbidden character
        lambda i: json.dumps(hr_message(f"bad-{i}@blocked.example")),  # blocked domain
        lambda i: json.dumps({**hr_message(f"typo-{i}@fabrikam.example"), "group": []}),
        lambda i: json.dumps(
            {
                **hr_message(f"evil-{i}@fabrikam.example"),
                "groups": [GROUP_ROLE_ASSIGNABLE],
            }
        ),  # not on the allow-list
        lambda i: '{"email": "broken-' + str(i) + '@fabrikam.example", ',  # not JSON
        lambda i: json.dumps({"displayName": f"no address {i}"}),
    ]
    return [makers[i % len(makers)](i) for i in range(count)]


def workload(total: int, seed: int) -> tuple[list[str], list[str], dict[str, int]]:
    """(bodies in send order, the invalid bodies, valid guest -> number of messages)."""
    rng = random.Random(seed)
    invalid = invalid_messages(round(total * 0.05), rng)
    duplicates = round(total * 0.10)
    unique = total - len(invalid) - duplicates
    valid = [
        json.dumps(hr_message(guest_address("chaos", i), external_id=f"HR-{i}"))
        for i in range(unique)
    ]
    repeats = [rng.choice(valid) for _ in range(duplicates)]
    bodies = valid + repeats + invalid
    rng.shuffle(bodies)
    per_guest = Counter(json.loads(b)["email"] for b in valid + repeats)
    return bodies, invalid, dict(per_guest)


def check(stack: LocalStack, invalid: list[str], guests: dict[str, int]) -> dict[str, Any]:
    """Every invariant, from the poison queues, the ledger, the mailbox and the directory."""
    inv_poison = stack.poison(stack.invitations_queue)
    asg_poison = stack.poison(stack.assignments_queue)
    # "original" is the message exactly as received.
    poisoned = Counter(p["original"] for p in inv_poison)
    expected_poison = Counter(invalid)
    codes = Counter(p["error"]["code"] for p in inv_poison)

    rows = {entry.email: entry for entry in stack.ledger_entries()}
    reinvited = sum(entry.reinvitations for entry in rows.values())
    done = {
        email for email in guests if onboarded_in_ledger([rows[email]] if email in rows else [])
    }
    lost = sorted(set(guests) - done)

    mailbox = Counter(m["to"].lower() for m in stack.emulator.control.mailbox())
    wrong_emails = {g: mailbox.get(g, 0) for g in guests if mailbox.get(g, 0) != 1}
    stray_emails = {a: n for a, n in mailbox.items() if a not in guests}

    state = stack.emulator.control.state()
    users = {(u.get("mail") or "").lower(): u["id"] for u in state["users"]}
    members = {g["id"]: set(g["members"]) for g in state["groups"]}
    assignments: Counter[tuple[str, str]] = Counter()
    for sp in state["servicePrincipals"]:
        for a in sp.get("assignments", []):
            if sp["id"] == PORTAL_SP:
                assignments[(a["principalId"], a["appRoleId"])] += 1
    directory_problems: list[str] = []
    for email in guests:
        user_id = users.get(email)
        if user_id is None:
            directory_problems.append(f"{email}: no user")
            continue
        groups = {g for g, ids in members.items() if user_id in ids}
        if groups != {GROUP_PROFILE, GROUP_PARTNERS}:
            directory_problems.append(f"{email}: groups {sorted(groups)}")
        roles = {k: v for k, v in assignments.items() if k[0] == user_id}
        if roles != {(user_id, READER_ROLE): 1}:
            directory_problems.append(f"{email}: app roles {roles}")
    seeded = {"grace@contoso.example", "alan@fabrikam.example"}
    strangers = sorted(set(users) - set(guests) - seeded)
    directory_problems += [f"{m}: should not exist" for m in strangers]

    # A poison send whose answer a Storage fault lost is sent again (at least once): a copy.
    duplicated_poison = sum(n - 1 for n in poisoned.values() if n > 1)
    invariants = {
        "poisoned exactly the invalid messages": set(poisoned) == set(expected_poison)
        and not asg_poison,
        "lost = 0": not lost,
        "one email per valid guest": not wrong_emails and not stray_emails,
        "directory as expected": not directory_problems,
    }
    return {
        "valid_guests": len(guests),
        "done": len(done),
        "lost": lost[:20],
        "lost_count": len(lost),
        "reinvitations": reinvited,
        # Originals that were valid (a second copy of an invalid one is a poison copy, above).
        "valid_poisoned": sum(n for o, n in poisoned.items() if o not in expected_poison)
        + len(asg_poison),
        "poisoned_invitations": len(inv_poison),
        "duplicated_poison": duplicated_poison,
        "poison_codes": dict(codes),
        "unexpected_poison": [p for p in inv_poison if p["original"] not in expected_poison][:10],
        "missing_from_poison": sorted(set(expected_poison) - set(poisoned))[:10],
        "poisoned_assignments": asg_poison[:10],
        "poisoned_assignments_count": len(asg_poison),
        "emails_per_guest": dict(Counter(mailbox.get(g, 0) for g in guests)),
        "guests_with_wrong_email_count": dict(list(wrong_emails.items())[:20]),
        "stray_emails": stray_emails,
        "directory_problems": directory_problems[:20],
        "directory_problem_count": len(directory_problems),
        "invariants": invariants,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    bodies, invalid, guests = workload(args.messages, args.seed)
    kill_at = sorted(rng.uniform(args.kill_from, args.kill_until) for _ in range(args.kills))
    with (
        tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp,
        local_stack(
            workdir=Path(tmp),
            start_host=False,
            message_lease=args.message_lease,
            overrides={
                "INVITE_REPLICATION_WAIT_SECONDS": str(args.replication_wait),
                **app_pacing(args.writes_per_second),
            },
        ) as stack,
        start_storage_proxy(
            stack.azurite.connection_string, log_path=Path(tmp) / "storage-proxy.log"
        ) as proxy,
    ):
        # The app's Tables and Queues (the host's trigger too, which no rule touches) go
        # through the proxy; the run's own reads go to Azurite directly.
        stack.settings["AzureWebJobsStorage"] = proxy.connection_string
        if args.storage_faults:
            proxy.control.set_faults(
                storage_fault_rules(
                    stack.settings["GUEST_LEDGER_TABLE"],
                    stack.settings["GRAPH_BUDGET_TABLE"],
                    int(READ_TIMEOUT_SECONDS * 1000) + 5000,
                ),
                seed=args.seed,
            )
        control = stack.emulator.control
        control.reset()
        control.set_faults(
            latency_ms=args.latency_ms,
            errors=fault_rules(int(CLIENT_TIMEOUT_SECONDS * 1000) + 5000),
            replication_lag_ms=args.replication_lag_ms,
            seed=args.seed,
        )
        control.set_limits(
            throttling=True,
            writes_per_window=args.write_capacity,
            window_seconds=args.write_capacity / args.writes_per_second,
        )
        queue = stack.queue(stack.invitations_queue)
        for body in bodies:
            queue.send_message(body)
        started = time.monotonic()
        stack.start_host()
        kills: list[dict[str, Any]] = []
        for moment in kill_at:
            time.sleep(max(0.0, moment - (time.monotonic() - started)))
            pending = stack.pending_messages()
            stack.kill_host()
            down = rng.uniform(0.5, 3.0)
            time.sleep(down)
            stack.start_host()
            kills.append(
                {
                    "at_seconds": round(moment, 1),
                    "pending_messages": pending,
                    "down_seconds": round(down, 1),
                }
            )
            console.print(f"  SIGKILL at {moment:5.1f} s ({pending} messages pending)")
        remaining = args.timeout - (time.monotonic() - started)
        drained = stack.wait_until_drained(max(remaining, 1.0), settle=6)
        # No operator step: nothing is replayed or resolved by hand.
        seconds = time.monotonic() - started
        counters = control.counters()
        storage = proxy.control.counters()
        proxy.control.set_faults([])  # the checks read the ledger through the app's settings
        host_logs = sorted(Path(tmp).glob("host-*.log"))
        log_tail = host_logs[-1].read_text(errors="replace")[-2000:] if host_logs else ""
        result = check(stack, invalid, guests)
        if not all(result["invariants"].values()) and args.keep_logs:
            keep = args.out / "chaos-logs"
            keep.mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                (keep / log.name).write_bytes(log.read_bytes())
    result["invariants"]["drained"] = drained
    requests = {k: v for k, v in counters["requests"].items() if "/msi/" not in k}
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "sent": len(bodies),
        "invalid_sent": len(invalid),
        "duplicates_sent": len(bodies) - len(invalid) - len(guests),
        "seconds": seconds,
        "kills": kills,
        "graph_calls": sum(requests.values()),
        "graph_calls_by_endpoint": requests,
        "throttled_429": counters.get("throttled", 0),
        "storage_requests": storage["total"],
        "storage_requests_by_resource": storage["requests"],
        "storage_faults": storage["faults"],
        "last_host_log_tail": log_tail if not all(result["invariants"].values()) else "",
        **result,
    }


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        ["sent", str(report["sent"])],
        ["valid guests (unique)", str(report["valid_guests"])],
        ["duplicates sent", str(report["duplicates_sent"])],
        ["invalid sent", str(report["invalid_sent"])],
        ["done (guests)", str(report["done"])],
        ["poisoned (invitations)", f"{report['poisoned_invitations']} {report['poison_codes']}"],
        ["poisoned (assignments)", str(report["poisoned_assignments_count"])],
        ["lost", str(report["lost_count"])],
        ["emails per guest (emails: guests)", json.dumps(report["emails_per_guest"])],
        ["directory problems", str(report["directory_problem_count"])],
        ["host SIGKILLs", ", ".join(f"{k['at_seconds']} s" for k in report["kills"])],
        ["Graph calls (429)", f"{report['graph_calls']} ({report['throttled_429']})"],
        [
            "Storage requests through the proxy, the host's included (faults)",
            f"{report['storage_requests']} ({sum(report['storage_faults'].values())})",
        ],
        ["Storage faults", json.dumps(report["storage_faults"])],
        ["poison copies (a lost answer to a poison send)", str(report["duplicated_poison"])],
        ["invited again after the replication wait (ledger)", str(report["reinvitations"])],
        ["valid messages poisoned (each an operator step)", str(report["valid_poisoned"])],
        ["seconds", f"{report['seconds']:.0f}"],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--kill-from", type=float, default=10.0, help="earliest kill, s")
    parser.add_argument("--kill-until", type=float, default=150.0, help="latest kill, s")
    parser.add_argument("--message-lease", type=float, default=15.0)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--replication-lag-ms", type=int, default=1500)
    parser.add_argument(
        "--replication-wait",
        type=int,
        default=20,
        help="INVITE_REPLICATION_WAIT_SECONDS: how long an unknown invitation outcome waits",
    )
    parser.add_argument(
        "--storage-faults",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Storage faults on the app's ledger, budget and queue traffic (the storage proxy)",
    )
    parser.add_argument("--writes-per-second", type=float, default=40.0)
    parser.add_argument("--write-capacity", type=int, default=80)
    parser.add_argument("--timeout", type=float, default=780.0, help="drain deadline, s")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep-logs", action="store_true", default=True)
    args = parser.parse_args(argv)

    report = run(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_json(args.out / f"chaos-{stamp}.json", report)
    write_json(args.out / "chaos-latest.json", report)
    rows = summary_rows(report)
    invariants = [[k, "yes" if v else "NO"] for k, v in report["invariants"].items()]
    text = "\n".join(
        [
            "# Chaos run",
            "",
            markdown_table(["measure", "value"], rows),
            "",
            markdown_table(["invariant", "holds"], invariants),
            "",
        ]
    )
    (args.out / f"chaos-{stamp}.md").write_text(text, encoding="utf-8")
    (args.out / "chaos-latest.md").write_text(text, encoding="utf-8")
    for title, headers, body in (
        ("Chaos run", ["measure", "value"], rows),
        ("Invariants", ["invariant", "holds"], invariants),
    ):
        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header)
        for row in body:
            table.add_row(*row)
        console.print(table)
    failed = [k for k, v in report["invariants"].items() if not v]
    if failed:
        console.print(f"[red bold]Invariants failed: {', '.join(failed)}")
        for key in (
            "lost",
            "unexpected_poison",
            "missing_from_poison",
            "poisoned_assignments",
            "guests_with_wrong_email_count",
            "stray_emails",
            "directory_problems",
        ):
            if report.get(key):
                console.print(f"{key}: {json.dumps(report[key], indent=1)[:3000]}")
        return 1
    console.print("[green bold]Every invariant held.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
