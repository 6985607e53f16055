"""Redirect URLs: a guest who redeems must land only where ALLOWED_REDIRECT_PREFIXES says, and so
must every reminder (which re-uses the URL). The oracle is httpx's URL parser, not the code's."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from hypothesis import given, settings

from guest_onboarding.config import Settings, SettingsError
from guest_onboarding.errors import InvalidMessage
from tests.property.test_fuzz_messages import assert_redirect_goes_where_allowed, hostile_redirects
from tests.security.conftest import Tenant
from tests.support import SETTINGS_ENV

POLICY = Settings.from_env(SETTINGS_ENV).policy


@pytest.mark.parametrize(
    "url",
    [
        "https://myapps.microsoft.com.evil.example/",  # host that merely starts with an allowed one
        "https://myapps.microsoft.comevil.example",
        "https://myapps.microsoft.com@evil.example/",  # user-info in front of another host
        "https://user:pass@myapps.microsoft.com/",
        "https://myapps.microsoft.com\\@evil.example/",  # browsers read \ as /
        "https://myapps.microsoft.com:8443/",  # another port
        "http://myapps.microsoft.com/",  # not https
        "https://projectx.fabrikam.example/../../admin",  # dot segments
        "https://projectx.fabrikam.example/%2e%2e/admin",
        "javascript://myapps.microsoft.com/%0aalert(1)",
        "https://evil.example/?https://myapps.microsoft.com",
        "https://myapps.microsoft.com\t.evil.example",
    ],
)
async def test_hostile_redirects_are_refused_before_graph(tenant: Tenant, url: str) -> None:
    outcome = await tenant.invite({"email": "ada@fabrikam.example", "redirectUrl": url})
    assert outcome == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["RedirectNotAllowed"]
    assert tenant.directory.calls == []


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://MYAPPS.microsoft.com/?tenantid=x", "https://myapps.microsoft.com/?tenantid=x"),
        ("https://myapps.microsoft.com:443/apps", "https://myapps.microsoft.com/apps"),
        (
            "https://\uff4d\uff59\uff41\uff50\uff50\uff53.microsoft.com/",  # full-width letters
            "https://myapps.microsoft.com/",
        ),
    ],
)
async def test_spellings_of_an_allowed_host_are_normalised(
    tenant: Tenant, url: str, sent: str
) -> None:
    assert await tenant.invite({"email": "ada@fabrikam.example", "redirectUrl": url}) == "invited"
    [email] = tenant.directory.emails
    assert email.invitation.redirect_url == sent  # what Graph got is what was checked


def test_a_path_prefix_matches_only_at_a_segment_boundary() -> None:
    policy = Settings.from_env(
        {
            "ALLOWED_REDIRECT_PREFIXES": "https://apps.fabrikam.example/portal",
            "INVITE_REDIRECT_URL": "https://apps.fabrikam.example/portal",
        }
    ).policy
    assert policy.check_redirect("https://apps.fabrikam.example/portal/x")
    assert policy.check_redirect("https://apps.fabrikam.example/portal")
    for url in ("https://apps.fabrikam.example/portalevil", "https://apps.fabrikam.example/"):
        with pytest.raises(InvalidMessage):
            policy.check_redirect(url)


@pytest.mark.parametrize(
    "prefixes",
    [
        "https://user@myapps.microsoft.com",
        "ftp://myapps.microsoft.com",
        "https://myapps.microsoft.com/?q=1",
        "https://exa mple.com",
    ],
)
def test_each_allowed_prefix_is_validated_at_start_up(prefixes: str) -> None:
    with pytest.raises(SettingsError, match="ALLOWED_REDIRECT_PREFIXES"):
        Settings.from_env({"ALLOWED_REDIRECT_PREFIXES": prefixes})


def test_the_default_redirect_must_be_allowed() -> None:
    with pytest.raises(SettingsError, match="INVITE_REDIRECT_URL"):
        Settings.from_env(
            {
                "INVITE_REDIRECT_URL": "https://elsewhere.example",
                "ALLOWED_REDIRECT_PREFIXES": "https://myapps.microsoft.com",
            }
        )


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(url=hostile_redirects)
def test_any_redirect_the_policy_accepts_goes_where_allowed(url: str) -> None:
    try:
        sent = POLICY.check_redirect(url)
    except InvalidMessage as exc:
        assert exc.code == "RedirectNotAllowed"
        return
    assert_redirect_goes_where_allowed(sent)


def test_the_oracle_finds_the_old_startswith_bug() -> None:
    """The property above would have caught ``str.startswith``: the first hostile URL that the
    old check accepts fails the oracle."""
    prefixes = ("https://myapps.microsoft.com", "https://projectx.fabrikam.example")
    caught = []
    for url in [
        "https://myapps.microsoft.com.evil.example/",
        "https://myapps.microsoft.com@evil.example/",
    ]:
        assert url.startswith(prefixes)  # the old check let it through
        with pytest.raises(AssertionError):
            assert_redirect_goes_where_allowed(url)
        caught.append(url)
    assert len(caught) == 2
    assert httpx.URL(caught[1]).host == "evil.example"


async def test_reminders_reuse_only_the_checked_url(tenant: Tenant) -> None:
    url = "https://projectx.fabrikam.example/welcome?x=1"
    assert await tenant.invite({"email": "ada@fabrikam.example", "redirectUrl": url}) == "invited"
    tenant.clock.now += timedelta(days=3)
    assert await tenant.sweep_and_remind() == ["sent"]
    assert [e.invitation.redirect_url for e in tenant.directory.emails] == [url, url]
