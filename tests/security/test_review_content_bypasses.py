"""Review (attacker's view): links the content rules let through, and invisible characters.

``domain/links.py`` maps the whole text with UTS-46 before looking for links, then judges what
linkify-it found. Three gaps, each shown with a URL a browser opens outside the allow-list:

- the mapping turns the full-width and small forms of ``#``, ``/`` and ``?`` (U+FF03, U+FF0F,
  U+FF1F, U+FE5F, U+FE56) into ASCII, which moves an ``@`` that follows them out of the
  authority: the detector judges ``https://myapps.microsoft.com#@evil.example/login``
  (allowed), while a browser reads ``myapps.microsoft.com`` + U+FF03 as user-info and opens
  ``evil.example``;
- linkify-it ends a link where a browser does not (``)``, a second ``@``, ``\\``, a trailing
  ``..``, ``..;``) and only the part it kept is judged;
- links linkify-it does not recognise at all are not judged: a host with ``_`` (browsers open
  it), an IPv6 literal, a special scheme without slashes (``https:evil.example``, which the
  WHATWG parser reads as ``https://evil.example``).

The oracle is ada (``ada_url``, the WHATWG URL parser Node.js uses) and the redirect oracle of
this tier (``url_oracle.lands_where_allowed``); the allow-list is stated here again.

Characters: Unicode lists the code points below as ``Default_Ignorable_Code_Point``
(DerivedCoreProperties.txt, Unicode 15.1: "should be rendered as completely invisible"); they
are not in the refused general categories (``Mn`` or ``Lo``), so a display name may hold them,
although the contract refuses zero-width characters in ``displayName``.
"""

from __future__ import annotations

import json

import pytest
from ada_url import parse_url

from guest_onboarding.config import Settings
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.messages import parse_invitation_queue_message
from tests.security.url_oracle import lands_where_allowed
from tests.support import SETTINGS_ENV

ADA = "ada@fabrikam.example"
POLICY = Settings.from_env(SETTINGS_ENV).policy
ALLOWED_HOSTS = {"myapps.microsoft.com", "projectx.fabrikam.example"}

#: Links a browser opens on a host outside the allow-list, that the content rules let through.
OTHER_HOSTS = {
    "full-width number sign": "https://myapps.microsoft.com\uff03@evil.example/login",
    "full-width solidus": "https://myapps.microsoft.com\uff0f@evil.example/login",
    "full-width question mark": "https://myapps.microsoft.com\uff1f@evil.example/login",
    "small number sign": "https://myapps.microsoft.com\ufe5f@evil.example/login",
    "closing parenthesis": "https://myapps.microsoft.com)@evil.example/login",
    "second at sign": "https://myapps.microsoft.com@@evil.example/login",
    "underscore in the host": "https://login_microsoftonline.evil.example/",
    "underscore in the host, http": "http://a_b.evil.example/login",
    "no slashes after the scheme": "https:evil.example/login",
    "IPv6 literal": "https://[2001:db8::1]/login",
}


def refusal(**fields: object) -> str | None:
    """The rejection code of a message with ``fields``, None if it is accepted."""
    body = json.dumps({"email": ADA, **fields})
    try:
        parse_invitation_queue_message(body, POLICY)
    except InvalidMessage as exc:
        return exc.code
    return None


@pytest.mark.parametrize("url", OTHER_HOSTS.values(), ids=OTHER_HOSTS.keys())
def test_review_a_body_linking_elsewhere_in_a_spelling_the_detector_misses_is_refused(
    url: str,
) -> None:
    host = str(parse_url(url)["hostname"])
    assert host not in ALLOWED_HOSTS  # the oracle: where a browser goes
    assert refusal(customizedMessageBody=f"Welcome! Sign in at {url} today.") == "LinkNotAllowed"


@pytest.mark.parametrize(
    "url",
    [OTHER_HOSTS["full-width number sign"], OTHER_HOSTS["underscore in the host"]],
    ids=["full-width number sign", "underscore in the host"],
)
def test_review_a_display_name_linking_elsewhere_is_refused(url: str) -> None:
    assert str(parse_url(url)["hostname"]) not in ALLOWED_HOSTS
    assert refusal(displayName=f"IT desk {url}") == "LinkNotAllowed"


#: A deployment whose allowed prefix has a path: links must stay under ``/app``.
PATH_POLICY = Settings.from_env(
    {
        **SETTINGS_ENV,
        "ALLOWED_REDIRECT_PREFIXES": "https://myapps.microsoft.com,https://portal.fabrikam.example/app",
    }
).policy
PATH_ALLOWED = {("myapps.microsoft.com", "/"), ("portal.fabrikam.example", "/app")}
OUT_OF_PREFIX = {
    "backslashes (a browser reads /admin)": "https://portal.fabrikam.example/app\\..\\admin",
    "a trailing dot segment (a browser reads /)": "https://portal.fabrikam.example/app/..",
    "a dot segment with a path parameter (Tomcat reads /admin)": (
        "https://portal.fabrikam.example/app/..;/admin"
    ),
}


@pytest.mark.parametrize("url", OUT_OF_PREFIX.values(), ids=OUT_OF_PREFIX.keys())
def test_review_a_body_link_leaving_the_prefix_path_is_refused(url: str) -> None:
    landed, why = lands_where_allowed(url, PATH_ALLOWED)
    assert not landed, why  # the oracle: it leaves /app
    body = json.dumps({"email": ADA, "customizedMessageBody": f"Your space: {url} (bookmark it)"})
    with pytest.raises(InvalidMessage) as refused:
        parse_invitation_queue_message(body, PATH_POLICY)
    assert refused.value.code == "LinkNotAllowed"


#: Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1) outside the refused
#: general categories, with their names and categories.
INVISIBLE = {
    "\u034f": "COMBINING GRAPHEME JOINER (Mn)",
    "\u115f": "HANGUL CHOSEONG FILLER (Lo)",
    "\u1160": "HANGUL JUNGSEONG FILLER (Lo)",
    "\u17b4": "KHMER VOWEL INHERENT AQ (Mn)",
    "\u17b5": "KHMER VOWEL INHERENT AA (Mn)",
    "\u3164": "HANGUL FILLER (Lo)",
    "\uffa0": "HALFWIDTH HANGUL FILLER (Lo)",
}


@pytest.mark.parametrize("character", INVISIBLE, ids=INVISIBLE.values())
def test_review_a_display_name_refuses_default_ignorable_characters(character: str) -> None:
    assert refusal(displayName=f"Ada{character}Lovelace") == "UnsafeCharacter"
