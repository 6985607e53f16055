"""Stale ledger rows: a person whose user is gone (removed, deleted after redeeming, expired and
deleted) and who is sent again by HR is onboarded afresh: a new invitation, steps keyed by the new
user, never steps to the old object id."""

from __future__ import annotations

from datetime import timedelta

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.changes import Redeemed
from guest_onboarding.domain.invitation import group_step_key
from guest_onboarding.domain.ledger import GuestStatus
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = {"email": "ada@fabrikam.example", "groups": [GROUP_X]}


async def onboard(tenant: Tenant, message_id: str = "m1") -> str:
    assert await tenant.invite(ADA, message_id) in {"invited", "existing"}
    assert await tenant.drain_assignments() == ["done"]
    row = await tenant.ledger.get("ada@fabrikam.example")
    assert row is not None and row.user_id
    return row.user_id


async def assert_onboarded_afresh(tenant: Tenant, old_id: str) -> None:
    # within the replication wait a missing user may just not be replicated: the message waits
    assert await tenant.invite(ADA, "m2") == "deferred"
    tenant.outbox.requeued.clear()
    tenant.clock.now += timedelta(seconds=tenant.rt.settings.invite_replication_wait_seconds)
    assert await tenant.invite(ADA, "m2") == "invited"
    new_row = await tenant.ledger.get("ada@fabrikam.example")
    assert new_row is not None and new_row.user_id and new_row.user_id != old_id
    assert new_row.steps == {group_step_key(GROUP_X): "queued"}
    steps = [step for step, _ in tenant.outbox.assignments]
    assert [s.userId for s in steps] == [new_row.user_id]
    assert await tenant.drain_assignments() == ["done"]
    assert new_row.user_id in tenant.directory.members[GROUP_X]
    assert tenant.directory.emails_to("ada@fabrikam.example") == 2
    assert tenant.outbox.poison == {}


async def test_a_guest_removed_from_the_directory_is_invited_again(tenant: Tenant) -> None:
    old_id = await onboard(tenant)
    del tenant.directory.users[old_id]  # an admin deleted the guest
    await assert_onboarded_afresh(tenant, old_id)


async def test_a_redeemed_then_deleted_guest_is_invited_again(tenant: Tenant) -> None:
    old_id = await onboard(tenant)
    await tenant.ledger.update(
        "ada@fabrikam.example",
        Redeemed(redeemed_at=T0, redeemed_after_reminder=0, seconds_to_redeem=None, at=T0),
    )
    del tenant.directory.users[old_id]
    await assert_onboarded_afresh(tenant, old_id)


async def test_an_expired_and_deleted_guest_is_invited_again() -> None:
    tenant = make_tenant(DELETE_EXPIRED_GUESTS="true")
    old_id = await onboard(tenant)
    tenant.clock.now = T0 + timedelta(days=14)
    await tenant.sweep_and_remind()
    tenant.clock.now = T0 + timedelta(days=31)
    await tenant.sweep_and_remind()
    row = await tenant.ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.DELETED
    sent_before = tenant.directory.emails_to("ada@fabrikam.example")
    assert await tenant.invite(ADA, "m2") == "invited"
    assert tenant.directory.emails_to("ada@fabrikam.example") == sent_before + 1
    fresh = await tenant.ledger.get("ada@fabrikam.example")
    assert fresh is not None and fresh.user_id != old_id and fresh.status == GuestStatus.INVITED


async def test_an_expired_guest_gets_a_fresh_invitation_and_schedule(tenant: Tenant) -> None:
    await onboard(tenant)
    tenant.clock.now = T0 + timedelta(days=14)
    await tenant.sweep_and_remind()
    tenant.clock.now = T0 + timedelta(days=31)
    await tenant.sweep_and_remind()
    row = await tenant.ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.EXPIRED
    assert await tenant.invite(ADA, "m2") == "invited"
    fresh = await tenant.ledger.get("ada@fabrikam.example")
    assert fresh is not None and fresh.status == GuestStatus.INVITED
    assert fresh.reminders_scheduled == 0 and fresh.first_sent_at == tenant.clock.now
    tenant.clock.now += timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]  # the schedule started again
