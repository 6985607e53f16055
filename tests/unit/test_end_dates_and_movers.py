"""End dates (``accessEndsOn``) at the sweep, the mover (``accessMode: exact``) and the returning
person, driven through the entrypoints on the fakes; the oracle is the fake directory."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
ROLE = {"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}


def day(days: int) -> str:
    return (T0.date() + timedelta(days=days)).isoformat()


def access_of(tenant: Tenant, user_id: str) -> set[str]:
    groups = {g for g, members in tenant.directory.members.items() if user_id in members}
    roles = {f"{r}:{a}" for u, r, a in tenant.directory.assignments if u == user_id}
    return groups | roles


async def onboard(tenant: Tenant, **fields: Any) -> str:
    outcome = await tenant.invite({"email": ADA, "groups": [GROUP_X], **fields})
    assert outcome in ("invited", "already_onboarded", "returned"), outcome
    await tenant.drain_assignments()
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    return row.user_id


async def sweep_on(tenant: Tenant, days: int) -> None:
    tenant.clock.now = T0 + timedelta(days=days)
    await run_reminder_sweep(rt=tenant.rt)
    tenant.outbox.reminders.clear()
    await tenant.drain_assignments()


async def test_an_end_date_offboards_the_guest_at_the_first_sweep_on_or_after_it() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant, accessEndsOn=day(10))
    await sweep_on(tenant, 9)
    assert access_of(tenant, user_id) == {GROUP_X}
    await sweep_on(tenant, 12)  # the timer did not run on the day itself: the next run does
    assert access_of(tenant, user_id) == set()
    assert tenant.directory.users[user_id].account_enabled is False
    assert tenant.directory.revocations == {user_id: 1}


async def test_a_later_message_moving_the_date_keeps_the_guest() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant, accessEndsOn=day(10))
    tenant.clock.now = T0 + timedelta(days=5)
    await onboard(tenant, accessEndsOn=day(40))
    await sweep_on(tenant, 11)
    assert access_of(tenant, user_id) == {GROUP_X}
    await sweep_on(tenant, 40)
    assert access_of(tenant, user_id) == set()


async def test_a_null_end_date_removes_the_one_given_before_and_a_silent_message_keeps_it() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant, accessEndsOn=day(10))
    await onboard(tenant)  # says nothing about the date: it stands
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.access_ends_on == date.fromisoformat(day(10))
    await onboard(tenant, accessEndsOn=None)  # null: no end date any more
    await sweep_on(tenant, 30)
    assert access_of(tenant, user_id) == {GROUP_X}


async def test_end_dates_go_through_the_brake() -> None:
    tenant = make_tenant(OFFBOARD_THRESHOLD="1")
    ids = []
    for i in range(3):
        email = f"g{i}@fabrikam.example"
        assert await tenant.invite({"email": email, "groups": [GROUP_X], "accessEndsOn": day(3)})
        row = await tenant.ledger.get(email)
        assert row is not None and row.user_id
        ids.append(row.user_id)
    await tenant.drain_assignments()
    await sweep_on(tenant, 3)
    assert sum(1 for i in ids if access_of(tenant, i)) == 2  # one offboarded, two held


async def test_a_date_in_the_past_is_refused_by_nobody_and_offboards_at_the_next_sweep() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant, accessEndsOn=day(-1))
    assert access_of(tenant, user_id) == {GROUP_X}  # nothing happens before the sweep
    await sweep_on(tenant, 0)
    assert access_of(tenant, user_id) == set()


async def test_an_exact_message_removes_what_it_no_longer_names_and_add_keeps_it() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant, groups=[GROUP_X, GROUP_PARTNERS], appRoles=[ROLE])
    await onboard(tenant, groups=[GROUP_PARTNERS])  # add (the default): nothing removed
    assert access_of(tenant, user_id) == {GROUP_X, GROUP_PARTNERS, f"{PORTAL_SP}:{READER_ROLE}"}

    await onboard(tenant, groups=[GROUP_PARTNERS], accessMode="exact")  # moved teams
    assert access_of(tenant, user_id) == {GROUP_PARTNERS}
    assert tenant.directory.users[user_id].account_enabled is True


async def test_exact_by_deployment_and_someone_elses_grant_survives_a_move() -> None:
    tenant = make_tenant(ACCESS_MODE="exact")
    both = [GROUP_X, GROUP_PARTNERS]
    assert await tenant.invite({"email": ADA, "groups": both}) == "invited"
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    tenant.directory.members[GROUP_PARTNERS].add(row.user_id)  # someone else's, first
    await tenant.drain_assignments()
    await onboard(tenant, groups=[])
    assert access_of(tenant, row.user_id) == {GROUP_PARTNERS}


async def test_a_returning_guest_is_enabled_and_granted_again_without_an_email() -> None:
    tenant = make_tenant()
    user_id = await onboard(tenant)
    assert await tenant.invite({"email": ADA, "action": "offboard"}) == "offboarding"
    await tenant.drain_assignments()
    assert tenant.directory.users[user_id].account_enabled is False
    emails = len(tenant.directory.emails)

    assert await tenant.invite({"email": ADA, "groups": [GROUP_PARTNERS]}) == "returned"
    await tenant.drain_assignments()

    assert tenant.directory.users[user_id].account_enabled is True
    assert access_of(tenant, user_id) == {GROUP_PARTNERS}
    assert len(tenant.directory.emails) == emails
    row = await tenant.ledger.get(ADA)
    assert row is not None
    statuses = [line.split("@")[0] for line in row.history]
    assert statuses == ["inviting", "invited", "offboarding", "offboarded", "invited"]

    # Still this app's guest: a second offboarding disables them again.
    assert await tenant.invite({"email": ADA, "action": "offboard"}, "again") == "offboarding"
    await tenant.drain_assignments()
    assert tenant.directory.users[user_id].account_enabled is False
    assert access_of(tenant, user_id) == set()


async def test_offboard_action_delete_deletes_at_the_next_sweep_remove_access_keeps_sign_in() -> (
    None
):
    tenant = make_tenant(OFFBOARD_ACTION="delete")
    user_id = await onboard(tenant)
    await tenant.invite({"email": ADA, "action": "offboard"})
    await tenant.drain_assignments()
    assert user_id in tenant.directory.users
    await sweep_on(tenant, 1)
    assert user_id not in tenant.directory.users

    keep = make_tenant(OFFBOARD_ACTION="remove-access")
    kept = await onboard(keep)
    await keep.invite({"email": ADA, "action": "offboard"})
    await keep.drain_assignments()
    assert access_of(keep, kept) == set()
    assert keep.directory.users[kept].account_enabled is True
    assert keep.directory.revocations == {kept: 1}
