"""Redirect paths under a prefix with a path (``https://apps.fabrikam.example/app``): nothing a
server behind it could read as a path outside ``/app`` passes, nor a path a person could misread.
Judged by the independent oracle (``url_oracle``: a WHATWG parser and the readings of several
servers), never by the code's own parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guest_onboarding.config import Settings
from guest_onboarding.errors import InvalidMessage
from tests.security.conftest import make_tenant
from tests.security.url_oracle import assert_lands_where_allowed, lands_where_allowed

HOST = "apps.fabrikam.example"
#: The deployment of these tests, stated for the oracle as (host, path prefix).
ALLOWED = {(HOST, "/app"), ("myapps.microsoft.com", "/")}
PREFIXES = f"https://{HOST}/app,https://myapps.microsoft.com"
POLICY = Settings.from_env(
    {"ALLOWED_REDIRECT_PREFIXES": PREFIXES, "INVITE_REDIRECT_URL": f"https://{HOST}/app"}
).policy

#: Each one escapes /app for some server, or hides characters a person cannot see.
ESCAPES = [
    "/app/..;/admin",  # Tomcat, Jetty: '..' with a path parameter
    "/app;/../admin",
    "/app/..;x=1/admin",
    "/app/x;/../../admin",
    "/app/..%5cadmin",  # IIS: %5c decoded to '\', a separator
    "/app/..%5Cadmin",
    "/app/x%5c..%5c..%5cadmin",
    "/app/..%2fadmin",  # decoded before routing: '../admin'
    "/app%2f..%2fadmin",
    "/app/%2e%2e%2fadmin",
    "/app/%252e%252e/admin",  # decoded twice
    "/app/%252e%252e%252fadmin",
    "/app/%c0%ae%c0%ae/admin",  # over-long UTF-8 dots (old IIS)
    "/app/..%3b/admin",  # decoded, then read as a path parameter
    "/app/\u202eimda/x",  # right-to-left override, raw
    "/app/%E2%80%AE/x",  # the same, encoded
    "/app/\u200b/x",  # zero-width space
    "/app/%E2%80%8B",
    "/app/caf\u00e9",  # non-ASCII
    "/app/caf%C3%A9",
    "/app/\u0430dmin",  # Cyrillic a
]


@pytest.mark.parametrize("path", ESCAPES)
def test_the_oracle_refuses_every_vector(path: str) -> None:
    """The vectors are real: the oracle, not only the code, says they leave /app or hide."""
    ok, _ = lands_where_allowed(f"https://{HOST}{path}", ALLOWED)
    assert not ok


@pytest.mark.parametrize("path", ESCAPES)
def test_paths_a_server_may_read_outside_the_prefix_are_refused(path: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        POLICY.check_redirect(f"https://{HOST}{path}")
    assert refused.value.code == "RedirectNotAllowed"


@pytest.mark.parametrize(
    "path", ["/app", "/app/", "/app/welcome", "/app/a.b/c", "/app/Project%20X", "/app/x?y=%2e%2e"]
)
def test_ordinary_paths_under_the_prefix_still_pass(path: str) -> None:
    url = f"https://{HOST}{path}"
    assert POLICY.check_redirect(url) == url
    assert_lands_where_allowed(url, ALLOWED)


async def test_a_hostile_path_never_reaches_graph_nor_a_reminder() -> None:
    tenant = make_tenant(ALLOWED_REDIRECT_PREFIXES=PREFIXES)
    for i, path in enumerate(ESCAPES):
        message = {"email": f"ada{i}@fabrikam.example", "redirectUrl": f"https://{HOST}{path}"}
        assert await tenant.invite(message) == "rejected"
    assert set(tenant.poison_codes("guest-invitations")) == {"RedirectNotAllowed"}
    assert tenant.directory.calls == []


_PIECES = [
    "/app",
    "/",
    "..",
    ".",
    ";",
    ";x=1",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%25",
    "%3b",
    "%c0%ae",
    "%E2%80%AE",
    "\u202e",
    "\u200b",
    "\u00e9",
    "\u0430",
    "admin",
    "x",
    "?",
    "#",
]

hostile_paths = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join)


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(path=hostile_paths)
def test_any_path_the_policy_accepts_lands_under_the_prefix_for_every_server(path: str) -> None:
    url = f"https://{HOST}{path if path.startswith('/') else '/' + path}"
    try:
        sent = POLICY.check_redirect(url)
    except InvalidMessage as exc:
        assert exc.code == "RedirectNotAllowed"
        return
    assert_lands_where_allowed(sent, ALLOWED)
