"""``make demo`` and ``make run``: the samples onboarded end to end on the local stack, driven
by the operator console (``guest-onboarding``) as an identity team would drive it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from devstack.seeds import (
    FABRIKAM_GUESTS,
    GROUP_FABRIKAM_GUESTS,
    PROFILED_GUEST,
    SAMPLE_PORTAL_CSV_PATH,
    SAMPLE_PROFILES_PATH,
)
from devstack.stack import LocalStack, local_stack
from guest_console.bulk import read_rows
from guest_console.poison import PoisonItem, read_poison
from guest_console.storage import build_operator_queues
from guest_console.submit import prepare
from guest_console.validation import Rejected, judge
from guest_onboarding.config import Settings
from guest_onboarding.domain.addresses import normalize_address
from guest_onboarding.domain.ledger import GuestStatus, StepStatus
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.wire import decode_body

# Wide enough for the report when output is piped (CI logs), where rich would assume 80.
console = Console(width=None if Console().is_terminal else 132)

#: The demo tenant's B2B policy refuses this domain at first: its guest lands in poison, the
#: policy is fixed, and the console replays the message.
REFUSED_AT_FIRST = "wingtip.example"
#: Guests who accept their invitation during the demo (the report's redemption figures).
REDEEMING = ("ada@fabrikam.example", "judy@fabrikam.example")
#: Statuses a sample guest may end in.
SETTLED = frozenset({GuestStatus.INVITED, GuestStatus.EXISTING, GuestStatus.REDEEMED})
#: The guest HR offboards at the end of the demo (one of those who redeemed).
LEAVER = "judy@fabrikam.example"


def console_command() -> list[str]:
    """The installed ``guest-onboarding`` (``make setup``), else the same as a module."""
    script = Path(sys.executable).with_name("guest-onboarding")
    return [str(script)] if script.exists() else [sys.executable, "-m", "guest_console"]


#: The profile attributes the demo deployment writes (``GUEST_PROFILE_FIELDS``).
DEMO_SETTINGS = {"GUEST_PROFILE_FIELDS": "companyName,department"}


def run_console(settings_path: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run the console as an operator would, its output shown as it comes (``env`` added to
    its environment: the emulator's identity for ``plan``)."""
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    console.print(f"\n[bold cyan]$ guest-onboarding {escape(shown)}")
    sys.stdout.flush()
    command = [*console_command(), "--settings", str(settings_path), *args]
    environment = {**os.environ, **env} if env else None
    return subprocess.run(command, check=False, env=environment).returncode


def demo_tenant(workdir: Path, tenant_path: Path) -> Path:
    """The tenant seed with User.ReadWrite.All granted, as ``GUEST_PROFILE_FIELDS`` grants it."""
    seed = json.loads(tenant_path.read_text(encoding="utf-8"))
    permissions = seed.setdefault("identity", {}).setdefault("permissions", [])
    if "User.ReadWrite.All" not in permissions:
        permissions.append("User.ReadWrite.All")
    path = workdir / "tenant.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def _original_names(body: str, domain: str) -> bool:
    try:
        return f"@{domain}" in decode_body(body).lower()
    except InvalidMessage:
        return False


async def _poison(settings: Settings) -> list[PoisonItem]:
    """The invitations queue's poison as the console reads it (left on the queue, visible)."""
    queues = build_operator_queues(settings)
    try:
        return await read_poison(queues, [settings.invitations_queue])
    finally:
        await queues.close()


def _wait_for(statuses: dict[str, GuestStatus], stack: LocalStack, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = {e.email: e.status for e in stack.ledger_entries()}
        if all(rows.get(email) == status for email, status in statuses.items()):
            return True
        time.sleep(0.5)
    return False


def check_outcome(
    stack: LocalStack, accepted: dict[str, str], rejected_codes: Counter[str]
) -> list[str]:
    """What went wrong, if anything: every accepted guest settled with every step done, one
    email at most each and none to people who already had an account; in poison exactly the
    rows the console rejected (sent raw, as an HR system would), with the console's codes.
    ``accepted`` maps each guest to the file line that submitted it."""
    problems: list[str] = []
    ledger = {entry.email: entry for entry in stack.ledger_entries()}
    mailbox = Counter(normalize_address(m["to"]) for m in stack.emulator.control.mailbox())
    for email, where in sorted(accepted.items()):
        if email == LEAVER:
            continue  # offboarded at the end (``_one_leaver`` checks it)
        entry = ledger.get(email)
        if entry is None or entry.status not in SETTLED:
            problems.append(f"{where}: {email} is {entry.status if entry else 'not in the ledger'}")
            continue
        if any(step != StepStatus.DONE for step in entry.steps.values()):
            problems.append(f"{where}: {email} has steps not done")
        if mailbox[email] > 1:
            problems.append(f"{where}: {email} got {mailbox[email]} emails")
        if entry.status == GuestStatus.EXISTING and mailbox[email]:
            problems.append(f"{where}: {email} already had an account but got an email")
    poisoned = Counter(p["error"]["code"] for p in stack.poison(stack.invitations_queue))
    if poisoned != rejected_codes:
        problems.append(
            f"the app poisoned {dict(poisoned)}, the console rejected {dict(rejected_codes)}"
        )
    for step in stack.poison(stack.assignments_queue):
        problems.append(f"assignment step in poison: {step['error']['code']}")
    return problems


def _shown(path: Path) -> str:
    """``path`` as an operator would type it (relative to here when it can be)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(
    *,
    messages_path: Path,
    tenant_path: Path,
    timeout: float,
    report_dir: Path,
    portal_path: Path = SAMPLE_PORTAL_CSV_PATH,
    profiles_path: Path = SAMPLE_PROFILES_PATH,
) -> int:
    """Start everything; submit the samples with the console (JSON lines and the portal's
    CSV); send the rows it rejected raw, as an HR system would, to see the app refuse them
    with the same codes; replay what a tenant policy refused once it is fixed; let two guests
    redeem; print ``status`` and write the ``report``; stop everything. Before submitting,
    ``plan`` shows the groups each guest will land in; after, a guest onboarded with a profile
    alone is in the dynamic group its rule names, and ``status`` shows the profile. Returns 0
    when every accepted row was onboarded once, poison holds exactly the rejected rows and the
    profiled guest is in the dynamic group."""
    files = [Path(_shown(p)) for p in (messages_path, portal_path, profiles_path)]
    report_dir = Path(_shown(report_dir))
    with tempfile.TemporaryDirectory(prefix="guest-onboarding-demo-") as tmp:
        workdir = Path(tmp)
        console.print("[bold]Starting Azurite, the Graph emulator and the local Functions host…")
        started = time.monotonic()
        tenant = demo_tenant(workdir, tenant_path)
        with local_stack(workdir=workdir, tenant_path=tenant, overrides=DEMO_SETTINGS) as stack:
            console.print(f"  ready in {time.monotonic() - started:.1f} s")
            settings_path = workdir / "console.settings.json"
            settings_path.write_text(json.dumps({"Values": stack.settings}), encoding="utf-8")
            plan = prepare(files, Settings.from_env(stack.settings).policy)
            accepted = {a.email: f"{Path(a.path).name}:{a.line}" for a in plan.accepted}
            problems = _plan(stack, settings_path, files)
            problems += _onboard(stack, settings_path, files, timeout)
            problems += _in_the_dynamic_group(stack, settings_path)
            problems += _redeem_and_report(stack, settings_path, report_dir, workdir)
            problems += check_outcome(stack, accepted, Counter(r.code for r in plan.rejected))
    if problems:
        for problem in problems:
            console.print(f"[red]{escape(problem)}")
        console.print("[red bold]Something went wrong (above).")
        return 1
    page = (report_dir / "index.html").resolve()
    console.print(f"\n[bold]The report is at {escape(page.as_uri())}")
    console.print(
        f"[green bold]{len(accepted)} guests onboarded, each once; the {len(plan.rejected)} rows "
        "the console rejected were refused by the app with the same codes; the invitation the "
        "tenant's policy refused was replayed once the policy was fixed; the leaver kept none "
        "of the access this app granted, and cannot sign in."
    )
    return 0


def _plan(stack: LocalStack, settings_path: Path, files: list[Path]) -> list[str]:
    console.print(
        "\nBefore sending anything, the identity team asks where each guest will land: the "
        "tenant's dynamic groups by their rules, and the access profiles' groups."
    )
    code = run_console(
        settings_path, "plan", *map(str, files), env=stack.emulator.identity_environment()
    )
    return [] if code in (0, 1) else [f"plan exited {code}"]  # 1: rows rejected, as meant


def _in_the_dynamic_group(stack: LocalStack, settings_path: Path) -> list[str]:
    console.print(
        f"\n{PROFILED_GUEST} was sent with a profile and no group: Entra's rule for "
        f"{FABRIKAM_GUESTS!r} put them in it."
    )
    state = stack.emulator.control.state()
    guest = next((u for u in state["users"] if u.get("mail") == PROFILED_GUEST), None)
    group = next(g for g in state["groups"] if g["id"] == GROUP_FABRIKAM_GUESTS)
    problems = []
    if guest is None or guest["id"] not in group["members"]:
        problems.append(f"{PROFILED_GUEST} is not in the dynamic group {FABRIKAM_GUESTS!r}")
    if run_console(settings_path, "status", PROFILED_GUEST) != 0:
        problems.append(f"status {PROFILED_GUEST} failed")
    return problems


def _onboard(
    stack: LocalStack, settings_path: Path, files: list[Path], timeout: float
) -> list[str]:
    control = stack.emulator.control
    denied = control.invitation_policy()["deniedDomains"]
    control.set_invitation_policy(denied_domains=[*denied, REFUSED_AT_FIRST])
    console.print(f"The tenant's B2B policy refuses {REFUSED_AT_FIRST} for now.")
    problems = []
    submitted = run_console(settings_path, "submit", *map(str, files))
    if submitted not in (0, 1):  # 1: rows rejected, as the samples mean some to be
        problems.append(f"submit exited {submitted}")
    rows = [row for path in files for row in read_rows(path)]
    policy = Settings.from_env(stack.settings).policy
    rejected = [row for row in rows if isinstance(judge(row, policy), Rejected)]
    console.print(
        f"\nAn HR system that skips the console sends the {len(rejected)} rejected rows raw: "
        "the app refuses them into poison, with the same codes."
    )
    for row in rejected:
        stack.send(row.body)
    if not stack.wait_until_drained(timeout):
        problems.append(f"the queues did not drain within {timeout:.0f} s")
    run_console(settings_path, "poison", "list")
    codes = {
        item.code
        for item in asyncio.run(_poison(Settings.from_env(stack.settings)))
        if _original_names(item.rejection.original, REFUSED_AT_FIRST)
    }
    if not codes:
        problems.append(f"no poison for {REFUSED_AT_FIRST} to replay")
    console.print(f"\nThe identity team lifts the policy on {REFUSED_AT_FIRST}, then replays:")
    control.set_invitation_policy(denied_domains=denied)
    for code in sorted(codes):
        if run_console(settings_path, "poison", "replay", "--code", code) != 0:
            problems.append(f"poison replay --code {code} failed")
    if not stack.wait_until_drained(timeout):
        problems.append(f"the queues did not drain within {timeout:.0f} s after the replay")
    return problems


def _one_leaver(stack: LocalStack, settings_path: Path, workdir: Path) -> list[str]:
    """HR offboards one guest (a line submitted with the console); the emulator's directory
    must then hold none of the access this app granted them, and their sign-in disabled."""
    console.print(f"\nHR offboards {LEAVER}: their access from this app goes, sign-in is disabled.")
    leavers = workdir / "leavers.jsonl"
    leavers.write_text(json.dumps({"email": LEAVER, "action": "offboard"}) + "\n", "utf-8")
    problems = []
    if run_console(settings_path, "submit", str(leavers)) != 0:
        problems.append("submit of the leaver failed")
    if not _wait_for({LEAVER: GuestStatus.OFFBOARDED}, stack, 60):
        problems.append(f"{LEAVER} was not offboarded")
    state = stack.emulator.control.state()
    user = next((u for u in state["users"] if u.get("mail") == LEAVER), None)
    if user is None:
        return [*problems, f"{LEAVER} is not in the directory"]
    groups = [g["id"] for g in state["groups"] if user["id"] in g["members"]]
    roles = [
        a["id"]
        for sp in state["servicePrincipals"]
        for a in sp["assignments"]
        if a["principalId"] == user["id"]
    ]
    if groups or roles:
        problems.append(f"{LEAVER} still has groups {groups} and app roles {roles}")
    if user.get("accountEnabled") is not False:
        problems.append(f"{LEAVER} can still sign in")
    return problems


def _redeem_and_report(
    stack: LocalStack, settings_path: Path, report_dir: Path, workdir: Path
) -> list[str]:
    problems = []
    console.print(f"\n{' and '.join(REDEEMING)} accept their invitations; the sweep runs.")
    for email in REDEEMING:
        stack.emulator.control.redeem(email=email)
    assert stack.host is not None
    response = httpx.post(
        f"{stack.host.admin_url}/admin/functions/resend_timer_fn", json={"input": ""}, timeout=120
    )
    if response.status_code != 202:
        problems.append(f"the sweep failed: {response.status_code} {response.text[:200]}")
    if not _wait_for(dict.fromkeys(REDEEMING, GuestStatus.REDEEMED), stack, 60):
        problems.append("the sweep did not record the redemptions")
    problems += _one_leaver(stack, settings_path, workdir)
    if run_console(settings_path, "status") != 0:
        problems.append("status failed")
    if run_console(settings_path, "report", "--out", str(report_dir)) != 0:
        problems.append("report failed")
    return problems


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
            "Submit from another terminal with the console (Azurite is its default):\n"
            "  .venv/bin/guest-onboarding --settings local.settings.example.json submit "
            "samples/portal_bulk_invite.csv\n"
            "  .venv/bin/guest-onboarding status\n"
            "or, raw, with the dev-only enqueue:\n"
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
