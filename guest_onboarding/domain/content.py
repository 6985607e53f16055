"""What an invitation email may say: ``displayName`` and ``customizedMessageBody``.

Graph puts both into a Microsoft-branded email sent in the tenant's name, and every reminder
sends them again, so they are held to the rules of a link a guest may follow:

- **Characters**, judged by their Unicode general category (``unicodedata``), not by a list:
  no control character (``Cc``: NUL, ESC, TAB, CR, LF, DEL, C1), no format character (``Cf``:
  bidi embeddings, overrides, isolates and marks, zero-width space, joiners, word joiner, BOM,
  soft hyphen), no line or paragraph separator (``Zl``, ``Zp``), no surrogate, private-use or
  unassigned code point (``Cs``, ``Co``, ``Cn``, as the runtime's Unicode version knows them);
  and no character Unicode says to render as invisible whatever its category
  (``Default_Ignorable_Code_Point``, DerivedCoreProperties.txt, read through ``regex``'s
  ``\\p{...}``): the combining grapheme joiner, the Hangul fillers, the Khmer inherent vowels,
  variation selectors; except inside an emoji (a variation selector right after a pictograph,
  a zero-width joiner between two).
  ``customizedMessageBody`` keeps its line breaks: LF, and CR followed by LF; a lone CR is
  refused. Rejection code ``UnsafeCharacter``.
- **Links**: every link a reader could follow (:mod:`guest_onboarding.domain.links`: schemes,
  ``www.``, bare and scheme-less domains, punycode, IP addresses, unicode full stops, defanged
  ``hxxp`` and ``[.]``) must be a URL that ``ALLOWED_REDIRECT_PREFIXES`` allows, judged by the
  redirect rule itself (``Policy.check_redirect``: https, no user-info, the host and a path under
  a prefix); an email address must meet the cc rule (``Policy.check_cc``: a domain of
  ``ALLOWED_CC_DOMAINS``, never a blocked one). Rejection code ``LinkNotAllowed``. The display
  name is shown in the email too, so it is held to the same link rule.

A reminder re-sends the invitation stored in the ledger, which may have been stored before a rule
or an allow-list changed: :func:`as_allowed_now` judges it again, and a field that fails today is
left out of the reminder (Microsoft's own text, no display name), as a cc no longer allowed is.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from enum import StrEnum

import regex

from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.links import LinkKind, find_links
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage

#: At most this many offending characters are named in a rejection.
_SHOWN = 3


class ContentField(StrEnum):
    DISPLAY_NAME = "displayName"
    MESSAGE_BODY = "customizedMessageBody"


#: Unicode general categories refused, and how a rejection names them.
_REFUSED_CATEGORIES = {
    "Cc": "control",
    "Cf": "format: bidi or zero-width",
    "Zl": "line separator",
    "Zp": "paragraph separator",
    "Cs": "surrogate",
    "Co": "private use",
    "Cn": "unassigned",
}


#: Characters Unicode says to render as completely invisible, whatever their category.
_DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")

#: The invisible characters an emoji is written with, allowed inside an emoji only: a variation
#: selector right after a pictograph (U+FE0F asks for "❤️" in colour), and the zero-width joiner
#: between two pictographs ("👩‍💻"). Never after a letter or digit, where IDNA's mapping would
#: drop it from a host name and a link could hide behind it.
_EMOJI_PART = regex.compile(
    r"(?<=\p{Extended_Pictographic}\p{Emoji_Modifier}?)[\uFE0E\uFE0F]"
    r"|(?<=\p{Extended_Pictographic}[\uFE0F\p{Emoji_Modifier}]*)\u200D"
    r"(?=\p{Extended_Pictographic})"
)


def unsafe_characters(text: str, *, line_breaks: bool = False) -> list[tuple[int, str, str]]:
    """Each refused character of ``text``: its position, the character and its kind. With
    ``line_breaks``, LF and CR LF pass."""
    found = []
    for index, character in enumerate(text):
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(character))
        if kind is None and _DEFAULT_IGNORABLE.match(character):
            kind = "invisible: default-ignorable"
        if kind is None or _EMOJI_PART.match(text, index):
            continue
        if line_breaks and (
            character == "\n" or (character == "\r" and text[index + 1 : index + 2] == "\n")
        ):
            continue
        found.append((index, character, kind))
    return found


def _check_characters(text: str, field: str, *, line_breaks: bool) -> None:
    found = unsafe_characters(text, line_breaks=line_breaks)
    if found:
        shown = ", ".join(f"U+{ord(c):04X} ({kind}) at {i}" for i, c, kind in found[:_SHOWN])
        more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        allowed = " (line breaks are LF or CR LF)" if line_breaks else ""
        raise InvalidMessage(
            "UnsafeCharacter", f"{field} holds characters it may not: {shown}{more}{allowed}"
        )


def _check_links(text: str, field: str, policy: Policy) -> None:
    for link in find_links(text):
        try:
            if link.kind is LinkKind.ADDRESS:
                policy.check_cc(check_address(link.target, field_name=str(field)))
            else:
                policy.check_redirect(link.target)
        except InvalidMessage as exc:
            shown = json.dumps(link.text if len(link.text) <= 80 else link.text[:77] + "...")
            rule = (
                "an address must be in a domain of ALLOWED_CC_DOMAINS"
                if link.kind is LinkKind.ADDRESS
                else "a link must be under ALLOWED_REDIRECT_PREFIXES"
            )
            raise InvalidMessage(
                "LinkNotAllowed", f"{field} links to {shown}, and {rule} ({exc.code})"
            ) from None


def check_display_name(value: str, policy: Policy) -> str:
    """``value`` if a display name may say it, else ``UnsafeCharacter`` or ``LinkNotAllowed``."""
    _check_characters(value, ContentField.DISPLAY_NAME, line_breaks=False)
    _check_links(value, ContentField.DISPLAY_NAME, policy)
    return value


def check_profile_value(value: str, field: str, policy: Policy) -> str:
    """``value`` if a profile attribute (``field``, named as the message names it) may say it:
    the display name's rules, since Graph shows it to the whole tenant. ``UnsafeCharacter`` or
    ``LinkNotAllowed`` otherwise."""
    _check_characters(value, field, line_breaks=False)
    _check_links(value, field, policy)
    return value


def check_message_body(value: str, policy: Policy) -> str:
    """``value`` if the invitation's message may say it, else ``UnsafeCharacter`` or
    ``LinkNotAllowed``."""
    _check_characters(value, ContentField.MESSAGE_BODY, line_breaks=True)
    _check_links(value, ContentField.MESSAGE_BODY, policy)
    return value


def as_allowed_now(invitation: Invitation, policy: Policy) -> Invitation:
    """The stored ``invitation`` with a display name or message body that today's rules
    refuse left out (for a reminder)."""
    display_name, body = invitation.display_name, invitation.message_body
    if display_name is not None:
        try:
            check_display_name(display_name, policy)
        except InvalidMessage:
            display_name = None
    if body is not None:
        try:
            check_message_body(body, policy)
        except InvalidMessage:
            body = None
    return dataclasses.replace(invitation, display_name=display_name, message_body=body)
