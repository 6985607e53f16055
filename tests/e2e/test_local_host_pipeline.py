"""Messages on real queues, run by the local Functions host: what a deployment would do."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devstack.demo import run_demo
from devstack.seeds import (
    ACCESS_PROFILE,
    GROUP_PARTNERS,
    PORTAL_SP,
    READER_ROLE,
    SAMPLE_MESSAGES_PATH,
    SAMPLE_TENANT_PATH,
    sample_tenant,
)
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from devstack.stack import LocalStack, local_stack

pytestmark = pytest.mark.e2e


def guest_message(i: int) -> dict[str, object]:
    return {
        "email": f"guest{i}@partner.example",
        "displayName": f"Guest {i}",
        "accessProfiles": [ACCESS_PROFILE],
        "groups": [GROUP_PARTNERS],
        "externalId": f"HR-{i:06d}",
    }


def assert_onboarded(local: LocalStack, emails: list[str]) -> None:
    """Each guest: exactly one email, both groups, the app role; nothing in poison."""
    control = local.emulator.control
    sent = Counter(m["to"] for m in control.mailbox())
    state = control.state()
    users = {u["mail"]: u["id"] for u in state["users"]}
    members = {g["id"]: set(g["members"]) for g in state["groups"]}
    roles = {
        (a["principalId"], a["appRoleId"])
        for sp in state["servicePrincipals"]
        if sp["id"] == PORTAL_SP
        for a in sp["assignments"]
    }
    for email in emails:
        assert sent[email] == 1, email
        user_id = users[email]
        assert user_id in members[GROUP_X] and user_id in members[GROUP_PARTNERS], email
        assert (user_id, READER_ROLE) in roles, email
    assert local.poison(local.invitations_queue) == []
    assert local.poison(local.assignments_queue) == []


def test_onboarding_completes_through_5xx_replication_lag_and_throttling(
    tmp_path: Path,
) -> None:
    """503s everywhere (POST /invitations included, where the outcome is unknown: those wait for
    the user to replicate, then invite again), replication lag and a throttled burst: every
    guest onboarded with one email, nothing in poison, no operator step."""
    overrides = {"INVITE_REPLICATION_WAIT_SECONDS": "5"}
    with local_stack(workdir=tmp_path, message_lease=4, overrides=overrides) as local:
        control = local.emulator.control
        control.set_faults(
            errors=[{"endpoint": "*", "rate": 0.10, "kind": "status", "status": 503}],
            replication_lag_ms=2000,
            seed=7,
        )
        # a burst over a small write bucket: 20 guests need 80 writes, the bucket holds 15
        control.set_limits(throttling=True, writes_per_window=15, window_seconds=5)
        emails = []
        for i in range(20):
            local.send(json.dumps(guest_message(i)))
            emails.append(f"guest{i}@partner.example")
        assert local.wait_until_drained(timeout=240)
        counters = control.counters()
        assert counters["throttled"] > 0  # the burst really was throttled
        assert_onboarded(local, emails)


def test_host_killed_after_the_invitation_then_redelivered(local: LocalStack) -> None:
    control = local.emulator.control
    # the invitation is applied (the email goes out), then the answer hangs: kill the host then
    control.set_faults(
        errors=[
            {
                "endpoint": "POST /invitations",
                "rate": 1.0,
                "kind": "slow",
                "delayMs": 20_000,
                "count": 1,
            }
        ]
    )
    local.send(json.dumps(guest_message(1)))
    deadline = time.monotonic() + 30
    while not control.mailbox(to="guest1@partner.example"):
        assert time.monotonic() < deadline, "the invitation never went out"
        time.sleep(0.1)
    local.kill_host()
    local.start_host()
    assert local.wait_until_drained(timeout=60)
    assert_onboarded(local, ["guest1@partner.example"])
    assert control.counters()["requests"]["POST /invitations"] == 1


def test_same_message_delivered_three_times_by_the_host(local: LocalStack) -> None:
    for _ in range(3):
        local.send(json.dumps(guest_message(2)))
    assert local.wait_until_drained(timeout=60)
    assert_onboarded(local, ["guest2@partner.example"])


def test_sweep_through_the_admin_api_reminds_an_untracked_pending_guest(
    local: LocalStack,
) -> None:
    """The timer function run by the host (Core Tools' admin API), on real time: a guest
    invited four days ago by someone else is adopted once RESEND_UNTRACKED is on."""
    four_days_ago = (datetime.now(UTC) - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    seed = sample_tenant()
    seed["users"].append(
        {
            "mail": "old@partner.example",
            "displayName": "Old Guest",
            "userType": "Guest",
            "creationType": "Invitation",
            "externalUserState": "PendingAcceptance",
            "externalUserStateChangeDateTime": four_days_ago,
            "createdDateTime": four_days_ago,
        }
    )
    local.emulator.control.reset(seed)
    local.stop_host()
    local.settings["RESEND_UNTRACKED"] = "true"
    host = local.start_host()
    response = httpx.post(
        f"{host.admin_url}/admin/functions/resend_timer_fn", json={"input": ""}, timeout=60
    )
    assert response.status_code == 202, response.text
    assert local.wait_until_drained(timeout=60)
    # adopted: tracked from now, its reminders counted from today (none is due yet)
    assert local.emulator.control.mailbox(to="old@partner.example") == []
    [row] = [e for e in local.ledger_entries() if e.email == "old@partner.example"]
    assert row.status == "untracked" and row.reminders_scheduled == 0
    assert row.invitation is not None
    assert row.invitation.redirect_url == "https://myapps.microsoft.com"
    assert row.first_sent_at is not None
    assert abs((row.first_sent_at - datetime.now(UTC)).total_seconds()) < 120


def test_make_demo_onboards_the_samples(tmp_path: Path) -> None:
    assert (
        run_demo(
            messages_path=SAMPLE_MESSAGES_PATH,
            tenant_path=SAMPLE_TENANT_PATH,
            timeout=120,
            report_dir=tmp_path / "report",
        )
        == 0
    )
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert written == [
        "funnel.png",
        "index.html",
        "poison.png",
        "reminders.png",
        "time_to_redeem.png",
    ]


def test_a_tenant_wide_stop_holds_the_queue_through_the_host_and_resumes(tmp_path: Path) -> None:
    """Invitations blocked for the directory: through the real host, nothing is poisoned and
    nothing lost; messages wait; one probe per interval; the first success resumes them all."""
    overrides = {"TENANT_STOP_PROBE_SECONDS": "2"}
    with local_stack(workdir=tmp_path, message_lease=4, overrides=overrides) as local:
        control = local.emulator.control
        control.set_invitation_policy(tenant_block="suspiciousActivity")
        emails = [f"held{i}@partner.example" for i in range(5)]
        started = time.monotonic()
        for email in emails:
            local.send(json.dumps({"email": email}))
        deadline = started + 60
        while not control.counters()["requests"].get("POST /invitations"):
            assert time.monotonic() < deadline, "no invitation was tried"
            time.sleep(0.5)
        time.sleep(6)
        probes = control.counters()["requests"].get("POST /invitations", 0)
        elapsed = time.monotonic() - started
        assert local.pending_messages() >= 5  # every message held (a re-queued copy may overlap)
        assert local.poison(local.invitations_queue) == []
        assert control.mailbox() == []
        # the first deliveries before the stop was known, then about one probe per 2 s interval
        # across all deliveries: not one per delivery (deliveries come back every ~2 s each)
        assert 1 <= probes <= len(emails) + elapsed / 2 + 1
        control.set_invitation_policy(tenant_block=None)
        assert local.wait_until_drained(timeout=180)
        sent = Counter(m["to"] for m in control.mailbox())
        assert all(sent[email] == 1 for email in emails)
        assert local.poison(local.invitations_queue) == []
