"""The reminder sweep through the real adapters, driven by the Graph emulator's clock: reminders
carry each guest's original redirect URL, redemption stops them, expiry ends them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest

from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.domain.schedule import ExpiredGuestAction
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

DAY = 86_400
GUESTS = [f"guest{i}@partner{i}.example" for i in range(5)]
SEED = Path(__file__).resolve().parents[2] / "samples" / "tenant.json"
DEFAULT_PERMISSIONS = [
    "User.Invite.All",
    "User.Read.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
]


def follow_emulator_clock(stack: Stack) -> None:
    """Handlers read time from the emulator, so moving its clock moves the whole system."""
    control = stack.graph.control

    def now() -> datetime:
        return datetime.fromisoformat(control.now().replace("Z", "+00:00"))

    stack.rt.clock = now


async def invite_five(stack: Stack) -> None:
    for i, email in enumerate(GUESTS):
        stack.send(
            {
                "email": email,
                "redirectUrl": f"https://projectx.fabrikam.example/app{i}",
                "customizedMessageBody": f"Welcome guest {i}",
            }
        )
    outcomes = await stack.drain()
    assert outcomes.count("invited") == 5


def reminders_to(stack: Stack, email: str) -> list[dict[str, object]]:
    return stack.graph.control.mailbox(to=email)[1:]  # the first email is the invitation


class Calendar:
    """Days since the invitations, kept in step with the emulator's clock."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.day = 0

    def move_to(self, day: int) -> None:
        self.stack.graph.control.advance_clock((day - self.day) * DAY)
        self.day = day

    async def sweep(self, day: int) -> list[str]:
        """Move to ``day``, sweep, and deliver what the sweep queued."""
        self.move_to(day)
        await run_reminder_sweep(rt=self.stack.rt)
        return await self.stack.drain()


async def test_reminders_over_a_month(stack: Stack) -> None:
    follow_emulator_clock(stack)
    calendar = Calendar(stack)
    await invite_five(stack)

    assert await calendar.sweep(3) == ["sent"] * 5
    for i, email in enumerate(GUESTS):
        [reminder] = reminders_to(stack, email)
        assert reminder["redirectUrl"] == f"https://projectx.fabrikam.example/app{i}"
        assert reminder["messageBody"] == f"Welcome guest {i}"

    assert await calendar.sweep(4) == []

    calendar.move_to(5)
    stack.graph.control.redeem(email=GUESTS[0])
    redeemed_at = stack.rt.clock()

    assert await calendar.sweep(7) == ["sent"] * 4
    assert len(reminders_to(stack, GUESTS[0])) == 1  # never reminded after redeeming
    row = await stack.rt.ledger.get(GUESTS[0])
    assert row is not None and row.status == GuestStatus.REDEEMED
    assert row.redeemed_at is not None and abs((row.redeemed_at - redeemed_at).total_seconds()) < 1

    # No sweep ran on day 14: on day 31 that last reminder goes out first (nobody expires before
    # their whole schedule), and the guests expire at the next sweep.
    assert await calendar.sweep(31) == ["sent"] * 4
    assert await calendar.sweep(32) == []
    for email in GUESTS[1:]:
        row = await stack.rt.ledger.get(email)
        assert row is not None and row.status == GuestStatus.EXPIRED
        assert len(reminders_to(stack, email)) == 3
        assert row.send_count == 4 and row.reminders_sent == 3


async def test_expired_guests_deleted_when_enabled(stack: Stack) -> None:
    seed = json.loads(SEED.read_text())
    seed["identity"] = {
        **seed.get("identity", {}),
        "permissions": [*DEFAULT_PERMISSIONS, "User.ReadWrite.All"],
    }
    stack.graph.control.reset(seed)
    stack.rt.settings = dataclasses.replace(
        stack.settings, expired_guest_action=ExpiredGuestAction.DELETE
    )
    follow_emulator_clock(stack)
    await invite_five(stack)
    stack.graph.control.advance_clock(14 * DAY)
    assert (await run_reminder_sweep(rt=stack.rt)).scheduled == 5
    assert await stack.drain() == ["sent"] * 5  # the whole schedule went out
    stack.graph.control.advance_clock(17 * DAY)
    summary = await run_reminder_sweep(rt=stack.rt)
    assert (summary.expired, summary.deleted) == (5, 5)
    remaining = {u["mail"] for u in stack.graph.control.state()["users"]}
    assert remaining.isdisjoint(GUESTS)
    row = await stack.rt.ledger.get(GUESTS[0])
    assert row is not None and row.status == GuestStatus.DELETED


async def test_deletion_without_the_permission_fails_per_guest_not_the_sweep(stack: Stack) -> None:
    stack.rt.settings = dataclasses.replace(
        stack.settings, expired_guest_action=ExpiredGuestAction.DELETE
    )
    follow_emulator_clock(stack)
    await invite_five(stack)
    stack.graph.control.advance_clock(14 * DAY)
    await run_reminder_sweep(rt=stack.rt)
    await stack.drain()
    stack.graph.control.advance_clock(17 * DAY)
    summary = await run_reminder_sweep(rt=stack.rt)
    assert summary.expired == 5 and summary.deleted == 0 and summary.errors == 5
    assert {u["mail"] for u in stack.graph.control.state()["users"]} >= set(GUESTS)


async def test_two_sweeps_at_the_same_instant_send_no_duplicate(stack: Stack) -> None:
    follow_emulator_clock(stack)
    await invite_five(stack)
    stack.graph.control.advance_clock(3 * DAY)
    first, second = await asyncio.gather(
        run_reminder_sweep(rt=stack.rt), run_reminder_sweep(rt=stack.rt, past_due=True)
    )
    assert first.scheduled + second.scheduled == 5
    assert await stack.drain() == ["sent"] * 5
    for email in GUESTS:
        assert len(reminders_to(stack, email)) == 1


async def test_permanent_resend_failure_poisons_that_guest_only(stack: Stack) -> None:
    follow_emulator_clock(stack)
    await invite_five(stack)
    stack.graph.control.advance_clock(3 * DAY)
    await run_reminder_sweep(rt=stack.rt)
    # the tenant starts refusing one guest's domain between the sweep and the resend
    seed = json.loads(SEED.read_text())
    seed.setdefault("tenant", {})["blockedDomains"] = ["partner0.example"]
    users = stack.graph.control.state()["users"]
    stack.graph.control.reset({**seed, "users": users})
    outcomes = await stack.drain()
    assert sorted(outcomes) == ["poisoned"] + ["sent"] * 4
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert json.loads(poisoned["original"])["reminder"]["email"] == GUESTS[0]
    assert poisoned["error"]["status"] == "400"
    for email in GUESTS[1:]:  # the reset emptied the mailbox: what is there is the reminder
        assert len(stack.graph.control.mailbox(to=email)) == 1
