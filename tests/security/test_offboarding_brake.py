"""The brake on mass removal (``OFFBOARD_THRESHOLD``): a burst of offboardings over the
threshold removes nothing for the ones over it until an operator releases them with the
console's ``release`` (the console's own use case, on the same ledger), and a forged settling
message decides nothing. Oracles: the fake directory's memberships and accounts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_console.release import decide
from guest_onboarding.domain.brake import Decision
from tests.security.conftest import Tenant, make_tenant

GUESTS = [f"g{i}@fabrikam.example" for i in range(5)]


class Queue:
    """The console's queues, collecting what it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_many(
        self,
        queue: str,
        bodies: Sequence[str],
        *,
        concurrency: int,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        self.sent += bodies


@pytest.fixture
def braked() -> Tenant:
    return make_tenant(OFFBOARD_THRESHOLD="2")


async def onboard_all(tenant: Tenant) -> dict[str, str]:
    ids = {}
    for email in GUESTS:
        assert await tenant.invite({"email": email, "groups": [GROUP_X, GROUP_PARTNERS]}) in (
            "invited",
        )
        row = await tenant.ledger.get(email)
        assert row is not None and row.user_id
        ids[email] = row.user_id
    await tenant.drain_assignments()
    return ids


def has_access(tenant: Tenant, user_id: str) -> bool:
    return any(user_id in members for members in tenant.directory.members.values())


async def release(tenant: Tenant, decision: Decision = Decision.RELEASE) -> list[str]:
    """The operator's ``release`` (or ``--discard``), then its settling messages delivered."""
    queue = Queue()
    await decide(tenant.ledger, queue, "guest-invitations", decision, now=tenant.clock())  # type: ignore[arg-type]
    return [await tenant.invite(body, f"s{i}") for i, body in enumerate(queue.sent)]


async def test_a_burst_over_the_threshold_removes_nothing_more_until_released(
    braked: Tenant,
) -> None:
    ids = await onboard_all(braked)
    outcomes = [await braked.invite({"email": e, "action": "offboard"}) for e in GUESTS]
    assert outcomes == ["offboarding", "offboarding", "brake_engaged", "held", "held"]
    await braked.drain_assignments()

    kept = [e for e in GUESTS if has_access(braked, ids[e])]
    assert kept == GUESTS[2:]
    assert all(braked.directory.users[ids[e]].account_enabled for e in kept)
    # Redelivered, the held ones stay held (and nothing is counted twice).
    assert await braked.invite({"email": GUESTS[3], "action": "offboard"}, "again") == "held"

    braked.clock.now += timedelta(minutes=5)
    assert await release(braked) == ["offboarding"] * 3
    await braked.drain_assignments()
    assert not any(has_access(braked, ids[e]) for e in GUESTS)
    assert not any(braked.directory.users[ids[e]].account_enabled for e in GUESTS)


async def test_discarded_offboardings_remove_nothing_and_the_count_starts_afresh(
    braked: Tenant,
) -> None:
    ids = await onboard_all(braked)
    for email in GUESTS[:4]:
        await braked.invite({"email": email, "action": "offboard"})
    await braked.drain_assignments()

    assert await release(braked, Decision.DISCARD) == ["discarded", "discarded"]
    await braked.drain_assignments()
    assert has_access(braked, ids[GUESTS[2]]) and has_access(braked, ids[GUESTS[3]])
    # The brake is off again: the next offboarding goes ahead.
    assert await braked.invite({"email": GUESTS[4], "action": "offboard"}) == "offboarding"
    await braked.drain_assignments()
    assert not has_access(braked, ids[GUESTS[4]])


async def test_a_forged_settling_message_decides_nothing(braked: Tenant) -> None:
    ids = await onboard_all(braked)
    for email in GUESTS[:3]:
        await braked.invite({"email": email, "action": "offboard"})
    await braked.drain_assignments()
    row = await braked.ledger.get(GUESTS[2])
    assert row is not None and row.offboard_held_at is not None

    forged = {"heldOffboarding": {"email": GUESTS[2], "heldAt": row.offboard_held_at.isoformat()}}
    assert await braked.invite(json.dumps(forged)) == "held"  # nobody decided: still held
    other = {"heldOffboarding": {"email": GUESTS[4], "heldAt": row.offboard_held_at.isoformat()}}
    assert await braked.invite(json.dumps(other)) == "skipped"  # a guest nobody offboarded
    await braked.drain_assignments()

    assert has_access(braked, ids[GUESTS[2]]) and has_access(braked, ids[GUESTS[4]])


async def test_hrs_later_onboarding_message_wins_over_a_held_offboarding(braked: Tenant) -> None:
    ids = await onboard_all(braked)
    for email in GUESTS[:3]:
        await braked.invite({"email": email, "action": "offboard"})
    await braked.drain_assignments()
    # HR changed its mind about the held one: its latest word is an onboarding.
    assert await braked.invite({"email": GUESTS[2], "groups": [GROUP_X]}) == "already_onboarded"

    assert await release(braked) == []
    await braked.drain_assignments()
    assert has_access(braked, ids[GUESTS[2]])
    assert braked.directory.users[ids[GUESTS[2]]].account_enabled


async def test_the_threshold_counts_offboardings_within_the_hour(braked: Tenant) -> None:
    ids = await onboard_all(braked)
    for email in GUESTS[:2]:
        assert await braked.invite({"email": email, "action": "offboard"}) == "offboarding"
    braked.clock.now += timedelta(minutes=61)  # the first two are out of the window now
    for email in GUESTS[2:4]:
        assert await braked.invite({"email": email, "action": "offboard"}) == "offboarding"
    assert await braked.invite({"email": GUESTS[4], "action": "offboard"}) == "brake_engaged"
    await braked.drain_assignments()
    assert [e for e in GUESTS if has_access(braked, ids[e])] == [GUESTS[4]]
