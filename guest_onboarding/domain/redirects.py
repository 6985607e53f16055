"""Redirect URLs matched against ``ALLOWED_REDIRECT_PREFIXES`` as URLs, never as strings.

A URL is allowed when a prefix has the same scheme, the same host (after IDNA and case
normalisation), the same port (the scheme's default made explicit) and a path that starts with
the prefix's path at a segment boundary (``/app`` allows ``/app`` and ``/app/x``, not
``/apple``). Refused outright: user-info (``https://allowed@evil``), backslashes, and any
character of the Unicode categories "other" (control, format: bidi and zero-width, unassigned)
and "separator" (spaces, line breaks) anywhere (browsers and parsers disagree on them), schemes
other than https (http only for a loopback host, for development).

The path is judged segment by segment, as servers behind the prefix may read it: a segment is
percent-decoded (once) and refused when it then holds a ``/``, ``\\`` or ``;`` (``%2f``, ``%5c``,
``%3b``: IIS and others decode before they split), a ``%`` (``%252e``: decoded twice), a byte
outside printable ASCII (non-ASCII, bidi and zero-width characters, raw or encoded; an encoded
space, ``%20``, passes), or is a dot segment (``..``, ``%2e%2e``, ``.%2e``). A ``;`` anywhere in
the path is refused too: Tomcat and Jetty read ``/app/..;/admin`` as ``/app/..`` with a path
parameter, that is ``/admin``.

What reaches Graph is the URL rebuilt from its parsed parts, so it is exactly what was checked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

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
    if any(c == "\\" or unicodedata.category(c)[0] in "CZ" for c in url):
        raise RedirectError(
            "the URL holds whitespace, control, bidi or zero-width characters, or backslashes"
        )
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
    _check_path(path)
    return ParsedUrl(
        scheme=scheme,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        path=path,
        query=parts.query,
        fragment=parts.fragment,
    )


#: Bytes a path segment may not hold once percent-decoded: separators some server reads
#: (``/``, ``\\``, ``;``) and ``%`` (a second decoding would find more).
_DECODED_SEPARATORS = frozenset(b"/\\;%")


def _check_path(path: str) -> None:
    """Refuse a path that a server behind an allowed prefix could read as another path (see
    the module's docstring)."""
    if ";" in path:
        raise RedirectError("the URL's path may not hold ';' (servers read path parameters)")
    for segment in path.split("/"):
        decoded = unquote_to_bytes(segment)
        if any(byte in _DECODED_SEPARATORS for byte in decoded):
            raise RedirectError(
                "the URL's path may not hold an encoded '/', '\\', ';' or '%' (%2f, %5c, %3b, %25)"
            )
        if any(not 0x20 <= byte < 0x7F for byte in decoded):
            raise RedirectError("the URL's path may hold printable ASCII only, raw or encoded")
        if decoded in {b".", b".."}:
            raise RedirectError("the URL's path may not hold '.' or '..' segments")


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
