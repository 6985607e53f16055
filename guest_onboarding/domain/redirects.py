"""Redirect URLs matched against ``ALLOWED_REDIRECT_PREFIXES`` as URLs, never as strings.

A URL is allowed when a prefix has the same scheme, the same host (after IDNA and case
normalisation), the same port (the scheme's default made explicit) and a path that starts with
the prefix's path at a segment boundary (``/app`` allows ``/app`` and ``/app/x``, not
``/apple``). Refused outright: user-info (``https://allowed@evil``), backslashes, whitespace and
control characters (browsers and parsers disagree on them), dot segments (``/app/../admin``, also
percent-encoded), schemes other than https (http only for a loopback host, for development).

What reaches Graph is the URL rebuilt from its parsed parts, so it is exactly what was checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from guest_onboarding.domain.addresses import DomainError, canonical_domain

_DEFAULT_PORTS = {"https": 443, "http": 80}
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})


class RedirectError(ValueError):
    """Not a URL a guest may be sent to."""


@dataclass(frozen=True, kw_only=True)
class ParsedUrl:
    scheme: str
    host: str
    port: int
    path: str
    query: str
    fragment: str

    @property
    def segments(self) -> tuple[str, ...]:
        """The path's segments, without the empty one a trailing slash leaves."""
        parts = self.path.split("/")[1:] if self.path.startswith("/") else []
        return tuple(parts[:-1] if parts and parts[-1] == "" else parts)

    def text(self) -> str:
        """The URL rebuilt from its parts (default port left out)."""
        netloc = (
            self.host if self.port == _DEFAULT_PORTS[self.scheme] else f"{self.host}:{self.port}"
        )
        return urlunsplit((self.scheme, netloc, self.path, self.query, self.fragment))


def parse_url(url: str) -> ParsedUrl:
    """``url`` parsed and normalised, or :class:`RedirectError` saying why not."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise RedirectError("the URL holds whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RedirectError(f"the URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise RedirectError("the URL must use https")
    if "@" in parts.netloc:
        raise RedirectError("the URL may not carry user information")
    raw_host = parts.hostname or ""
    host = f"[{raw_host}]" if ":" in raw_host else raw_host
    if host not in _LOOPBACK:
        if scheme != "https":
            raise RedirectError("the URL must use https")
        try:
            host = canonical_domain(raw_host)
        except DomainError:
            raise RedirectError("the URL's host is not a domain name") from None
    path = parts.path
    if any(segment in {".", ".."} for segment in unquote(path).split("/")):
        raise RedirectError("the URL's path may not hold '.' or '..' segments")
    return ParsedUrl(
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        path=path,
        query=parts.query,
        fragment=parts.fragment,
    )


@dataclass(frozen=True, kw_only=True)
class RedirectAllowList:
    """The parsed ``ALLOWED_REDIRECT_PREFIXES``."""

    prefixes: tuple[ParsedUrl, ...]

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> RedirectAllowList:
        """Raises :class:`RedirectError` naming the first entry that is not a valid prefix."""
        prefixes = []
        for entry in entries:
            try:
                prefix = parse_url(entry)
            except RedirectError as exc:
                raise RedirectError(f"{entry!r}: {exc}") from None
            if prefix.query or prefix.fragment:
                raise RedirectError(f"{entry!r}: a prefix may not hold a query or fragment")
            prefixes.append(prefix)
        return cls(prefixes=tuple(prefixes))

    def allows(self, url: ParsedUrl) -> bool:
        return any(_under(url, prefix) for prefix in self.prefixes)


def _under(url: ParsedUrl, prefix: ParsedUrl) -> bool:
    wanted = prefix.segments
    return (
        url.scheme == prefix.scheme
        and url.host == prefix.host
        and url.port == prefix.port
        and url.segments[: len(wanted)] == wanted
    )
