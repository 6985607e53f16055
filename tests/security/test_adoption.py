"""Adopted guests (RESEND_UNTRACKED): the domain lists apply to them, and they get the full
reminder schedule, counted from adoption, before they can expire or be deleted."""

from __future__ import annotations

from datetime import timedelta

from guest_onboarding.domain.ledger import GuestStatus
from tests.security.conftest import make_tenant
from tests.support import T0


async def test_a_guest_pending_for_a_year_gets_every_reminder_before_deletion() -> None:
    tenant = make_tenant(RESEND_UNTRACKED="true", DELETE_EXPIRED_GUESTS="true")
    old = tenant.directory.add_user(
        "old@fabrikam.example", state="PendingAcceptance", since=T0 - timedelta(days=365)
    )
    assert await tenant.sweep_and_remind() == []  # adopted today, not expired, not deleted
    assert old.id in tenant.directory.users
    sent = []
    for day in range(1, 40):
        tenant.clock.now = T0 + timedelta(days=day)
        sent += await tenant.sweep_and_remind()
    assert sent == ["sent"] * 3  # days 3, 7 and 14 after adoption
    assert old.id not in tenant.directory.users  # deleted after expiry, not before
    row = await tenant.ledger.get("old@fabrikam.example")
    assert row is not None and row.status == GuestStatus.DELETED
    assert row.deleted_at is not None and row.deleted_at >= T0 + timedelta(days=30)


async def test_a_pending_guest_in_a_blocked_domain_is_not_adopted() -> None:
    tenant = make_tenant(RESEND_UNTRACKED="true")
    tenant.directory.add_user("x@blocked.example", state="PendingAcceptance", since=T0)
    tenant.directory.add_user("y@sub.blocked.example", state="PendingAcceptance", since=T0)
    tenant.clock.now = T0 + timedelta(days=5)
    await tenant.sweep_and_remind()
    tenant.clock.now = T0 + timedelta(days=8)
    assert await tenant.sweep_and_remind() == []
    assert tenant.ledger.rows == {} and tenant.directory.emails == []


async def test_a_pending_guest_outside_the_allowed_domains_is_not_adopted() -> None:
    tenant = make_tenant(RESEND_UNTRACKED="true", ALLOWED_EMAIL_DOMAINS="fabrikam.example")
    tenant.directory.add_user("z@contoso.example", state="PendingAcceptance", since=T0)
    tenant.directory.add_user("a@fabrikam.example", state="PendingAcceptance", since=T0)
    await tenant.sweep_and_remind()
    assert list(tenant.ledger.rows) == ["a@fabrikam.example"]


async def test_the_sweep_never_acts_on_a_user_the_ledger_did_not_record() -> None:
    """The row's user was deleted and someone re-invited the address from the portal (a new
    object id): the sweep neither reminds nor deletes that other user."""
    tenant = make_tenant(EXPIRED_GUEST_ACTION="delete")
    assert await tenant.invite({"email": "ada@fabrikam.example"}) == "invited"
    [first] = tenant.directory.users
    del tenant.directory.users[first]
    other = tenant.directory.add_user("ada@fabrikam.example", state="PendingAcceptance", since=T0)
    emails_before = len(tenant.directory.emails)
    for day in (3, 7, 14, 31, 32):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == []
    assert other.id in tenant.directory.users  # never deleted
    assert len(tenant.directory.emails) == emails_before  # never reminded
    row = await tenant.ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.REMOVED and row.user_id == first
