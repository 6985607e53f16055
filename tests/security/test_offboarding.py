"""Offboarding is destructive, so every part of it is checked against what the ledger records:
an offboarding removes only what this app granted, touches only accounts this app onboarded,
and its removal steps, forged, redelivered or run concurrently, do nothing beyond that. Every
oracle here is the fake directory's own state (memberships, assignments, account, sessions),
never an outcome label."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.invitation import app_role_step_key, group_step_key
from guest_onboarding.entrypoints import handle_assignment_message
from guest_onboarding.errors import StoreUnavailable
from tests.security.conftest import Tenant

ADA = "ada@fabrikam.example"
BOB = "bob@fabrikam.example"
#: A group this app may grant, that HR never asked for Ada: someone else adds her to it.
OTHERS_GROUP = "12121212-1212-1212-1212-121212121212"
MALLORY = "00000000-0000-4000-8000-00000000beef"
ROLE = (PORTAL_SP, READER_ROLE)
ADA_ACCESS: dict[str, Any] = {
    "groups": [GROUP_X, GROUP_PARTNERS],
    "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
}


async def onboarded(tenant: Tenant, email: str = ADA) -> str:
    """``email`` invited with two groups and an app role, every grant made by this app."""
    assert await tenant.invite({"email": email, **ADA_ACCESS}) == "invited"
    assert sorted(await tenant.drain_assignments()) == ["done"] * 3
    row = await tenant.ledger.get(email)
    assert row is not None and row.user_id
    return row.user_id


def offboard(email: str = ADA) -> dict[str, str]:
    return {"email": email, "action": "offboard"}


def access_of(tenant: Tenant, user_id: str) -> set[str]:
    """Every membership and app role assignment the directory holds for ``user_id``."""
    groups = {g for g, members in tenant.directory.members.items() if user_id in members}
    roles = {f"{r}:{a}" for u, r, a in tenant.directory.assignments if u == user_id}
    return groups | roles


def queued_steps(tenant: Tenant) -> list[str]:
    """The assignment steps queued so far, as their bodies (taken off the queue)."""
    bodies = [step.model_dump_json() for step, _ in tenant.outbox.assignments]
    tenant.outbox.assignments.clear()
    return bodies


async def test_a_leaver_keeps_nothing_this_app_granted_and_nothing_else_is_touched(
    tenant: Tenant,
) -> None:
    tenant.directory.members[OTHERS_GROUP] = set()
    user_id = await onboarded(tenant)
    tenant.directory.members[OTHERS_GROUP].add(user_id)  # someone else's grant

    assert await tenant.invite(offboard()) == "offboarding"
    await tenant.drain_assignments()

    assert access_of(tenant, user_id) == {OTHERS_GROUP}
    assert tenant.directory.users[user_id].account_enabled is False
    assert tenant.directory.revocations == {user_id: 1}
    row = await tenant.ledger.get(ADA)
    assert row is not None
    statuses = [line.split("@")[0] for line in row.history]
    assert statuses == ["inviting", "invited", "offboarding", "offboarded"]


async def test_a_grant_someone_else_made_first_is_never_removed(tenant: Tenant) -> None:
    assert await tenant.invite({"email": ADA, **ADA_ACCESS}) == "invited"
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    tenant.directory.members[GROUP_PARTNERS].add(row.user_id)  # before this app's step ran
    await tenant.drain_assignments()

    assert await tenant.invite(offboard()) == "offboarding"
    await tenant.drain_assignments()

    assert access_of(tenant, row.user_id) == {GROUP_PARTNERS}


async def test_redelivered_offboardings_and_steps_remove_each_grant_once(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    assert await tenant.invite(offboard()) == "offboarding"
    assert await tenant.invite(offboard()) == "already_offboarded"  # a redelivery
    steps = queued_steps(tenant)
    for body in steps + steps + steps:  # every step delivered three times
        await tenant.assign(body)

    calls = tenant.directory.calls
    assert calls.count("remove_group_member") == 2
    assert calls.count("remove_app_role_assignment") == 1
    assert calls.count("revoke_sessions") == 1
    assert calls.count("set_account_enabled") == 1
    assert access_of(tenant, user_id) == set()
    assert tenant.directory.users[user_id].account_enabled is False


async def redelivered(attempts: list[Any], again: Any) -> None:
    """What the host does with deliveries that raised (a transient error: a lost etag race):
    each is delivered again, alone, until it settles."""
    for failed, arg in [(r, a) for r, a in attempts if isinstance(r, Exception)]:
        assert type(failed).__name__ == "LedgerContention", failed
        await again(arg)


async def test_concurrent_copies_of_an_offboarding_and_its_steps_do_nothing_extra(
    tenant: Tenant,
) -> None:
    user_id = await onboarded(tenant)
    names = [f"m{i}" for i in range(4)]
    results = await asyncio.gather(
        *(tenant.invite(offboard(), n) for n in names), return_exceptions=True
    )
    again = lambda n: tenant.invite(offboard(), n)  # noqa: E731
    await redelivered(list(zip(results, names, strict=True)), again)
    steps = queued_steps(tenant)
    assert len(set(steps)) == 5  # two groups, one role, revoke and disable: decided once
    copies = sorted(set(steps)) * 3
    results = await asyncio.gather(*(tenant.assign(b) for b in copies), return_exceptions=True)
    await redelivered(list(zip(results, copies, strict=True)), tenant.assign)
    while tenant.outbox.assignments:  # a copy that lost a race was put back
        await tenant.drain_assignments()

    assert access_of(tenant, user_id) == set()
    assert tenant.directory.users[user_id].account_enabled is False
    assert tenant.directory.revocations[user_id] >= 1
    row = await tenant.ledger.get(ADA)
    assert row is not None
    statuses = [line.split("@")[0] for line in row.history]
    assert statuses == ["inviting", "invited", "offboarding", "offboarded"]


async def test_a_forged_removal_of_a_grant_the_ledger_does_not_record_does_nothing(
    tenant: Tenant,
) -> None:
    tenant.directory.members[OTHERS_GROUP] = set()
    user_id = await onboarded(tenant)
    tenant.directory.members[OTHERS_GROUP].add(user_id)
    writes = len(tenant.writes())

    forged = {"kind": "removeGroup", "email": ADA, "userId": user_id, "groupId": OTHERS_GROUP}
    assert await tenant.assign(forged) == "rejected"
    # A grant the ledger records as this app's, but whose removal nobody decided.
    granted = {**forged, "groupId": GROUP_X}
    assert await tenant.assign(granted) == "rejected"

    assert len(tenant.writes()) == writes
    everything = {GROUP_X, GROUP_PARTNERS, OTHERS_GROUP, f"{PORTAL_SP}:{READER_ROLE}"}
    assert access_of(tenant, user_id) == everything


async def test_a_forged_removal_for_another_user_does_nothing(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    tenant.directory.members[GROUP_X].add(MALLORY)
    assert await tenant.invite(offboard()) == "offboarding"
    writes = len(tenant.writes())

    # The removal Ada's offboarding decided, pointed at someone else.
    forged = {"kind": "removeGroup", "email": ADA, "userId": MALLORY, "groupId": GROUP_X}
    assert await tenant.assign(forged) == "rejected"
    role = {
        "kind": "removeAppRole",
        "email": "mallory@evil.example",
        "userId": MALLORY,
        "resourceId": PORTAL_SP,
        "appRoleId": READER_ROLE,
    }
    assert await tenant.assign(role) == "rejected"
    disable = {"kind": "account", "action": "disable", "email": ADA, "userId": MALLORY}
    assert await tenant.assign(disable) == "rejected"

    assert len(tenant.writes()) == writes
    assert MALLORY in tenant.directory.members[GROUP_X]
    assert user_id in tenant.directory.members[GROUP_X]  # Ada's own removal is still to come
    assert tenant.poison_codes("guest-assignments") == [
        "UserMismatch",
        "UnknownGuest",
        "UserMismatch",
    ]


async def test_forged_account_steps_for_a_guest_nobody_offboarded_do_nothing(
    tenant: Tenant,
) -> None:
    user_id = await onboarded(tenant)
    writes = len(tenant.writes())
    for action in ("revoke", "disable", "enable"):
        step = {"kind": "account", "action": action, "email": ADA, "userId": user_id}
        assert await tenant.assign(step) == "rejected"
    assert len(tenant.writes()) == writes
    assert tenant.directory.users[user_id].account_enabled is True
    assert tenant.directory.revocations == {}


async def test_an_unknown_address_is_a_clear_no_op_not_poison(tenant: Tenant) -> None:
    await onboarded(tenant)
    writes = len(tenant.writes())
    assert await tenant.invite(offboard("nobody@fabrikam.example")) == "not_onboarded"
    assert tenant.outbox.poison == {}
    assert len(tenant.writes()) == writes


async def test_a_member_of_the_tenant_is_never_offboarded(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    # Ada became a member of the tenant since (converted by an administrator).
    user = tenant.directory.users[user_id]
    tenant.directory.users[user_id] = dataclasses.replace(user, user_type="Member")
    writes = len(tenant.writes())

    assert await tenant.invite(offboard()) == "not_a_guest"

    assert len(tenant.writes()) == writes
    assert tenant.outbox.assignments == []
    assert len(access_of(tenant, user_id)) == 3
    assert tenant.directory.users[user_id].account_enabled is True


async def test_a_user_this_app_did_not_onboard_loses_only_this_apps_grants(
    tenant: Tenant,
) -> None:
    existing = tenant.directory.add_user(BOB, state="Accepted")
    assert await tenant.invite({"email": BOB, "groups": [GROUP_PARTNERS]}) == "existing"
    await tenant.drain_assignments()
    assert access_of(tenant, existing.id) == {GROUP_PARTNERS}

    assert await tenant.invite(offboard(BOB)) == "offboarding"
    await tenant.drain_assignments()

    assert access_of(tenant, existing.id) == set()
    assert tenant.directory.users[existing.id].account_enabled is True
    assert tenant.directory.revocations == {}
    row = await tenant.ledger.get(BOB)
    assert row is not None and row.status == "offboarded"


async def test_a_grant_already_gone_counts_as_removed(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    tenant.directory.members[GROUP_X].discard(user_id)  # removed by hand meanwhile
    tenant.directory.assignments.clear()

    assert await tenant.invite(offboard()) == "offboarding"
    outcomes = await tenant.drain_assignments()

    assert "rejected" not in outcomes and tenant.outbox.poison == {}
    assert access_of(tenant, user_id) == set()
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == "offboarded"
    assert row.steps[group_step_key(GROUP_X)] == "removed"
    assert row.steps[app_role_step_key(*ROLE)] == "removed"


async def test_an_offboarding_message_carrying_access_is_refused(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    body = json.dumps({**offboard(), "groups": [GROUP_X]})
    assert await tenant.invite(body) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["InvalidField"]
    assert len(access_of(tenant, user_id)) == 3


async def test_a_crash_between_the_decision_and_the_queueing_is_picked_up_by_the_redelivery(
    tenant: Tenant,
) -> None:
    user_id = await onboarded(tenant)
    busy = StoreUnavailable("could not send: no answer (Timeout)", code="Timeout")
    tenant.outbox.outage = busy  # the row is written, then no step can be queued
    with pytest.raises(StoreUnavailable):
        await tenant.invite(offboard())
    tenant.outbox.outage = None
    assert len(access_of(tenant, user_id)) == 3

    assert await tenant.invite(offboard()) == "already_offboarded"  # the host's redelivery
    await tenant.drain_assignments()

    assert access_of(tenant, user_id) == set()
    assert tenant.directory.users[user_id].account_enabled is False
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == "offboarded"


async def test_a_grant_whose_record_storage_lost_is_still_removed_as_this_apps(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Graph applied the grant, then Storage failed the ledger write on the copy's last
    delivery: the app puts back a copy that does not count as an attempt. That copy meets
    Graph's "already there", which is this app's own grant, and is removed at offboarding."""
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    key = group_step_key(GROUP_X)
    real_update = tenant.ledger.update
    lost: list[str] = []

    async def update(email: str, change: Any, *, etag: str | None = None) -> bool:
        if not lost and key in getattr(change, "steps", {}):
            lost.append(key)
            raise StoreUnavailable("could not update the ledger row (ServerBusy)", code="Busy")
        return await real_update(email, change, etag=etag)

    monkeypatch.setattr(tenant.ledger, "update", update)
    [(step, _)] = tenant.outbox.assignments
    tenant.outbox.assignments.clear()
    last = tenant.rt.max_dequeue_count
    body = step.model_dump_json()
    assert (
        await handle_assignment_message(body=body, message_id="a", dequeue_count=last, rt=tenant.rt)
        == "retrying"
    )  # a copy put back, not counted
    assert row.user_id in tenant.directory.members[GROUP_X]  # Graph applied it
    await tenant.drain_assignments()  # the copy put back

    assert await tenant.invite(offboard()) == "offboarding"
    await tenant.drain_assignments()
    assert row.user_id not in tenant.directory.members[GROUP_X]


async def test_a_duplicate_that_met_this_apps_own_grant_does_not_make_it_someone_elses(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copy A's grant reached Graph, then Storage failed its ledger write (the host delivers A
    again). Meanwhile copy B (HR's duplicate message) met Graph's "already there" on its first
    try and recorded it as someone else's. A's redelivery knows better: the grant is this app's,
    and the offboarding removes it."""
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}, "dup") == "already_onboarded"
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    [a, b] = [step.model_dump_json() for step, _ in tenant.outbox.assignments]
    tenant.outbox.assignments.clear()
    real_update = tenant.ledger.update
    lost: list[str] = []

    async def update(email: str, change: Any, *, etag: str | None = None) -> bool:
        if not lost:
            lost.append(email)
            raise StoreUnavailable("could not update the ledger row (ServerBusy)", code="Busy")
        return await real_update(email, change, etag=etag)

    monkeypatch.setattr(tenant.ledger, "update", update)
    with pytest.raises(StoreUnavailable):  # the host will deliver A again
        await handle_assignment_message(body=a, message_id="a", dequeue_count=1, rt=tenant.rt)
    assert await handle_assignment_message(body=b, message_id="b", rt=tenant.rt) == "already_done"
    await handle_assignment_message(body=a, message_id="a", dequeue_count=2, rt=tenant.rt)

    assert await tenant.invite(offboard()) == "offboarding"
    await tenant.drain_assignments()
    assert row.user_id not in tenant.directory.members[GROUP_X]
