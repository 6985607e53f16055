"""A late "enable" step never re-enables an offboarded account (review A3): HR brings a leaver
back (an enable step is queued, delayed), then offboards them again before it runs; the late
step must do nothing, and a redelivered offboarding must not queue the old enable again.
Oracle: the fake directory's account."""

from __future__ import annotations

from guest_onboarding.domain.offboarding import ENABLE_SIGN_IN
from tests.security.conftest import Tenant
from tests.security.test_offboarding import ADA, offboard, onboarded


def take_enable(tenant: Tenant) -> str:
    """The queued enable step, taken off the queue (it is delayed: it runs late)."""
    enables = [s for s, _ in tenant.outbox.assignments if s.key == ENABLE_SIGN_IN]
    assert len(enables) == 1
    tenant.outbox.assignments = [a for a in tenant.outbox.assignments if a[0] is not enables[0]]
    return enables[0].model_dump_json()


async def test_a_late_enable_step_does_not_re_enable_an_offboarded_account(tenant: Tenant) -> None:
    user_id = await onboarded(tenant)
    assert await tenant.invite(offboard(), "leave-1") == "offboarding"
    await tenant.drain_assignments()
    assert tenant.directory.users[user_id].account_enabled is False

    assert await tenant.invite({"email": ADA}, "back") == "returned"
    late = take_enable(tenant)
    await tenant.drain_assignments()
    assert await tenant.invite(offboard(), "leave-2") == "offboarding"
    await tenant.drain_assignments()
    assert tenant.directory.users[user_id].account_enabled is False

    # A redelivery of the offboarding queues nothing of the old comeback.
    await tenant.invite(offboard(), "leave-2")
    assert all(s.key != ENABLE_SIGN_IN for s, _ in tenant.outbox.assignments)
    await tenant.drain_assignments()

    await tenant.assign(late)  # the enable step, at last
    assert tenant.directory.users[user_id].account_enabled is False
