"""Links in an invitation's text, and the identifiers logs carry, as ``make mutation`` showed no
test pinned them (bench-results/mutation.md): links an allowed reader would open pass, links
that differ from an allowed one only by how a host is mapped or spelt are each checked, and the
operator is told which link and which rule. Expected hosts are worked out here (UTS-46
non-transitional, as browsers map them: ``ß`` stays ``ß``, so ``faß`` is not ``fass``)."""

from __future__ import annotations

import hashlib
import logging

import pytest

from guest_onboarding.config import Settings
from guest_onboarding.domain.addresses import mask_address, pseudonym
from guest_onboarding.domain.content import check_display_name, check_message_body
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage
from tests.support import SETTINGS_ENV

POLICY = Settings.from_env(SETTINGS_ENV).policy
#: ``fass`` allowed, ``faß`` (xn--fa-hia) not: a browser opens them as two hosts.
FASS = Settings.from_env(
    {
        **SETTINGS_ENV,
        "ALLOWED_REDIRECT_PREFIXES": "https://fass.fabrikam.example,https://myapps.microsoft.com",
    }
).policy


@pytest.mark.parametrize(
    "body",
    [
        "Write to mailto:grace@contoso.example",
        "Write to MAILTO:Grace@contoso.example",
        "The portal: //projectx.fabrikam.example/app",
        "The portal: @projectx.fabrikam.example",
    ],
)
def test_links_to_allowed_places_pass(body: str) -> None:
    assert check_message_body(body, POLICY) == body


@pytest.mark.parametrize(
    ("policy", "body"),
    [
        (FASS, "https://faß.fabrikam.example/x"),
        (FASS, "https://fass.fabrikam.example/x or https://faß.fabrikam.example/x"),
        (POLICY, "https://myapps.microsoft.com then https://evil.example"),
    ],
)
def test_each_link_is_checked_and_a_host_is_read_as_a_browser_maps_it(
    policy: Policy, body: str
) -> None:
    with pytest.raises(InvalidMessage) as refused:
        check_message_body(body, policy)
    assert refused.value.code == "LinkNotAllowed"


def test_a_refused_link_is_named_with_the_rule_it_broke() -> None:
    with pytest.raises(InvalidMessage) as url:
        check_message_body("Go to //evil.example/app", POLICY)
    assert str(url.value).endswith(
        'customizedMessageBody links to "//evil.example/app", and a link must be under '
        "ALLOWED_REDIRECT_PREFIXES (RedirectNotAllowed)"
    )
    with pytest.raises(InvalidMessage) as address:
        check_message_body("Write to mailto:x@evil.example", POLICY)
    assert str(address.value).endswith(
        'customizedMessageBody links to "mailto:x@evil.example", and an address must be in a '
        "domain of ALLOWED_CC_DOMAINS (CcNotAllowed)"
    )


def test_a_long_refused_link_is_shown_cut_to_80_characters() -> None:
    link = "https://evil.example/" + "a" * 100
    with pytest.raises(InvalidMessage) as refused:
        check_message_body(f"see {link}", POLICY)
    shown = '"' + link[:77] + '..."'
    assert f"links to {shown}, and" in str(refused.value)
    exactly_80 = "https://evil.example/" + "b" * 59
    with pytest.raises(InvalidMessage) as whole:
        check_message_body(f"see {exactly_80}", POLICY)
    assert f'links to "{exactly_80}", and' in str(whole.value)
    with pytest.raises(InvalidMessage) as cut:
        check_message_body(f"see {exactly_80}c", POLICY)
    assert f'links to "{exactly_80[:77]}...", and' in str(cut.value)


def test_logs_name_a_guest_by_a_masked_address_and_a_documented_reference() -> None:
    """docs/operations.md: ``guest_ref`` is 12 hex digits of the SHA-256 of the canonical
    address, which an operator computes to find a guest's lines."""
    assert mask_address("ada@fabrikam.example") == "a***@fabrikam.example"
    assert mask_address("not an address") == "***"
    expected = hashlib.sha256(b"ada@fabrikam.example").hexdigest()[:12]
    assert pseudonym("ada@fabrikam.example") == expected
    assert pseudonym(None) is None


ZW = "\u200b"  # ZERO WIDTH SPACE


def test_refused_characters_are_listed_three_at_most_with_the_rest_counted() -> None:
    with pytest.raises(InvalidMessage) as seven:
        check_message_body("a" + "b".join([ZW] * 7), POLICY)
    assert str(seven.value) == (
        "UnsafeCharacter: customizedMessageBody holds characters it may not: "
        "U+200B (format: bidi or zero-width) at 1, U+200B (format: bidi or zero-width) at 3, "
        "U+200B (format: bidi or zero-width) at 5 and 4 more (line breaks are LF or CR LF)"
    )
    with pytest.raises(InvalidMessage) as three:
        check_display_name(f"a{ZW}b{ZW}c{ZW}", POLICY)
    assert str(three.value) == (
        "UnsafeCharacter: displayName holds characters it may not: "
        "U+200B (format: bidi or zero-width) at 1, U+200B (format: bidi or zero-width) at 3, "
        "U+200B (format: bidi or zero-width) at 5"
    )


def test_a_refused_character_after_a_line_break_is_found() -> None:
    with pytest.raises(InvalidMessage) as refused:
        check_message_body("Hello\nthere\r\nAda\u202e", POLICY)
    assert "U+202E" in str(refused.value)


def test_reading_a_text_for_links_logs_none_of_it_even_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ioc-fanger logs the text it fangs at DEBUG; a display name or a message body is personal
    data, and the app's own lines must still come through."""
    secret = "Ada Lovelace, see hxxps://projectx[.]fabrikam[.]example/ada"
    fanger = logging.getLogger("ioc_fanger")
    level = fanger.level
    fanger.setLevel(logging.NOTSET)  # as in a process where no text was read yet
    caplog.set_level(logging.DEBUG)
    try:
        check_message_body(secret, POLICY)
    finally:
        fanger.setLevel(level)
    logging.getLogger("guest_onboarding").info("after the check")
    assert not any("Lovelace" in record.getMessage() for record in caplog.records)
    assert [r.getMessage() for r in caplog.records if r.name == "guest_onboarding"] == [
        "after the check"
    ]


def test_a_refused_link_is_shown_as_a_browser_reads_its_fullwidth_characters() -> None:
    """UTS-46 without the STD3 rules maps FULLWIDTH COLON (U+FF1A) to ``:`` as a browser's
    URL bar does: the operator sees the link that would have been opened."""
    with pytest.raises(InvalidMessage) as refused:
        check_message_body("see https\uff1a//evil.example/x", POLICY)
    assert 'links to "https://evil.example/x", and' in str(refused.value)
