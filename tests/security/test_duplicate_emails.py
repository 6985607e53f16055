"""One email per invitation under slowness, lag and crashes: a claim outlives the slowest
invitation call, is taken right before ``POST /invitations``, and a redelivery that cannot see the
user yet waits for replication (bounded, then invited again, once) instead of inviting at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import ServiceUnavailable
from guest_onboarding.ports import DirectoryUser, InvitationResult
from tests.security.conftest import Tenant

ADA = {"email": "ada@fabrikam.example"}


async def test_a_delivery_during_a_slow_invitation_waits(tenant: Tenant) -> None:
    """POST /invitations takes 45 s (the client's 30 s timeout plus a slow token): a
    concurrent delivery arriving then must not invite too."""
    real_invite = tenant.directory.invite
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_invite(email: str, invitation: Invitation) -> InvitationResult:
        started.set()
        await release.wait()
        return await real_invite(email, invitation)

    tenant.directory.invite = slow_invite  # type: ignore[method-assign]
    first = asyncio.create_task(tenant.invite(ADA, "m1"))
    await asyncio.wait_for(started.wait(), 5)
    tenant.clock.now += timedelta(seconds=45)
    # bounded: a second delivery that invites too would wait on ``release`` for ever
    assert await asyncio.wait_for(tenant.invite(ADA, "m2"), 5) == "deferred"
    release.set()
    assert await first == "invited"
    assert tenant.directory.emails_to("ada@fabrikam.example") == 1


async def test_the_claim_is_taken_after_a_slow_look_up(tenant: Tenant) -> None:
    real_find = tenant.directory.find_users

    async def slow_find(email: str) -> tuple[DirectoryUser, ...]:
        tenant.clock.now += timedelta(seconds=29)  # a slow token fetch and look-up
        return await real_find(email)

    tenant.directory.find_users = slow_find  # type: ignore[method-assign]
    start = tenant.clock.now
    tenant.directory.fail_next["invite"] = [ServiceUnavailable("timeout", status=504)]
    try:
        await tenant.invite(ADA, "m1")
    except ServiceUnavailable:
        pass
    row = await tenant.ledger.get("ada@fabrikam.example")
    assert row is not None and row.claimed_at == start + timedelta(seconds=29)


async def test_a_crash_after_the_invitation_with_look_up_lag_sends_no_second_email(
    tenant: Tenant,
) -> None:
    # The invitation goes out, then the process dies before the ledger is written.
    tenant.directory.fail_next["invite"] = [ServiceUnavailable("reset", status=None)]
    try:
        await tenant.invite(ADA, "m1")
    except ServiceUnavailable:
        pass
    for _ in range(3):  # the user is not visible yet: every redelivery waits
        tenant.clock.now += timedelta(seconds=130)
        assert await tenant.invite(ADA, "m1") == "deferred"
    tenant.directory.add_user("ada@fabrikam.example", state="PendingAcceptance")  # replicated
    tenant.clock.now += timedelta(seconds=15)
    assert await tenant.invite(ADA, "m1") == "invited"
    assert tenant.directory.calls.count("invite") == 1


async def test_after_the_replication_wait_the_guest_is_invited_again(tenant: Tenant) -> None:
    """No operator step: a guest who never appeared is invited again, once, under a claim."""
    tenant.directory.fail_next["invite"] = [ServiceUnavailable("timeout", status=504)]
    try:
        await tenant.invite(ADA, "m1")
    except ServiceUnavailable:
        pass
    tenant.clock.now += timedelta(seconds=tenant.rt.settings.invite_replication_wait_seconds + 1)
    assert await tenant.invite(ADA, "m1") == "reinvited"
    assert tenant.poison_codes("guest-invitations") == []
    assert tenant.directory.calls.count("invite") == 2
    assert tenant.directory.emails_to("ada@fabrikam.example") == 1  # the 504 came first


async def test_the_same_message_again_during_replication_lag_sends_no_second_email(
    tenant: Tenant,
) -> None:
    """A second HR message for a guest invited moments ago, while look-ups still miss them, is
    not a stale row: it waits instead of inviting again."""
    assert await tenant.invite(ADA, "m1") == "invited"
    tenant.directory.lagging = set(tenant.directory.users)  # nobody visible yet
    tenant.clock.now += timedelta(seconds=5)
    assert await tenant.invite(ADA, "m2") == "deferred"
    tenant.directory.lagging.clear()  # replicated
    tenant.clock.now += timedelta(seconds=15)
    assert await tenant.invite(ADA, "m2") == "already_onboarded"
    assert tenant.directory.calls.count("invite") == 1
