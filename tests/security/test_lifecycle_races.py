"""The lifecycle under attack and under races: the sweep never disables or deletes someone an HR
message just brought back; sponsors' addresses meet the cc rules; a returning person is never
left enabled without an invitation; concurrent sponsor additions both land; adoption keeps what
HR said; nobody expires before their reminders were really sent; one log line per stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from devstack.seeds import GRACE, GRACE_UPN
from guest_onboarding.config import Settings, SettingsError
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.errors import InvitationsStopped, Refused
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"


async def onboard_and_disable(tenant: Tenant) -> str:
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7, 14, 31):
        tenant.clock.now = T0 + timedelta(days=day)
        await tenant.sweep_and_remind()
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.DISABLED and row.user_id
    return row.user_id


async def test_the_sweep_does_not_delete_someone_an_hr_message_just_brought_back() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable-then-delete", DELETE_GRACE_DAYS="10")
    user_id = await onboard_and_disable(tenant)
    tenant.clock.now = T0 + timedelta(days=45)  # the grace period is over: deletion is due
    real_stream = tenant.ledger.tracked_entries
    passes = 0

    async def hr_message_arrives_mid_sweep() -> AsyncIterator[LedgerEntry]:
        nonlocal passes
        passes += 1
        rows = [row async for row in real_stream()]
        if passes == 2:  # the sweep has read the row; the person comes back now
            assert await tenant.invite({"email": ADA}, "back") == "invited"
        for row in rows:
            yield row

    tenant.ledger.tracked_entries = hr_message_arrives_mid_sweep  # type: ignore[method-assign]
    summary = await run_reminder_sweep(rt=tenant.rt)
    assert summary.deleted == 0
    assert user_id in tenant.directory.users  # not deleted
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.INVITED


async def test_a_sponsor_in_a_blocked_domain_is_not_copied() -> None:
    tenant = make_tenant(BLOCKED_EMAIL_DOMAINS="blocked.example,contoso.example")
    tenant.directory.add_user(
        "eve@contoso.example", user_type="Member", upn=GRACE_UPN, user_id=GRACE
    )
    assert await tenant.invite({"email": ADA, "sponsors": [GRACE_UPN]}) == "invited"
    for day in (3, 7):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == ["sent"]
    assert [e.invitation.cc_recipient for e in tenant.directory.emails] == [None, None, None]


async def test_a_returning_person_whose_invitation_is_refused_is_disabled_again() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable")
    user_id = await onboard_and_disable(tenant)
    tenant.directory.fail_next["invite"] = [Refused("no", code="Forbidden", status=403)]
    assert await tenant.invite({"email": ADA}, "back") == "poisoned"
    assert tenant.directory.users[user_id].account_enabled is False
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.DISABLED  # the sweep still sees them


async def test_a_returning_person_during_a_tenant_stop_stays_disabled_until_invited() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable")
    user_id = await onboard_and_disable(tenant)
    tenant.directory.fail_next["invite"] = [InvitationsStopped("stop", retry_after=0)]
    assert await tenant.invite({"email": ADA}, "back") == "tenant_stop"  # met and recorded it
    assert tenant.directory.users[user_id].account_enabled is False
    assert await tenant.invite({"email": ADA}, "back-again") == "throttled"  # paused: waits
    tenant.clock.now += timedelta(seconds=601)  # the next probe: Graph accepts again
    assert await tenant.invite({"email": ADA}, "back-later") == "invited"
    assert tenant.directory.users[user_id].account_enabled is True


async def test_two_messages_adding_sponsors_at_once_both_land(tenant: Tenant) -> None:
    for sponsor, upn in (("s1", "s1@contoso.example"), ("s2", "s2@contoso.example")):
        tenant.directory.add_user(upn, user_type="Member", upn=upn, user_id=f"{sponsor}-id")
    assert await tenant.invite({"email": ADA}) == "invited"
    await asyncio.gather(
        tenant.invite({"email": ADA, "sponsors": ["s1@contoso.example"]}, "a"),
        tenant.invite({"email": ADA, "sponsors": ["s2@contoso.example"]}, "b"),
    )
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.invitation is not None
    assert set(row.invitation.sponsors) == {"s1-id", "s2-id"}


async def test_adoption_keeps_what_the_hr_message_said() -> None:
    tenant = make_tenant(RESEND_UNTRACKED="true")
    tenant.directory.add_user(ADA, state="PendingAcceptance", since=T0)
    url = "https://projectx.fabrikam.example/welcome"
    assert await tenant.invite({"email": ADA, "redirectUrl": url}) == "existing"
    await tenant.sweep_and_remind()  # adopted now
    tenant.clock.now = T0 + timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    assert tenant.directory.emails[-1].invitation.redirect_url == url


async def test_nobody_expires_while_their_reminders_could_not_be_sent() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="delete")
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7, 14):  # scheduled, never delivered (a tenant-wide stop held them)
        tenant.clock.now = T0 + timedelta(days=day)
        await run_reminder_sweep(rt=tenant.rt)
    tenant.outbox.reminders.clear()
    tenant.clock.now = T0 + timedelta(days=31)
    assert (await run_reminder_sweep(rt=tenant.rt)).expired == 0
    tenant.clock.now = T0 + timedelta(days=38)  # a week on, they never will be: expiry resumes
    summary = await run_reminder_sweep(rt=tenant.rt)
    assert summary.expired == 1 and summary.deleted == 1


async def test_a_stop_is_logged_once_however_many_deliveries_meet_it(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    stop = InvitationsStopped("Invitations are blocked", retry_after=0, code="Forbidden")
    tenant.directory.fail_next["invite"] = [stop] * 5
    outcomes = await asyncio.gather(
        *(tenant.invite({"email": f"g{i}@fabrikam.example"}, f"m{i}") for i in range(5))
    )
    assert sorted(outcomes) == ["tenant_stop"] + ["throttled"] * 4  # one records it, all wait
    assert sum("tenant_stop" in r.getMessage() for r in caplog.records) == 1


def test_a_malformed_default_sponsor_stops_the_app_at_start_up() -> None:
    profiles = '{"p": {"groups": [], "sponsors": ["not an address"]}}'
    with pytest.raises(SettingsError, match="ACCESS_PROFILES"):
        Settings.from_env({"ACCESS_PROFILES": profiles})
