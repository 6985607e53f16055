"""The reminder sweep on fakes: due days, redemption, expiry, deletion, repeated sweeps."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import cast

import pytest

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.domain.schedule import ExpiredGuestAction, reminder_due
from guest_onboarding.entrypoints import handle_invitation_message, run_reminder_sweep
from guest_onboarding.errors import Refused
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import T0, Clock

GUESTS = [f"guest{i}@fabrikam.example" for i in range(5)]


def parts(rt: Runtime) -> tuple[FakeDirectory, FakeLedger, FakeOutbox]:
    return (
        cast(FakeDirectory, rt.directory),
        cast(FakeLedger, rt.ledger),
        cast(FakeOutbox, rt.outbox),
    )


async def invite_all(rt: Runtime) -> None:
    for i, email in enumerate(GUESTS):
        data = {"email": email, "redirectUrl": f"https://projectx.fabrikam.example/app{i}"}
        assert (
            await handle_invitation_message(body=json.dumps(data), message_id=f"m{i}", rt=rt)
            == "invited"
        )


async def sweep_and_send(rt: Runtime) -> list[str]:
    """Run the sweep, then invite_fn over the reminders it queued; the outcomes."""
    _, _, outbox = parts(rt)
    await run_reminder_sweep(rt=rt)
    outcomes = []
    while outbox.reminders:
        reminder = outbox.reminders.pop(0)
        body = json.dumps({"reminder": reminder.model_dump()})
        outcomes.append(await handle_invitation_message(body=body, message_id="r", rt=rt))
    return outcomes


@pytest.mark.parametrize(
    ("age_days", "scheduled", "expected"),
    [(2.9, 0, None), (3, 0, 1), (4, 1, None), (7, 1, 2), (8, 0, 2), (15, 3, None)],
)
def test_reminder_due_follows_the_schedule(
    age_days: float, scheduled: int, expected: int | None
) -> None:
    assert (
        reminder_due(
            first_sent_at=T0,
            reminders_scheduled=scheduled,
            reminder_days=(3, 7, 14),
            now=T0 + timedelta(days=age_days),
        )
        == expected
    )


async def test_schedule_over_a_month(rt: Runtime, clock: Clock) -> None:
    directory, ledger, _ = parts(rt)
    await invite_all(rt)
    assert len(directory.emails) == 5

    clock.now = T0 + timedelta(days=3)
    assert await sweep_and_send(rt) == ["sent"] * 5
    reminders = directory.emails[5:]
    assert [e.invitation.redirect_url for e in reminders] == [
        f"https://projectx.fabrikam.example/app{i}" for i in range(5)
    ]  # each guest's original redirect, not the default

    clock.now = T0 + timedelta(days=4)
    assert await sweep_and_send(rt) == []

    clock.now = T0 + timedelta(days=5)
    redeemer = next(u for u in directory.users.values() if u.mail == GUESTS[0])
    directory.users[redeemer.id] = dataclasses.replace(
        redeemer, external_user_state="Accepted", state_changed_at=clock.now
    )
    summary = await run_reminder_sweep(rt=rt)
    assert summary.redeemed == 1
    row = await ledger.get(GUESTS[0])
    assert row is not None and row.status == GuestStatus.REDEEMED and row.redeemed_at == clock.now

    clock.now = T0 + timedelta(days=7)
    assert await sweep_and_send(rt) == ["sent"] * 4
    assert directory.emails_to(GUESTS[0]) == 2  # the invitation and the day-3 reminder only

    clock.now = T0 + timedelta(days=31)  # the day-14 reminder was missed (no sweep ran)
    assert await sweep_and_send(rt) == ["sent"] * 4  # it goes out before anyone expires
    clock.now = T0 + timedelta(days=32)
    summary = await run_reminder_sweep(rt=rt)
    assert summary.expired == 4 and summary.deleted == 0
    for email in GUESTS[1:]:
        row = await ledger.get(email)
        assert row is not None and row.status == GuestStatus.EXPIRED
    assert await sweep_and_send(rt) == []  # expired guests get nothing more


async def test_expired_guests_deleted_at_most_the_bounded_number(
    settings: Settings, clock: Clock
) -> None:
    limited = dataclasses.replace(
        settings, expired_guest_action=ExpiredGuestAction.DELETE, max_deletions_per_run=3
    )
    rt = Runtime(
        settings=limited,
        directory=FakeDirectory(),
        ledger=FakeLedger(),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        clock=clock,
    )
    directory, ledger, _ = parts(rt)
    await invite_all(rt)
    clock.now = T0 + timedelta(days=14)
    assert await sweep_and_send(rt) == ["sent"] * 5  # the whole schedule went out
    clock.now = T0 + timedelta(days=30)
    first = await run_reminder_sweep(rt=rt)
    assert (first.expired, first.deleted, first.skipped_removals) == (5, 3, 2)
    second = await run_reminder_sweep(rt=rt)
    assert second.deleted == 2
    assert directory.users == {}
    statuses = {(await ledger.get(e)).status for e in GUESTS}  # type: ignore[union-attr]
    assert statuses == {GuestStatus.DELETED}


async def test_two_sweeps_at_the_same_instant_schedule_each_reminder_once(
    rt: Runtime, clock: Clock
) -> None:
    _, _, outbox = parts(rt)
    await invite_all(rt)
    clock.now = T0 + timedelta(days=3)
    first, second = await asyncio.gather(run_reminder_sweep(rt=rt), run_reminder_sweep(rt=rt))
    assert first.scheduled + second.scheduled == 5
    assert sorted(r.email for r in outbox.reminders) == GUESTS
    third = await run_reminder_sweep(rt=rt, past_due=True)  # a late timer firing again
    assert third.scheduled == 0


async def test_reminder_delivered_twice_sends_one_email(rt: Runtime, clock: Clock) -> None:
    directory, _, outbox = parts(rt)
    await invite_all(rt)
    clock.now = T0 + timedelta(days=3)
    await run_reminder_sweep(rt=rt)
    body = json.dumps({"reminder": outbox.reminders[0].model_dump()})
    assert await handle_invitation_message(body=body, message_id="r", rt=rt) == "sent"
    assert await handle_invitation_message(body=body, message_id="r", rt=rt) == "already_sent"
    assert directory.emails_to(GUESTS[0]) == 2


async def test_untracked_guests_left_alone_unless_enabled(settings: Settings, clock: Clock) -> None:
    """An adopted guest's schedule counts from adoption, however long they were pending."""
    for enabled, expected in ((False, 0), (True, 1)):
        rt = Runtime(
            settings=dataclasses.replace(settings, resend_untracked=enabled),
            directory=FakeDirectory(),
            ledger=FakeLedger(),
            outbox=FakeOutbox(),
            health=FakeTenantHealth(),
            clock=clock,
        )
        directory, _, _ = parts(rt)
        directory.add_user(
            "old@fabrikam.example", state="PendingAcceptance", since=T0 - timedelta(days=4)
        )
        clock.now = T0
        assert await sweep_and_send(rt) == []  # adopted (if enabled), day 0 of its schedule
        clock.now = T0 + timedelta(days=3)
        assert await sweep_and_send(rt) == ["sent"] * expected
        if enabled:
            assert (
                directory.emails[0].invitation.redirect_url == settings.policy.default_redirect_url
            )


async def test_one_failing_guest_does_not_stop_the_sweep(rt: Runtime, clock: Clock) -> None:
    directory, _, _ = parts(rt)
    await invite_all(rt)
    clock.now = T0 + timedelta(days=3)
    directory.fail_next["invite"] = [
        Refused("blocked", code="Authorization_RequestDenied", status=403)
    ]
    outcomes = await sweep_and_send(rt)
    assert outcomes.count("poisoned") == 1 and outcomes.count("sent") == 4


async def test_guest_gone_from_directory_becomes_removed(rt: Runtime, clock: Clock) -> None:
    directory, ledger, _ = parts(rt)
    await invite_all(rt)
    gone = next(u for u in directory.users.values() if u.mail == GUESTS[1])
    del directory.users[gone.id]
    assert (await run_reminder_sweep(rt=rt)).removed == 0  # just invited: maybe not replicated
    clock.now = T0 + timedelta(hours=1)
    summary = await run_reminder_sweep(rt=rt)
    assert summary.removed == 1
    row = await ledger.get(GUESTS[1])
    assert row is not None and row.status == GuestStatus.REMOVED
