"""Email addresses: the one form they are compared, keyed and looked up in, and how they are
masked for logs."""

from __future__ import annotations

import re

from guest_onboarding.errors import InvalidMessage

#: Characters Graph refuses in an invited address (so ``+`` addresses are refused up front).
FORBIDDEN_ADDRESS_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')
_ADDRESS = re.compile(
    r"^[^@\s]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    re.IGNORECASE,
)


def normalize_address(address: str) -> str:
    """The form addresses are compared and keyed in: trimmed and lower-cased."""
    return address.strip().lower()


def check_address(address: str, *, field_name: str = "email") -> str:
    """Return the normalized address, or raise InvalidMessage (``InvalidEmail`` /
    ``ForbiddenCharacter``) for an address Graph would refuse."""
    normalized = normalize_address(address)
    forbidden = sorted({c for c in normalized if c in FORBIDDEN_ADDRESS_CHARACTERS})
    if forbidden:
        raise InvalidMessage(
            "ForbiddenCharacter",
            f"{field_name} contains {' '.join(forbidden)}, which Graph refuses in addresses",
        )
    if not _ADDRESS.match(normalized) or ".." in normalized:
        raise InvalidMessage("InvalidEmail", f"{field_name} is not a valid email address")
    return normalized


def domain_of(address: str) -> str:
    """The part after the last ``@``."""
    return address.rsplit("@", 1)[-1]


def domain_matches(domain: str, entries: frozenset[str]) -> bool:
    """True when ``domain`` is an entry or a subdomain of one."""
    return any(domain == e or domain.endswith("." + e) for e in entries)


def mask_address(address: str) -> str:
    """An address fit for logs: ``a***@fabrikam.example``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
