"""Two deliveries that really race: every guarded write (the invitation claim, the reminder
claim, the sweep's schedule, its removal decision, a sponsor addition) is reached by two
deliveries that both read the row before either writes (``tests/fakes.Rendezvous`` holds each
at its write until the other has read), or is held while another delivery changes the row
(``Hold``). The oracle is the harm: emails sent, reminders queued, accounts disabled or deleted,
sponsors linked in the directory. Each test fails when its write's etag is dropped (issue 27;
the list of checks is in the report of that issue's branch). The budget claim's race and an
invitation claim's race on the real Table adapter are in tests/integration/test_races_on_azurite.py.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from guest_onboarding.domain.changes import (
    Disabled,
    ReminderClaimed,
    ReminderScheduled,
    SponsorsRecorded,
)
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.fakes import Hold, Rendezvous
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"


async def row(tenant: Tenant) -> LedgerEntry:
    entry = await tenant.ledger.get(ADA)
    assert entry is not None
    return entry


async def deliver_reminders(tenant: Tenant) -> list[str]:
    outcomes = []
    while tenant.outbox.reminders:
        reminder = tenant.outbox.reminders.pop(0)
        outcomes.append(await tenant.invite({"reminder": reminder.model_dump()}, "r"))
    return outcomes


async def test_two_deliveries_of_a_new_guest_claiming_at_once_send_one_email(
    tenant: Tenant,
) -> None:
    race = Rendezvous(operation="claim", key=ADA)
    tenant.ledger.hooks.append(race)
    outcomes = await asyncio.gather(
        tenant.invite({"email": ADA}, "m1"), tenant.invite({"email": ADA}, "m2")
    )
    assert race.met
    assert sorted(outcomes) == ["deferred", "invited"]
    assert tenant.directory.emails_to(ADA) == 1
    assert tenant.directory.calls.count("invite") == 1


async def test_two_messages_bringing_back_an_expired_guest_send_one_invitation() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="none")
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7, 14, 31):
        tenant.clock.now = T0 + timedelta(days=day)
        await tenant.sweep_and_remind()
    assert (await row(tenant)).status == GuestStatus.EXPIRED
    before = tenant.directory.emails_to(ADA)
    race = Rendezvous(operation="take_over", key=ADA)  # the new row replaces the expired one
    tenant.ledger.hooks.append(race)
    outcomes = await asyncio.gather(
        tenant.invite({"email": ADA}, "back-1"), tenant.invite({"email": ADA}, "back-2")
    )
    assert race.met
    assert sorted(outcomes) == ["deferred", "invited"]
    assert tenant.directory.emails_to(ADA) == before + 1


async def test_a_deferred_copy_delivered_at_once_while_the_invitation_is_in_flight_sends_nothing(
    tenant: Tenant,
) -> None:
    """The queue hands the re-queued copy to another instance at once, while the claim's holder
    is still inside POST /invitations: the copy waits again, and one email goes out."""
    in_flight = Hold(operation="invite", key=ADA)
    tenant.directory.hooks.append(in_flight)
    copies: list[str] = []
    started = 0

    async def deliver_copy_now(operation: str, key: str, what: object) -> None:
        nonlocal started
        if operation == "requeue_invitation" and isinstance(what, str) and started < 3:
            started += 1  # the copy's own deferral is delivered at once too, three deep
            copies.append(await tenant.invite(what, f"copy-{started}"))

    first = asyncio.create_task(tenant.invite({"email": ADA}, "m1"))
    await asyncio.wait_for(in_flight.reached.wait(), 5)
    tenant.outbox.hooks.append(deliver_copy_now)
    assert await tenant.invite({"email": ADA}, "m2") == "deferred"
    in_flight.release()
    assert await first == "invited"
    assert copies and set(copies) == {"deferred"}
    assert tenant.directory.emails_to(ADA) == 1


async def test_two_deliveries_of_one_reminder_claiming_at_once_send_one_email(
    tenant: Tenant,
) -> None:
    assert await tenant.invite({"email": ADA}) == "invited"
    tenant.clock.now = T0 + timedelta(days=3)
    await run_reminder_sweep(rt=tenant.rt)
    [reminder] = tenant.outbox.reminders
    body = json.dumps({"reminder": reminder.model_dump()})
    race = Rendezvous(operation="update", key=ADA, change=ReminderClaimed)
    tenant.ledger.hooks.append(race)
    outcomes = await asyncio.gather(tenant.invite(body, "copy-1"), tenant.invite(body, "copy-2"))
    assert race.met
    assert sorted(outcomes) == ["already_sent", "sent"]
    assert tenant.directory.emails_to(ADA) == 2  # the invitation and one reminder


async def test_two_sweeps_scheduling_one_reminder_at_once_queue_it_once(tenant: Tenant) -> None:
    assert await tenant.invite({"email": ADA}) == "invited"
    tenant.clock.now = T0 + timedelta(days=3)
    race = Rendezvous(operation="update", key=ADA, change=ReminderScheduled)
    tenant.ledger.hooks.append(race)
    first, second = await asyncio.gather(
        run_reminder_sweep(rt=tenant.rt), run_reminder_sweep(rt=tenant.rt)
    )
    assert race.met
    assert first.scheduled + second.scheduled == 1
    assert [r.number for r in tenant.outbox.reminders] == [1]  # one message on the queue
    assert await deliver_reminders(tenant) == ["sent"]
    assert tenant.directory.emails_to(ADA) == 2


async def expired_and_due_for_disabling(tenant: Tenant) -> str:
    """Ada pending past her expiry with her whole schedule sent; the sweep that expires her
    also disables her (EXPIRED_GUEST_ACTION=disable)."""
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == ["sent"]
    tenant.clock.now = T0 + timedelta(days=31)
    user_id = (await row(tenant)).user_id
    assert user_id is not None
    return user_id


async def test_an_hr_message_between_the_sweeps_read_and_its_disable_decision_wins() -> None:
    """The sweep has read Ada's expired row and is about to record "disabled"; an HR message
    brings her back meanwhile (a fresh invitation). The decision's etag fails: she stays
    enabled, with her new invitation."""
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable")
    user_id = await expired_and_due_for_disabling(tenant)
    decision = Hold(operation="update", key=ADA, change=Disabled)
    tenant.ledger.hooks.append(decision)
    sweep = asyncio.create_task(run_reminder_sweep(rt=tenant.rt))
    await asyncio.wait_for(decision.reached.wait(), 5)
    assert await tenant.invite({"email": ADA}, "back") == "invited"
    decision.release()
    summary = await sweep
    assert summary.disabled == 0
    assert tenant.directory.users[user_id].account_enabled is True
    assert "set_account_enabled" not in tenant.directory.calls
    assert (await row(tenant)).status == GuestStatus.INVITED


async def test_two_sweeps_deciding_one_removal_at_once_disable_once_and_count_once() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable-then-delete", DELETE_GRACE_DAYS="10")
    user_id = await expired_and_due_for_disabling(tenant)
    await run_reminder_sweep(rt=tenant.rt)  # expired and disabled
    assert tenant.directory.users[user_id].account_enabled is False
    tenant.clock.now = T0 + timedelta(days=45)  # the grace period is over: deletion is due
    deletes: list[str] = []

    async def count_deletes(operation: str, key: str, what: object) -> None:
        if operation == "delete_user":
            deletes.append(key)

    tenant.directory.hooks.append(count_deletes)
    race = Rendezvous(operation="update", key=ADA)
    tenant.ledger.hooks.append(race)
    first, second = await asyncio.gather(
        run_reminder_sweep(rt=tenant.rt), run_reminder_sweep(rt=tenant.rt)
    )
    assert race.met
    assert deletes == [user_id]  # one DELETE reached Graph
    assert first.deleted + second.deleted == 1  # counted once against MAX_DELETIONS_PER_RUN
    assert user_id not in tenant.directory.users


async def test_two_messages_adding_sponsors_at_once_both_get_linked() -> None:
    """Both messages read the row, then both record their sponsor: the second write fails its
    etag, re-reads and lands. Each sponsor ends linked in the directory."""
    tenant = make_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    sponsors = {
        "s1": f"{'1' * 8}-0000-4000-8000-{'5' * 12}",
        "s2": f"{'2' * 8}-0000-4000-8000-{'5' * 12}",
    }
    for name, sponsor_id in sponsors.items():
        upn = f"{name}@contoso.example"
        tenant.directory.add_user(upn, user_type="Member", upn=upn, user_id=sponsor_id)
    assert await tenant.invite({"email": ADA}) == "invited"
    race = Rendezvous(operation="update", key=ADA, change=SponsorsRecorded)
    tenant.ledger.hooks.append(race)
    await asyncio.gather(
        tenant.invite({"email": ADA, "sponsors": ["s1@contoso.example"]}, "a"),
        tenant.invite({"email": ADA, "sponsors": ["s2@contoso.example"]}, "b"),
    )
    assert race.met
    await tenant.drain_assignments()
    user_id = (await row(tenant)).user_id
    assert user_id is not None
    assert tenant.directory.sponsors.get(user_id) == set(sponsors.values())
    assert tenant.poison_codes("guest-assignments") == []
