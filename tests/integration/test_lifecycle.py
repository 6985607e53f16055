"""The guest lifecycle on the real adapters, the Graph emulator and its clock: sponsors at
invitation and for existing guests, escalation to the sponsor, disable before delete, a person
who comes back, redemption facts, and a Graph that refuses invitations for the whole tenant."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest

from devstack.seeds import ALAN, ALAN_MAIL, GRACE, GRACE_MAIL, GRACE_UPN, sample_tenant
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.domain.schedule import ExpiredGuestAction
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.integration.stack import Stack
from tests.integration.test_reminder_sweep import DAY, Calendar, follow_emulator_clock

pytestmark = pytest.mark.integration

NEW = "newcomer@partner.example"


def grant(stack: Stack, *permissions: str) -> None:
    """The emulated identity gets these Graph permissions on top of the usual ones."""
    seed = sample_tenant()
    seed["identity"]["permissions"] = [*seed["identity"]["permissions"], *permissions]
    stack.graph.control.reset(seed)


def configure(stack: Stack, **changes: object) -> None:
    """The runtime rebuilt on changed settings (what a restart with new app settings does)."""
    settings = dataclasses.replace(stack.settings, **changes)
    stack.rt = dataclasses.replace(stack.rt, settings=settings)


async def test_a_new_guest_gets_the_sponsors_the_message_names(stack: Stack) -> None:
    stack.send({"email": NEW, "sponsors": [GRACE_UPN]})
    assert await stack.drain() == ["invited"]
    assert stack.graph.control.user(NEW)["sponsors"] == [GRACE]
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.invitation is not None
    assert row.invitation.sponsors == (GRACE,) and row.sponsor_contact == GRACE_MAIL


@pytest.mark.parametrize(
    ("sponsors", "code"),
    [
        (["nobody@contoso.example"], "UnknownSponsor"),
        ([ALAN], "SponsorNotMember"),  # a guest cannot sponsor
        ([f"{i:08d}-0000-4000-8000-000000000000" for i in range(6)], "TooManySponsors"),
    ],
)
async def test_sponsors_who_cannot_sponsor_are_refused_before_anything_is_sent(
    stack: Stack, sponsors: list[str], code: str
) -> None:
    stack.send({"email": NEW, "sponsors": sponsors})
    assert await stack.drain() == ["rejected"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert poisoned["error"]["code"] == code
    assert stack.graph.control.counters()["requests"].get("POST /invitations", 0) == 0
    assert await stack.rt.ledger.get(NEW) is None


async def test_an_existing_guest_gets_sponsors_only_when_switched_on(stack: Stack) -> None:
    stack.send({"email": ALAN_MAIL, "sponsors": [GRACE]})
    assert await stack.drain() == ["existing"]
    assert stack.graph.control.user(ALAN)["sponsors"] == []  # off: recorded in the ledger only
    row = await stack.rt.ledger.get(ALAN_MAIL)
    assert row is not None and row.invitation is not None and row.invitation.sponsors == (GRACE,)

    grant(stack, "User.ReadWrite.All")
    configure(stack, add_sponsors_to_existing_users=True)
    stack.send({"email": ALAN_MAIL, "sponsors": [GRACE]})
    assert sorted(await stack.drain()) == ["already_onboarded", "done"]
    assert stack.graph.control.user(ALAN)["sponsors"] == [GRACE]


async def test_reminders_copy_the_sponsor_from_the_configured_one_on(stack: Stack) -> None:
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": NEW, "sponsors": [GRACE]})
    assert await stack.drain() == ["invited"]
    assert await calendar.sweep(3) == ["sent"]
    assert await calendar.sweep(7) == ["sent"]
    invitation, first, second = stack.graph.control.mailbox(to=NEW)
    assert invitation["cc"] == [] and first["cc"] == []
    assert second["cc"] == [GRACE_MAIL]  # SPONSOR_CC_FROM_REMINDER=2


async def test_disable_then_delete_after_the_grace_period(stack: Stack) -> None:
    grant(stack, "User.EnableDisableAccount.All", "User.DeleteRestore.All")
    configure(
        stack, expired_guest_action=ExpiredGuestAction.DISABLE_THEN_DELETE, delete_grace_days=10
    )
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": NEW})
    assert await stack.drain() == ["invited"]
    for day in (3, 7, 14):
        assert await calendar.sweep(day) == ["sent"]
    assert await calendar.sweep(31) == []
    assert stack.graph.control.user(NEW)["accountEnabled"] is False
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.status == GuestStatus.DISABLED
    assert await calendar.sweep(35) == []  # within the grace period: still there
    assert stack.graph.control.user(NEW)["accountEnabled"] is False
    calendar.move_to(41)
    summary = await run_reminder_sweep(rt=stack.rt)
    assert summary.deleted == 1
    with pytest.raises(KeyError):
        stack.graph.control.user(NEW)
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.status == GuestStatus.DELETED
    assert [line.split("@")[0] for line in row.history] == [
        "inviting",
        "invited",
        "expired",
        "disabled",
        "deleted",
    ]


async def test_a_person_who_returns_after_being_disabled_is_enabled_and_invited(
    stack: Stack,
) -> None:
    grant(stack, "User.EnableDisableAccount.All")
    configure(stack, expired_guest_action=ExpiredGuestAction.DISABLE)
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": NEW})
    await stack.drain()
    await calendar.sweep(14)
    await calendar.sweep(31)
    assert stack.graph.control.user(NEW)["accountEnabled"] is False
    stack.send({"email": NEW, "customizedMessageBody": "Welcome back"})
    assert await stack.drain() == ["invited"]
    assert stack.graph.control.user(NEW)["accountEnabled"] is True
    assert stack.graph.control.mailbox(to=NEW)[-1]["messageBody"] == "Welcome back"
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.status == GuestStatus.INVITED and row.reminders_scheduled == 0
    assert [line.split("@")[0] for line in row.history][-4:] == [
        "expired",
        "disabled",
        "inviting",
        "invited",
    ]


async def test_a_person_who_returns_after_expiry_gets_a_fresh_invitation(stack: Stack) -> None:
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": NEW})
    await stack.drain()
    await calendar.sweep(14)
    await calendar.sweep(31)
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.status == GuestStatus.EXPIRED
    emails = len(stack.graph.control.mailbox(to=NEW))
    stack.send({"email": NEW})
    assert await stack.drain() == ["invited"]
    assert len(stack.graph.control.mailbox(to=NEW)) == emails + 1


async def test_redemption_facts_are_recorded(stack: Stack) -> None:
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": NEW})
    await stack.drain()
    invited = stack.rt.clock()
    assert await calendar.sweep(3) == ["sent"]
    calendar.move_to(5)
    stack.graph.control.redeem(email=NEW)
    await calendar.sweep(6)
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and row.status == GuestStatus.REDEEMED
    assert row.redeemed_after_reminder == 1
    assert row.seconds_to_redeem is not None
    assert abs(row.seconds_to_redeem - 5 * DAY) < 60
    assert row.redeemed_at is not None and row.redeemed_at - invited >= timedelta(days=5)


async def test_a_tenant_wide_stop_holds_every_message_and_resumes_by_itself(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    configure(stack, tenant_stop_probe_seconds=1)
    stack.graph.control.set_invitation_policy(tenant_block="suspiciousActivity")
    guests = [f"g{i}@partner.example" for i in range(5)]
    for email in guests:
        stack.send({"email": email})
    outcomes = await stack.drain(rounds=3)
    assert "poisoned" not in outcomes and "rejected" not in outcomes
    # paused: back on the queue, not failed; the one delivery that recorded the stop says so
    assert set(outcomes) <= {"throttled", "tenant_stop"} and outcomes.count("tenant_stop") == 1
    assert stack.poison(stack.settings.invitations_queue) == []
    stopped = await stack.rt.health.invitations_stopped()
    assert stopped is not None and "suspicious activity" in stopped.message
    assert any("tenant_stop" in r.getMessage() for r in caplog.records)
    # one probe per interval reached Graph, not one call per message
    assert stack.graph.control.counters()["requests"]["POST /invitations"] <= 2

    stack.graph.control.set_invitation_policy(tenant_block=None)  # Microsoft support lifted it
    done: list[str] = []
    for _ in range(20):
        done += await stack.drain(rounds=3)
        if done.count("invited") == 5:
            break
        await asyncio.sleep(1.1)
    assert done.count("invited") == 5
    assert await stack.rt.health.invitations_stopped() is None
    assert stack.poison(stack.settings.invitations_queue) == []
    for email in guests:
        assert len(stack.graph.control.mailbox(to=email)) == 1


async def test_a_domain_refused_by_the_b2b_policy_is_poisoned_with_graphs_reason(
    stack: Stack,
) -> None:
    stack.graph.control.set_invitation_policy(denied_domains=["partner.example"])
    stack.send({"email": NEW})
    stack.send({"email": "ok@fabrikam.example"})
    assert sorted(await stack.drain()) == ["invited", "poisoned"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert json.loads(poisoned["original"])["email"] == NEW
    assert poisoned["error"]["status"] == "400"
    assert "partner.example" in poisoned["error"]["message"]
    assert await stack.rt.health.invitations_stopped() is None  # one domain, not the tenant
