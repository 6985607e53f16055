"""An oracle for redirect URLs that shares nothing with ``guest_onboarding/domain/redirects.py``.

Where does a guest land? First where a browser sends them: the URL is parsed by ada
(``ada_url``), the WHATWG URL parser Node.js uses, which resolves dot segments and reads ``\\``
as ``/`` as browsers do, and cross-checked with httpx's parser (two parsers that disagree on
the host are a finding of their own). Then where the server behind the allowed prefix may route
the path it receives: servers differ, so every reading below must stay under the prefix:

- as sent (the browser's path, dot segments resolved);
- percent-decoded once, or twice (IIS, some proxies and frameworks decode before they route,
  ``%2f``, ``%5c`` and ``%2e`` becoming separators and dots);
- with ``;`` path parameters cut from every segment (Tomcat and Jetty: ``/app/..;/admin`` is
  ``/app/..``);
- with ``\\`` read as ``/`` (IIS);

each reading resolved again by the WHATWG parser. The decoded path must also be printable ASCII
(no non-ASCII, bidi or zero-width character a person or a log viewer could be fooled by).

The allow-list is stated here again as (host, path) pairs, not read from the settings.
"""

from __future__ import annotations

import itertools
import re

import httpx
from ada_url import parse_url

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _decode(path: bytes) -> bytes:
    return _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), path)


def _resolved(host: str, path: bytes) -> str:
    """``path`` (bytes a server decoded) routed again, dot segments resolved: the WHATWG
    parser's pathname for it. ``?`` and ``#`` a decoding produced stay in the path."""
    text = path.decode("latin-1").replace("?", "%3F").replace("#", "%23")
    text = text if text.startswith("/") else "/" + text
    return str(parse_url(f"https://{host}{text}")["pathname"])


def readings(host: str, pathname: str) -> set[str]:
    """Every path a server may route the browser's ``pathname`` to (see the module)."""
    sent = pathname.encode("latin-1", "backslashreplace")
    found = set()
    ways = itertools.product((0, 1, 2), (False, True), (False, True))
    for decodes, cut_parameters, backslash in ways:
        path = sent
        for _ in range(decodes):
            path = _decode(path)
        if cut_parameters:
            path = b"/".join(segment.split(b";", 1)[0] for segment in path.split(b"/"))
        if backslash:
            path = path.replace(b"\\", b"/")
        found.add(_resolved(host, path))
    return found


def _under(path: str, prefix: str) -> bool:
    wanted = [s for s in prefix.split("/") if s]
    have = [s for s in path.split("/")]
    have = have[1:] if have and have[0] == "" else have
    return have[: len(wanted)] == wanted


def lands_where_allowed(url: str, allowed: set[tuple[str, str]]) -> tuple[bool, str]:
    """(True, "") when ``url`` leads a browser, and every server reading of its path, under
    one of ``allowed`` (host, path prefix); else (False, why)."""
    browser = parse_url(url)
    if browser["protocol"] != "https:":
        return False, f"scheme {browser['protocol']}"
    if browser["username"] or browser["password"]:
        return False, "user-info"
    host = str(browser["hostname"])
    if browser["port"] not in ("", "443"):
        return False, f"port {browser['port']}"
    other = httpx.URL(url)
    if other.host != host:
        return False, f"the parsers disagree on the host: {host!r} and {other.host!r}"
    prefixes = [path for allowed_host, path in allowed if allowed_host == host]
    if not prefixes:
        return False, f"host {host}"
    pathname = str(browser["pathname"])
    decoded = _decode(_decode(pathname.encode("latin-1", "backslashreplace")))
    if any(not 0x20 <= byte < 0x7F for byte in decoded):
        return False, f"the path holds a character outside printable ASCII: {pathname}"
    for reading in readings(host, pathname):
        if not any(_under(reading, prefix) for prefix in prefixes):
            return False, f"a server may route {pathname} to {reading}"
    return True, ""


def assert_lands_where_allowed(url: str, allowed: set[tuple[str, str]]) -> None:
    ok, why = lands_where_allowed(url, allowed)
    assert ok, f"{url}: {why}"
