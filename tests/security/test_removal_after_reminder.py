"""Removal never follows a reminder sooner than the schedule meant: after a sweep outage the
overdue last reminder goes out late, and the guest it asks to redeem keeps at least
``PENDING_EXPIRY_DAYS`` minus the last ``REMINDER_DAYS`` entry from it before the sweep disables
or deletes them (issue 24, item 10). The oracle is the account: whether the directory (the fake
tenant, or the Graph emulator's state) still has it enabled, and the emails it received."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from guest_onboarding.domain.schedule import ExpiredGuestAction
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.integration.stack import Stack
from tests.integration.test_lifecycle import grant
from tests.integration.test_reminder_sweep import DAY, Calendar, follow_emulator_clock
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
#: Defaults: reminders on days 3, 7 and 14, expiry after 30 days: 16 days after the last one.
AFTER_LAST_REMINDER = timedelta(days=30 - 14)


def account(tenant: Tenant) -> str:
    """What the directory holds for Ada: ``enabled``, ``disabled`` or ``deleted``."""
    user = next((u for u in tenant.directory.users.values() if u.mail == ADA), None)
    if user is None:
        return "deleted"
    return "enabled" if user.account_enabled else "disabled"


async def outage_then_the_overdue_last_reminder(tenant: Tenant) -> None:
    """Ada invited on day 0 and reminded on day 3; no sweep ran from day 4 to day 40; on day 40
    the sweep sends the overdue last reminder (one, not a burst)."""
    assert await tenant.invite({"email": ADA}) == "invited"
    tenant.clock.now = T0 + timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    tenant.clock.now = T0 + timedelta(days=40)
    assert await tenant.sweep_and_remind() == ["sent"]
    assert tenant.directory.emails_to(ADA) == 3


@pytest.mark.parametrize("action", ["disable", "delete", "disable-then-delete"])
@pytest.mark.parametrize("later", [timedelta(seconds=5), timedelta(days=1), timedelta(days=15)])
async def test_the_sweep_after_an_overdue_last_reminder_leaves_the_account_alone(
    action: str, later: timedelta
) -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION=action)
    await outage_then_the_overdue_last_reminder(tenant)
    reminded_at = tenant.clock.now
    tenant.clock.now = reminded_at + later
    summary = await run_reminder_sweep(rt=tenant.rt)
    assert (summary.disabled, summary.deleted) == (0, 0)
    assert account(tenant) == "enabled"
    # The schedule's own gap has passed: now the removal goes ahead (the rule does not just
    # switch removal off).
    tenant.clock.now = reminded_at + AFTER_LAST_REMINDER
    await run_reminder_sweep(rt=tenant.rt)
    assert account(tenant) == ("disabled" if action != "delete" else "deleted")


async def test_an_adopted_guest_reminded_late_keeps_the_same_time() -> None:
    tenant = make_tenant(RESEND_UNTRACKED="true", EXPIRED_GUEST_ACTION="disable")
    tenant.directory.add_user(ADA, state="PendingAcceptance", since=T0 - timedelta(days=90))
    await run_reminder_sweep(rt=tenant.rt)  # adopted: the schedule counts from now
    tenant.clock.now = T0 + timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    tenant.clock.now = T0 + timedelta(days=45)  # an outage, then the overdue reminder
    assert await tenant.sweep_and_remind() == ["sent"]
    reminded_at = tenant.clock.now
    tenant.clock.now = reminded_at + timedelta(minutes=1)
    await run_reminder_sweep(rt=tenant.rt)
    assert account(tenant) == "enabled"
    tenant.clock.now = reminded_at + AFTER_LAST_REMINDER
    await run_reminder_sweep(rt=tenant.rt)
    assert account(tenant) == "disabled"


async def test_a_schedule_that_went_out_on_time_still_ends_on_time() -> None:
    """The rule adds nothing to a schedule sent on its days: removal at day 30, as before."""
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable")
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == ["sent"]
    tenant.clock.now = T0 + timedelta(days=29, hours=23)
    await run_reminder_sweep(rt=tenant.rt)
    assert account(tenant) == "enabled"
    tenant.clock.now = T0 + timedelta(days=30)
    await run_reminder_sweep(rt=tenant.rt)
    assert account(tenant) == "disabled"


@pytest.mark.integration
async def test_on_the_emulator_the_guest_reminded_late_is_not_disabled_seconds_later(
    stack: Stack,
) -> None:
    grant(stack, "User.EnableDisableAccount.All")
    stack.rt.settings = dataclasses.replace(
        stack.settings, expired_guest_action=ExpiredGuestAction.DISABLE
    )
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    stack.send({"email": ADA})
    assert await stack.drain() == ["invited"]
    assert await calendar.sweep(3) == ["sent"]
    assert await calendar.sweep(40) == ["sent"]  # the overdue last reminder, after an outage
    assert len(stack.graph.control.mailbox(to=ADA)) == 3
    stack.graph.control.advance_clock(5)  # the next sweep, seconds later
    await run_reminder_sweep(rt=stack.rt)
    assert stack.graph.control.user(ADA)["accountEnabled"] is True
    stack.graph.control.advance_clock(AFTER_LAST_REMINDER.total_seconds() - 5 - DAY)
    await run_reminder_sweep(rt=stack.rt)
    assert stack.graph.control.user(ADA)["accountEnabled"] is True
    stack.graph.control.advance_clock(DAY)
    await run_reminder_sweep(rt=stack.rt)
    assert stack.graph.control.user(ADA)["accountEnabled"] is False
