"""Email wins (issue 24, item 3). A message with ``sendInvitationMessage: false`` sent before HR's
real one must not leave the guest without the invitation email, the reminders and the time the
schedule owes them before any removal: for a pending guest, a message that asks for the email
gets it, once, even redelivered or concurrent; no later message switches reminders off again;
an adopted guest (``RESEND_UNTRACKED``) gets the whole schedule whatever an earlier message said.
Oracles: the emails the fake tenant (or the Graph emulator's mailbox) sent, and whether the
account is still enabled."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from devstack.seeds import GROUP_PARTNERS
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.errors import Throttled
from tests.integration.stack import Stack
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
#: The attacker's message: same guest, no email.
SILENT = {"email": ADA, "sendInvitationMessage": False}
#: HR's real message.
HR = {
    "email": ADA,
    "groups": [GROUP_PARTNERS],
    "redirectUrl": "https://projectx.fabrikam.example/welcome",
    "customizedMessageBody": "Welcome to Project X.",
}


def emails(tenant: Tenant) -> int:
    return tenant.directory.emails_to(ADA)


def account_enabled(tenant: Tenant) -> bool:
    user = next(u for u in tenant.directory.users.values() if u.mail == ADA)
    return bool(user.account_enabled)


async def test_a_silent_message_first_does_not_take_the_email_from_hrs() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    assert emails(tenant) == 0
    assert await tenant.invite(HR, "hr") == "emailed"
    assert emails(tenant) == 1
    [sent] = tenant.directory.emails
    assert sent.invitation.redirect_url == HR["redirectUrl"]  # what HR's message says
    assert sent.invitation.message_body == HR["customizedMessageBody"]
    assert await tenant.drain_assignments() == ["done"]  # and HR's groups


async def test_the_owed_email_goes_out_once_however_often_hr_is_delivered() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    assert await tenant.invite(HR, "hr") == "emailed"
    assert await tenant.invite(HR, "hr") == "already_onboarded"  # redelivered
    assert await tenant.invite(HR, "hr-copy") == "already_onboarded"  # sent twice by HR
    assert emails(tenant) == 1


async def test_concurrent_copies_of_hrs_message_send_one_email() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    outcomes = await asyncio.gather(*(tenant.invite(HR, f"hr-{i}") for i in range(5)))
    assert outcomes.count("emailed") == 1
    assert set(outcomes) <= {"emailed", "deferred", "already_onboarded"}
    for body, _delay in list(tenant.outbox.requeued):  # the deferred copies come back
        assert await tenant.invite(body, "again") == "already_onboarded"
    assert emails(tenant) == 1


async def test_a_throttled_owed_email_is_released_and_sent_by_the_copy() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    tenant.directory.fail_next["invite"] = [Throttled("slow down", retry_after=5, status=429)]
    assert await tenant.invite(HR, "hr") == "throttled"
    assert emails(tenant) == 0
    assert await tenant.invite(HR, "hr") == "emailed"
    assert emails(tenant) == 1


async def test_no_later_message_switches_the_reminders_off() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    assert await tenant.invite(HR, "hr") == "emailed"
    assert await tenant.invite(SILENT, "attacker-again") == "already_onboarded"
    sent = []
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        sent += await tenant.sweep_and_remind()
    assert sent == ["sent", "sent", "sent"]
    assert emails(tenant) == 4  # the invitation HR asked for, then the whole schedule


async def test_the_schedule_before_removal_counts_from_the_email() -> None:
    """The attacker's silent invitation on day 0, HR's message on day 25: the guest is not
    disabled on day 30 with no reminder, but gets the whole schedule from day 25 first."""
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable")
    assert await tenant.invite(SILENT, "attacker") == "invited"
    tenant.clock.now = T0 + timedelta(days=25)
    assert await tenant.invite(HR, "hr") == "emailed"
    emailed_at = tenant.clock.now
    for day in (28, 30, 32, 39, 50, 54):  # reminders on days 25 + 3, 7 and 14
        tenant.clock.now = T0 + timedelta(days=day)
        await tenant.sweep_and_remind()
        assert account_enabled(tenant), day
    assert emails(tenant) == 4
    tenant.clock.now = emailed_at + timedelta(days=30)
    await run_reminder_sweep(rt=tenant.rt)
    assert not account_enabled(tenant)  # the schedule ran its course: now, not before


async def test_a_racing_silent_message_that_claimed_first_loses_the_email_to_hr() -> None:
    """The attacker's message claims the row first and its invitation's outcome is unknown (the
    host died). HR's message, arriving after the claim's lease, finds the user the silent
    invitation created, records it as silent, and still gets HR its email."""
    tenant = make_tenant()
    user = tenant.directory.add_user(ADA, state="PendingAcceptance")  # what Graph did
    await tenant.ledger.claim(
        LedgerEntry(
            email=ADA,
            status=GuestStatus.INVITING,
            invitation=Invitation(redirect_url="https://myapps.microsoft.com", send_message=False),
            claim_token="attacker",
            claimed_at=T0,
            created_at=T0,
        )
    )
    tenant.clock.now = T0 + timedelta(minutes=5)
    assert await tenant.invite(HR, "hr") == "deferred"  # recorded as sent without an email
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id == user.id and row.send_count == 0
    assert await tenant.invite(HR, "hr") == "emailed"
    assert emails(tenant) == 1


async def test_an_adopted_guest_gets_the_whole_schedule_whatever_a_silent_message_said() -> None:
    """RESEND_UNTRACKED: a guest someone else invited is adopted by the sweep. A silent message
    for them first must not make the adoption skip the reminders owed before removal."""
    tenant = make_tenant(RESEND_UNTRACKED="true", EXPIRED_GUEST_ACTION="disable")
    tenant.directory.add_user(ADA, state="PendingAcceptance", since=T0 - timedelta(days=60))
    assert await tenant.invite(SILENT, "attacker") == "existing"
    await run_reminder_sweep(rt=tenant.rt)  # adopted now
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.UNTRACKED
    sent = []
    for day in (3, 7, 14, 29):
        tenant.clock.now = T0 + timedelta(days=day)
        sent += await tenant.sweep_and_remind()
        assert account_enabled(tenant), day
    assert sent == ["sent", "sent", "sent"]
    tenant.clock.now = T0 + timedelta(days=30)
    await run_reminder_sweep(rt=tenant.rt)
    assert not account_enabled(tenant)


async def test_a_redeemed_guest_is_not_emailed() -> None:
    tenant = make_tenant()
    assert await tenant.invite(SILENT, "attacker") == "invited"
    user = next(u for u in tenant.directory.users.values() if u.mail == ADA)
    tenant.directory.users[user.id] = dataclasses.replace(user, external_user_state="Accepted")
    assert await tenant.invite(HR, "hr") == "already_onboarded"
    assert emails(tenant) == 0


@pytest.mark.integration
async def test_on_the_emulator_hrs_message_after_a_silent_one_sends_one_email(
    stack: Stack,
) -> None:
    stack.send(SILENT)
    assert await stack.drain() == ["invited"]
    assert stack.graph.control.mailbox(to=ADA) == []
    stack.send(HR)
    stack.send(HR)  # HR sent it twice
    outcomes = await stack.drain()
    assert outcomes.count("emailed") == 1 and outcomes.count("already_onboarded") == 1
    [mail] = stack.graph.control.mailbox(to=ADA)
    assert mail["redirectUrl"] == HR["redirectUrl"]
    assert mail["messageBody"] == HR["customizedMessageBody"]
    row = await stack.rt.ledger.get(ADA)
    assert row is not None and row.send_count == 1 and row.invitation is not None
    assert row.invitation.send_message is True
