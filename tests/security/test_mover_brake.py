"""A mover's removals (``accessMode: exact``) go through the offboarding brake, and ``exact``
applies only to a message that states access (review A1). A burst of forged or badly exported
``{"groups": [], "accessMode": "exact"}`` messages used to strip every guest of all this app
granted, the brake never counting them; a profile-only update under ``ACCESS_MODE=exact`` did
the same. Oracles: the fake directory's memberships and accounts."""

from __future__ import annotations

from datetime import timedelta

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.brake import Decision
from tests.security.conftest import Tenant, make_tenant
from tests.security.test_offboarding_brake import GUESTS, has_access, onboard_all, release


def groups_of(tenant: Tenant, user_id: str) -> set[str]:
    return {g for g, members in tenant.directory.members.items() if user_id in members}


async def strip_all(tenant: Tenant) -> list[str]:
    return [
        await tenant.invite({"email": e, "groups": [], "accessMode": "exact"}, f"x{i}")
        for i, e in enumerate(GUESTS)
    ]


async def test_a_burst_of_exact_messages_is_braked_and_held_until_released() -> None:
    tenant = make_tenant(OFFBOARD_THRESHOLD="2")
    ids = await onboard_all(tenant)
    await strip_all(tenant)
    await tenant.drain_assignments()
    stripped = [e for e in GUESTS if not has_access(tenant, ids[e])]
    assert stripped == GUESTS[:2]  # the brake engaged at the third: the rest keep their access
    held = [e for e in GUESTS if (row := await tenant.ledger.get(e)) and row.offboard_held_at]
    assert held == GUESTS[2:]

    tenant.clock.now += timedelta(minutes=5)
    await release(tenant)
    await tenant.drain_assignments()
    assert not any(has_access(tenant, ids[e]) for e in GUESTS)
    # A mover released is not an offboarding: sign-in stays.
    assert all(tenant.directory.users[ids[e]].account_enabled for e in GUESTS)


async def test_held_exact_removals_discarded_remove_nothing() -> None:
    tenant = make_tenant(OFFBOARD_THRESHOLD="1")
    ids = await onboard_all(tenant)
    await strip_all(tenant)
    await tenant.drain_assignments()
    tenant.clock.now += timedelta(minutes=5)
    await release(tenant, Decision.DISCARD)
    await tenant.drain_assignments()
    assert [e for e in GUESTS if has_access(tenant, ids[e])] == GUESTS[1:]


async def test_a_message_without_access_fields_removes_nothing_under_access_mode_exact() -> None:
    tenant = make_tenant(ACCESS_MODE="exact")
    ids = await onboard_all(tenant)
    email = GUESTS[0]
    assert await tenant.invite({"email": email, "displayName": "Ada L"}) == "already_onboarded"
    await tenant.drain_assignments()
    assert groups_of(tenant, ids[email]) == {GROUP_X, GROUP_PARTNERS}
    # One that states its access still moves the guest.
    await tenant.invite({"email": email, "groups": [GROUP_X]}, "moved")
    await tenant.drain_assignments()
    assert groups_of(tenant, ids[email]) == {GROUP_X}


async def test_an_offboarding_after_a_held_move_is_offboarded_when_released() -> None:
    tenant = make_tenant(OFFBOARD_THRESHOLD="1")
    ids = await onboard_all(tenant)
    await strip_all(tenant)  # the first admitted, the rest held as movers
    email = GUESTS[3]
    assert await tenant.invite({"email": email, "action": "offboard"}, "leave") == "held"
    tenant.clock.now += timedelta(minutes=5)
    await release(tenant)
    await tenant.drain_assignments()
    assert not has_access(tenant, ids[email])
    assert tenant.directory.users[ids[email]].account_enabled is False
    assert tenant.directory.users[ids[GUESTS[2]]].account_enabled is True
