"""cc recipients get the redeem link (on every reminder too): they pass the domain policy. A
guest who asked for no invitation email gets no reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"


@pytest.mark.parametrize(
    ("cc", "code"),
    [
        ("boss@blocked.example", "DomainBlocked"),
        ("boss@eu.blocked.example", "DomainBlocked"),
        ("attacker@evil.example", "CcNotAllowed"),
        ("pm@contoso.example.evil.example", "CcNotAllowed"),
        ("pm@evilcontoso.example", "CcNotAllowed"),
        ("p\u200bm@contoso.example", "UnsafeCharacter"),
    ],
)
async def test_cc_outside_the_allowed_domains_is_refused(
    tenant: Tenant, cc: str, code: str
) -> None:
    assert await tenant.invite({"email": ADA, "ccRecipient": cc}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == [code]
    assert tenant.directory.calls == []


async def test_no_allowed_cc_domains_means_no_cc_at_all() -> None:
    tenant = make_tenant(ALLOWED_CC_DOMAINS="")
    assert await tenant.invite({"email": ADA, "ccRecipient": "pm@contoso.example"}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["CcNotAllowed"]


async def test_an_allowed_cc_is_kept_canonical_on_every_reminder(tenant: Tenant) -> None:
    cc = "PM@\uff43\uff4f\uff4e\uff54\uff4f\uff53\uff4f.example"  # full-width contoso
    assert await tenant.invite({"email": ADA, "ccRecipient": cc}) == "invited"
    tenant.clock.now += timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    assert [e.invitation.cc_recipient for e in tenant.directory.emails] == [
        "pm@contoso.example",
        "pm@contoso.example",
    ]


async def test_no_invitation_email_means_no_reminders(tenant: Tenant) -> None:
    assert await tenant.invite({"email": ADA, "sendInvitationMessage": False}) == "invited"
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == []
    assert tenant.directory.emails == []
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.reminders_scheduled == 0 and row.send_count == 0


async def test_a_forged_reminder_for_a_guest_who_asked_no_email_sends_none(tenant: Tenant) -> None:
    assert await tenant.invite({"email": ADA, "sendInvitationMessage": False}) == "invited"
    tenant.clock.now += timedelta(days=3)
    assert await tenant.invite({"reminder": {"email": ADA, "number": 1}}) == "skipped"
    assert tenant.directory.emails == []


async def test_reminders_follow_todays_allow_lists() -> None:
    """A cc or a domain allowed at invitation time and refused since: reminders drop the cc,
    and a guest whose domain is blocked now gets none."""
    tenant = make_tenant()
    for email in ("ada@fabrikam.example", "bob@partner.example"):
        message = {"email": email, "ccRecipient": "pm@contoso.example"}
        assert await tenant.invite(message, email) == "invited"
    tenant.rt.settings = make_tenant(
        ALLOWED_CC_DOMAINS="", BLOCKED_EMAIL_DOMAINS="blocked.example,partner.example"
    ).rt.settings
    tenant.clock.now = T0 + timedelta(days=3)
    assert sorted(await tenant.sweep_and_remind()) == ["sent", "skipped"]
    reminders = tenant.directory.emails[2:]
    assert [(e.email, e.invitation.cc_recipient) for e in reminders] == [
        ("ada@fabrikam.example", None)
    ]
