"""Rules of ``guest_onboarding.domain`` that ``make mutation`` found no test for (see
bench-results/mutation.md): ids compared whatever their case, what an operator is told about a
refused cc or redirect prefix, what a reminder keeps of a stored invitation, the sponsor contact
a later message records, and what the ledger records of an invitation sent without email."""

from __future__ import annotations

import json
from typing import cast

import pytest

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.changes import SponsorsRecorded
from guest_onboarding.domain.content import as_allowed_now, check_display_name
from guest_onboarding.domain.invitation import AppRoleRef, Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.entrypoints import handle_invitation_message
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.setting_values import SettingsError
from tests.fakes import FakeDirectory, FakeLedger
from tests.support import SETTINGS_ENV, T0

GROUP = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
RESOURCE = "0b2f3a4c-1d2e-4f50-8a9b-0c1d2e3f4a5b"
ROLE = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
DEFAULT_REDIRECT = "https://myapps.microsoft.com"


def settings(**env: str) -> Settings:
    return Settings.from_env({**SETTINGS_ENV, **env})


# -- ids in either case ----------------------------------------------------------------------


def test_a_group_allowed_in_capitals_is_allowed_as_asked_in_lower_case_and_back() -> None:
    upper = settings(ALLOWED_GROUP_IDS=GROUP.upper()).policy
    upper.check_group(GROUP)
    lower = settings(ALLOWED_GROUP_IDS=GROUP).policy
    lower.check_group(GROUP.upper())


def test_a_profile_group_or_role_in_capitals_is_allowed_as_asked_in_lower_case() -> None:
    profile = {"p": {"groups": [GROUP.upper()], "appRoles": []}}
    policy = settings(ACCESS_PROFILES=json.dumps(profile)).policy
    policy.check_group(GROUP)
    role = AppRoleRef(resource_id=RESOURCE, app_role_id=ROLE)
    allowed = settings(ALLOWED_APP_ROLES=f"{RESOURCE.upper()}:{ROLE.upper()}").policy
    allowed.check_app_role(role)


def test_an_unlisted_group_is_refused() -> None:
    with pytest.raises(InvalidMessage) as refused:
        settings().policy.check_group(GROUP)
    assert refused.value.code == "GroupNotAllowed"


# -- what the operator is told --------------------------------------------------------------


def test_a_cc_refused_because_none_is_allowed_says_so() -> None:
    with pytest.raises(InvalidMessage) as refused:
        settings(ALLOWED_CC_DOMAINS="").policy.check_cc("grace@contoso.example")
    assert refused.value.code == "CcNotAllowed"
    assert str(refused.value).endswith(": ccRecipient is refused: ALLOWED_CC_DOMAINS is empty")


def test_a_cc_outside_the_allowed_domains_names_its_domain() -> None:
    with pytest.raises(InvalidMessage) as refused:
        settings().policy.check_cc("mallory@evil.example")
    assert refused.value.code == "CcNotAllowed"
    assert "evil.example is not in ALLOWED_CC_DOMAINS" in str(refused.value)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("http://portal.fabrikam.example", "https"),
        ("https://portal.fabrikam.example/?next=1", "query or fragment"),
    ],
)
def test_a_bad_redirect_prefix_is_named_in_the_error(entry: str, why: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(ALLOWED_REDIRECT_PREFIXES=entry)
    assert repr(entry) in str(refused.value) and why in str(refused.value)


def test_an_unsafe_display_name_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidMessage) as refused:
        check_display_name("Ada\u202eLovelace", settings().policy)
    assert refused.value.code == "UnsafeCharacter" and "displayName" in str(refused.value)
    with pytest.raises(InvalidMessage) as linked:
        check_display_name("Ada, see https://evil.example/login", settings().policy)
    assert linked.value.code == "LinkNotAllowed" and "displayName" in str(linked.value)


# -- what a reminder keeps of the stored invitation ------------------------------------------


def test_a_reminder_keeps_a_display_name_whose_link_is_still_allowed() -> None:
    name = "Ada (https://projectx.fabrikam.example/team)"
    stored = Invitation(redirect_url=DEFAULT_REDIRECT, display_name=name)
    assert as_allowed_now(stored, settings().policy).display_name == name
    refused = Invitation(redirect_url=DEFAULT_REDIRECT, display_name="Ada https://evil.example")
    assert as_allowed_now(refused, settings().policy).display_name is None


def test_a_reminder_for_a_redirect_no_longer_allowed_goes_to_the_default() -> None:
    stored = Invitation(redirect_url="https://projectx.fabrikam.example/app")
    policy = settings(ALLOWED_REDIRECT_PREFIXES=DEFAULT_REDIRECT).policy
    now = policy.as_allowed_now(stored, "ada@fabrikam.example")
    assert now.redirect_url == DEFAULT_REDIRECT


# -- what the ledger records -----------------------------------------------------------------


def onboarded(sponsor_contact: str | None) -> LedgerEntry:
    return LedgerEntry(
        email="ada@fabrikam.example",
        status=GuestStatus.INVITED,
        invitation=Invitation(redirect_url=DEFAULT_REDIRECT, sponsors=("sponsor-1",)),
        sponsor_contact=sponsor_contact,
    )


def test_sponsors_added_later_record_a_contact_only_where_there_was_none() -> None:
    first = SponsorsRecorded.adding(onboarded(None), ("sponsor-2",), "grace@contoso.example")
    assert first is not None and first.sponsor_contact == "grace@contoso.example"
    kept = SponsorsRecorded.adding(
        onboarded("alan@contoso.example"), ("sponsor-2",), "grace@contoso.example"
    )
    assert kept is not None and kept.sponsor_contact == "alan@contoso.example"
    assert kept.invitation.sponsors == ("sponsor-1", "sponsor-2")


@pytest.mark.parametrize(("emailed", "sends"), [(True, 1), (False, 0)])
async def test_the_row_records_an_email_only_when_one_went_out(
    rt: Runtime, emailed: bool, sends: int
) -> None:
    body = {"email": "ada@fabrikam.example", "sendInvitationMessage": emailed}
    assert await handle_invitation_message(body=json.dumps(body), message_id="m", rt=rt) == (
        "invited"
    )
    row = cast(FakeLedger, rt.ledger).rows["ada@fabrikam.example"]
    assert (row.first_sent_at, row.send_count) == (T0, sends)
    assert row.last_sent_at == (T0 if emailed else None)


async def test_a_new_guests_row_records_hr_s_id_the_sponsor_and_when_it_began(
    rt: Runtime,
) -> None:
    directory = cast(FakeDirectory, rt.directory)
    directory.add_user("grace@contoso.example", user_type="Member", upn="grace@contoso.example")
    body = {
        "email": "ada@fabrikam.example",
        "externalId": "hr-4711",
        "sponsors": ["grace@contoso.example"],
    }
    assert await handle_invitation_message(body=json.dumps(body), message_id="m", rt=rt) == (
        "invited"
    )
    row = cast(FakeLedger, rt.ledger).rows["ada@fabrikam.example"]
    assert (row.external_id, row.sponsor_contact) == ("hr-4711", "grace@contoso.example")
    assert row.created_at == T0
    assert row.history == (f"inviting@{T0.isoformat()}", f"invited@{T0.isoformat()}")


async def test_a_guest_who_comes_back_keeps_the_history_of_the_earlier_lifecycle(
    rt: Runtime,
) -> None:
    ledger = cast(FakeLedger, rt.ledger)
    earlier = ("invited@2026-01-01T00:00:00+00:00", "expired@2026-02-01T00:00:00+00:00")
    ledger.rows["ada@fabrikam.example"] = LedgerEntry(
        email="ada@fabrikam.example",
        status=GuestStatus.EXPIRED,
        invitation=Invitation(redirect_url=DEFAULT_REDIRECT),
        history=earlier,
        etag="W/0",
    )
    body = json.dumps({"email": "ada@fabrikam.example"})
    assert await handle_invitation_message(body=body, message_id="m", rt=rt) == "invited"
    row = ledger.rows["ada@fabrikam.example"]
    assert row.history[:2] == earlier
    assert row.history[2:] == (f"inviting@{T0.isoformat()}", f"invited@{T0.isoformat()}")


def test_a_guest_domain_off_the_list_is_named() -> None:
    policy = settings(ALLOWED_EMAIL_DOMAINS="fabrikam.example").policy
    with pytest.raises(InvalidMessage) as refused:
        policy.check_guest_domain("ada@evil.example")
    assert str(refused.value) == "DomainNotAllowed: the domain evil.example is not allowed"


def test_a_character_graph_refuses_is_named_as_graphs_rule() -> None:
    """``!`` is printable ASCII (no UnsafeCharacter) and on Graph's list of characters it
    refuses in addresses: the code tells the sender which rule they broke."""
    with pytest.raises(InvalidMessage) as refused:
        check_address("a!b@fabrikam.example")
    assert refused.value.code == "ForbiddenCharacter"


def test_a_broken_internationalised_domain_in_the_settings_is_named() -> None:
    with pytest.raises(SettingsError) as refused:
        settings(ALLOWED_EMAIL_DOMAINS="xn--a.example")
    assert str(refused.value).startswith(
        "ALLOWED_EMAIL_DOMAINS: 'xn--a.example' is not a valid internationalised domain: "
    )


@pytest.mark.parametrize("address", ["a~b@fabrikam.example", "a!b@fabrikam.example"])
def test_graphs_forbidden_characters_at_the_ends_of_printable_ascii_are_graphs_rule(
    address: str,
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        check_address(address)
    assert refused.value.code == "ForbiddenCharacter"


@pytest.mark.parametrize(
    ("address", "says"),
    [
        (
            "a\u200bb\u200ec@fabrikam.example",
            "UnsafeCharacter: email has characters a mailbox name may not hold: U+200B U+200E",
        ),
        (
            "a!b#c@fabrikam.example",
            "ForbiddenCharacter: email contains ! #, which Graph refuses in addresses",
        ),
        ("a@b@fabrikam.example", "InvalidEmail: email is not a valid email address"),
        (".ada@fabrikam.example", "InvalidEmail: email is not a valid email address"),
        ("ada.@fabrikam.example", "InvalidEmail: email is not a valid email address"),
        ("a..da@fabrikam.example", "InvalidEmail: email is not a valid email address"),
        ("a" * 65 + "@fabrikam.example", "InvalidEmail: email is not a valid email address"),
    ],
)
def test_a_refused_address_is_told_apart_by_what_is_wrong(address: str, says: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        check_address(address)
    assert str(refused.value) == says


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://evil.example/", "redirectUrl is not under an allowed prefix"),
        (
            "https://myapps.microsoft.com/a;b",
            "redirectUrl: the URL's path may not hold ';' (servers read path parameters)",
        ),
        (
            "https://myapps.microsoft.com/a%7Fb",
            "redirectUrl: the URL's path may hold printable ASCII only, raw or encoded",
        ),
        (
            "https://myapps.microsoft.com/a%2Fb",
            "redirectUrl: the URL's path may not hold an encoded '/', '\\', ';' or '%' "
            "(%2f, %5c, %3b, %25)",
        ),
        (
            "https://myapps.microsoft.com/./x",
            "redirectUrl: the URL's path may not hold '.' or '..' segments",
        ),
        (
            "https://myapps.microsoft.com/a b",
            "redirectUrl: the URL holds whitespace, control, bidi or zero-width characters, "
            "or backslashes",
        ),
        (
            "https://myapps.microsoft.com\\@evil.example/",
            "redirectUrl: the URL holds whitespace, control, bidi or zero-width characters, "
            "or backslashes",
        ),
        ("http://myapps.microsoft.com/", "redirectUrl: the URL must use https"),
        (
            "https://user@myapps.microsoft.com/",
            "redirectUrl: the URL may not carry user information",
        ),
        ("https://[::1/", "redirectUrl: the URL cannot be parsed: Invalid IPv6 URL"),
    ],
)
def test_a_refused_redirect_says_which_rule(url: str, says: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        settings().policy.check_redirect(url)
    assert str(refused.value) == f"RedirectNotAllowed: {says}"


def test_a_redirect_on_a_port_of_its_own_keeps_it() -> None:
    prefix = "https://projectx.fabrikam.example:8443"
    policy = settings(INVITE_REDIRECT_URL=prefix, ALLOWED_REDIRECT_PREFIXES=prefix).policy
    assert policy.check_redirect(f"{prefix}/app") == f"{prefix}/app"


def test_a_local_part_of_64_characters_is_an_address_and_no_domain_is_not() -> None:
    longest = "a" * 64 + "@fabrikam.example"
    assert check_address(longest) == longest
    with pytest.raises(InvalidMessage) as refused:
        check_address("ada@localhost")
    assert str(refused.value) == "InvalidEmail: email has no valid domain"
