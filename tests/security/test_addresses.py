"""Addresses in one canonical form before any policy, ledger key or look-up: invisible and
look-alike characters cannot slip a blocked domain past the lists or split one guest into two
ledger rows; lengths are counted as Graph counts them."""

from __future__ import annotations

import pytest

from guest_onboarding.config import Settings, SettingsError
from tests.security.conftest import Tenant


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    "email",
    [
        "ada\u200b@fabrikam.example",  # zero-width space
        "ada\u202e@fabrikam.example",  # right-to-left override
        "ad\u0430@fabrikam.example",  # Cyrillic a
        "ada\x07@fabrikam.example",  # control character
        "\u00e4da@fabrikam.example",  # non-ASCII letter
        "ada\u00a0@fabrikam.example",  # no-break space
    ],
)
async def test_unsafe_local_parts_are_refused(tenant: Tenant, email: str) -> None:
    assert await tenant.invite({"email": email}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["UnsafeCharacter"]
    assert tenant.directory.calls == []


@pytest.mark.parametrize(
    "email",
    [
        "ada@" + fullwidth("blocked") + ".example",  # full-width letters fold to ASCII
        "ada@BLOCKED.example",
        "ada@blo\u00adcked.example",  # soft hyphen: ignored by IDNA
        "ada@sub.blocked\u3002example",  # ideographic full stop: a dot
    ],
)
async def test_look_alike_spellings_of_a_blocked_domain_are_blocked(
    tenant: Tenant, email: str
) -> None:
    assert await tenant.invite({"email": email}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["DomainBlocked"]


async def test_two_spellings_of_one_address_are_one_guest(tenant: Tenant) -> None:
    assert await tenant.invite({"email": "Ada@FABRIKAM.example"}, "m1") == "invited"
    assert (
        await tenant.invite({"email": "ada@" + fullwidth("fabrikam") + ".example"}, "m2")
        == "already_onboarded"
    )
    assert list(tenant.ledger.rows) == ["ada@fabrikam.example"]
    assert len(tenant.directory.emails) == 1


async def test_an_internationalised_domain_is_keyed_by_its_a_label(tenant: Tenant) -> None:
    tenant.rt.settings = Settings.from_env(
        {"ALLOWED_EMAIL_DOMAINS": "b\u00fccher.example", "ALLOWED_CC_DOMAINS": ""}
    )
    assert await tenant.invite({"email": "ada@B\u00dcCHER.example"}) == "invited"
    assert list(tenant.ledger.rows) == ["ada@xn--bcher-kva.example"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("displayName", "\U0001f600" * 129),  # 129 emoji = 258 UTF-16 code units > 256
        ("customizedMessageBody", "\U0001f600" * 1001),  # 2,002 code units > 2,000
        ("externalId", "\U0001f600" * 65),  # 130 > 128
    ],
)
async def test_lengths_are_counted_in_utf16_code_units(
    tenant: Tenant, field: str, value: str
) -> None:
    assert len(value) <= 2000  # within the limit if code points were counted
    assert await tenant.invite({"email": "ada@fabrikam.example", field: value}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["FieldTooLong"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BLOCKED_EMAIL_DOMAINS", "bad_domain.example"),
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam..example"),
        ("ALLOWED_CC_DOMAINS", "contoso.example."),
        ("ALLOWED_GROUP_IDS", "not-a-guid"),
        ("ALLOWED_APP_ROLES", "x:y"),
    ],
)
def test_malformed_lists_stop_the_app_at_start_up(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
