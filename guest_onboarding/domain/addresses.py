"""Email addresses and domains in one canonical form, computed before any policy, ledger key or
look-up, and masked for logs.

Canonical form: the local part lower-cased (ASCII only: control, zero-width, bidi and other
non-ASCII characters are refused), the domain mapped and encoded by IDNA (UTS-46: full-width
letters, case and the like folded, IDN labels as ``xn--`` A-labels) and lower-cased. Two spellings
that reach the same mailbox therefore meet the same domain lists and the same ledger row.

``idna`` is imported only for a non-ASCII domain (or an ``xn--`` label to verify), so reading the
settings at start-up stays cheap.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from guest_onboarding.errors import InvalidMessage

#: Characters Graph refuses in an invited address (so ``+`` addresses are refused up front).
FORBIDDEN_ADDRESS_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
MAX_LOCAL_PART = 64
MAX_DOMAIN = 253


class DomainError(ValueError):
    """A domain that no mailbox can be in."""


def canonical_domain(domain: str) -> str:
    """``domain`` as compared everywhere: IDNA (UTS-46) A-labels, lower case.

    Raises :class:`DomainError` for anything that is not a registrable host name (an empty
    label, a trailing dot, an underscore, a label IDNA refuses)."""
    if domain.isascii():
        canonical = domain.lower()
        if any(label.startswith("xn--") for label in canonical.split(".")):
            canonical = _idna(canonical)
    else:
        canonical = _idna(domain)
    labels = canonical.split(".")
    if len(canonical) > MAX_DOMAIN or len(labels) < 2:
        raise DomainError(f"{domain!r} is not a domain name")
    if not all(_LABEL.match(label) for label in labels) or not _TLD.match(labels[-1]):
        raise DomainError(f"{domain!r} is not a domain name")
    return canonical


def _idna(domain: str) -> str:
    import idna

    try:
        return idna.encode(domain, uts46=True, std3_rules=True, transitional=False).decode()
    except idna.IDNAError as exc:
        raise DomainError(f"{domain!r} is not a valid internationalised domain: {exc}") from None


def _unsafe(character: str) -> bool:
    """Control, format (zero-width, bidi), separators and anything else outside printable
    ASCII: invisible or look-alike in a mailbox name."""
    return not ("!" <= character <= "~") or unicodedata.category(character)[0] in {"C", "Z"}


def check_address(address: str, *, field_name: str = "email") -> str:
    """The canonical form of ``address``, or InvalidMessage: ``UnsafeCharacter`` (control,
    zero-width, bidi, non-ASCII in the local part), ``ForbiddenCharacter`` (Graph's list),
    ``InvalidEmail`` (anything else that is not an address)."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    unsafe = sorted({c for c in local if _unsafe(c)})
    if unsafe:
        shown = " ".join(f"U+{ord(c):04X}" for c in unsafe)
        raise InvalidMessage(
            "UnsafeCharacter", f"{field_name} has characters a mailbox name may not hold: {shown}"
        )
    forbidden = sorted({c for c in text if c in FORBIDDEN_ADDRESS_CHARACTERS})
    if forbidden:
        raise InvalidMessage(
            "ForbiddenCharacter",
            f"{field_name} contains {' '.join(forbidden)}, which Graph refuses in addresses",
        )
    if (
        not at
        or not local
        or "@" in local
        or len(local) > MAX_LOCAL_PART
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise InvalidMessage("InvalidEmail", f"{field_name} is not a valid email address")
    try:
        return f"{local.lower()}@{canonical_domain(domain)}"
    except DomainError:
        raise InvalidMessage("InvalidEmail", f"{field_name} has no valid domain") from None


def normalize_address(address: str) -> str:
    """The canonical form of an address read from a trusted source (the directory, the
    ledger); an address that cannot be made canonical is only trimmed and lower-cased."""
    try:
        return check_address(address)
    except InvalidMessage:
        return address.strip().lower()


def domain_of(address: str) -> str:
    """The part after the last ``@``."""
    return address.rsplit("@", 1)[-1]


def domain_matches(domain: str, entries: frozenset[str]) -> bool:
    """True when ``domain`` is an entry or a subdomain of one (both canonical)."""
    return any(domain == e or domain.endswith("." + e) for e in entries)


def pseudonym(value: str | None) -> str | None:
    """A stable stand-in for an identifier in logs (an address, HR's external id: personal
    data): the same value always gives the same 12 hex digits, which correlate lines without
    revealing it."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def mask_address(address: str) -> str:
    """An address fit for logs: ``a***@fabrikam.example``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
