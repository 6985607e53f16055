"""Property-based fuzzing of the invitations queue: whatever body arrives, it ends either as the
designed rejection (an ``InvalidMessage`` code the code defines, exactly one poison envelope with
that code and the original, and not one directory call) or as a valid command that satisfies
every allow-list. Deterministic (derandomized), no deadline."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import guest_onboarding as package
from devstack.seeds import (
    GROUP_PARTNERS,
    GROUP_ROLE_ASSIGNABLE,
    NOT_ALLOWED_GROUP,
    PORTAL_SP,
    READER_ROLE,
)
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.entrypoints import handle_invitation_message
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import ReminderRequest
from guest_onboarding.messages import parse_invitation_queue_message
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV

SETTINGS = Settings.from_env(SETTINGS_ENV)
POISON = f"{SETTINGS.invitations_queue}-poison"

#: Every rejection code the package can raise, read from its source: a new code added there is
#: known here at once, and a code invented anywhere else fails the property.
KNOWN_CODES = frozenset(
    code
    for source in Path(package.__file__).parent.rglob("*.py")
    for code in re.findall(r'InvalidMessage\(\s*"(\w+)"', source.read_text("utf-8"))
)

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=15,
)

odd_addresses = st.sampled_from(
    [
        "ada+tag@fabrikam.example",
        "ada@@fabrikam.example",
        "@fabrikam.example",
        "ada@",
        "ada@fabrikam",
        "ada@fabrikam..example",
        "ada..lovelace@fabrikam.example",
        "ADA@FABRIKAM.EXAMPLE",
        "  ada@fabrikam.example  ",
        "ada lovelace@fabrikam.example",
        "ada@blocked.example",
        "ada@sub.blocked.example",
        "ada@-fabrikam.example",
        "ädä@fabrikam.example",
        "ada@fabrikam.example\n",
        "ada@fabrikam.example,bob@fabrikam.example",
        "x" * 65 + "@fabrikam.example",
        "ada@" + "a" * 250 + ".example",
        "'; DROP TABLE guests; --@fabrikam.example",
        "ada@fabrikam.example' or mail eq 'x",
        "",
    ]
) | st.text(max_size=30).map(lambda local: f"{local}@fabrikam.example")


def fullwidth(text: str) -> str:
    """The full-width look-alike of ASCII letters (IDNA folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


#: Redirects as an attacker would write them: look-alike hosts, user-info, ports, encodings,
#: dot segments, parser-confusing characters, around the two allowed prefixes.
hostile_redirects = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{port}{path}",
    st.sampled_from(["https", "HTTPS", "http", "javascript", "data", "hxxps", ""]),
    st.sampled_from(["", "myapps.microsoft.com@", "user:pass@", "@", "evil.example@"]),
    st.sampled_from(
        [
            "myapps.microsoft.com",
            "MYAPPS.Microsoft.COM",
            "myapps.microsoft.com.",
            "myapps.microsoft.com.evil.example",
            "evilmyapps.microsoft.com",
            "myapps.microsoft.com\\@evil.example",
            "myapps。microsoft。com",
            fullwidth("myapps") + ".microsoft.com",
            "myapps.microsoft.co",
            "xn--myapps-9ta.microsoft.com",
            "projectx.fabrikam.example",
            "projectx.fabrikam.example%2eevil.example",
            "[::1]",
            "127.0.0.1",
            "evil.example",
        ]
    ),
    st.sampled_from(["", ":443", ":444", ":0", ":99999", ":x"]),
    st.sampled_from(
        [
            "",
            "/",
            "/app",
            "/app/../../x",
            "/%2e%2e/x",
            "/%2E%2e%2fadmin",
            "//evil.example",
            "?a=b",
            "#frag",
            " /x",
            "\t/x",
            "/\\evil.example",
        ]
    ),
) | st.text(max_size=40)

guids = st.sampled_from([GROUP_X, GROUP_PARTNERS, NOT_ALLOWED_GROUP, GROUP_X.upper()]) | st.uuids(
    version=4
).map(str)

app_roles = st.fixed_dictionaries(
    {"resourceId": st.sampled_from([PORTAL_SP, NOT_ALLOWED_GROUP]), "appRoleId": guids}
)

huge = st.sampled_from([300, 2_100, 5_000, 100_000]).map(lambda n: "x" * n)


def valid_base() -> st.SearchStrategy[dict[str, Any]]:
    """HR messages the demo settings accept, with every optional field sometimes present."""
    return st.fixed_dictionaries(
        {"email": st.sampled_from(["ada@fabrikam.example", "Grace.Hopper@Contoso.Example"])},
        optional={
            "displayName": st.text(min_size=1, max_size=20),
            "accessProfiles": st.just(["fabrikam-project-x"]),
            "groups": st.lists(st.sampled_from([GROUP_X, GROUP_PARTNERS]), max_size=3),
            "appRoles": st.just([{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}]),
            "redirectUrl": st.sampled_from(
                ["https://myapps.microsoft.com/?tenantid=x", "https://projectx.fabrikam.example"]
            ),
            "sendInvitationMessage": st.booleans(),
            "customizedMessageBody": st.text(max_size=50),
            "messageLanguage": st.sampled_from(["en-US", "fr", "de-DE"]),
            "ccRecipient": st.sampled_from(
                ["sponsor@contoso.example", ["sponsor@contoso.example"]]
            ),
            "externalId": st.text(max_size=20),
        },
    )


FIELDS = [
    "email",
    "displayName",
    "accessProfiles",
    "groups",
    "appRoles",
    "redirectUrl",
    "sendInvitationMessage",
    "customizedMessageBody",
    "messageLanguage",
    "ccRecipient",
    "externalId",
]

mutations = st.one_of(
    st.tuples(
        st.just("unknown_key"), st.sampled_from(["group", "Email", "roles", "x"]), json_values
    ),
    st.tuples(st.just("drop"), st.sampled_from(FIELDS), st.none()),
    st.tuples(st.just("wrong_type"), st.sampled_from(FIELDS), json_values),
    st.tuples(st.just("odd_address"), st.sampled_from(["email", "ccRecipient"]), odd_addresses),
    st.tuples(st.just("huge"), st.sampled_from(FIELDS), huge),
    st.tuples(st.just("groups"), st.just("groups"), st.lists(guids, max_size=4)),
    st.tuples(st.just("app_roles"), st.just("appRoles"), st.lists(app_roles, max_size=3)),
    st.tuples(
        st.just("profiles"),
        st.just("accessProfiles"),
        st.lists(
            st.sampled_from(["fabrikam-project-x", "FABRIKAM-PROJECT-X", "other"]), max_size=2
        ),
    ),
    st.tuples(
        st.just("redirect"),
        st.just("redirectUrl"),
        st.sampled_from(
            [
                "http://myapps.microsoft.com",
                "https://myapps.microsoft.com.evil.example",
                "https://evil.example/?https://myapps.microsoft.com",
                "javascript:alert(1)",
                "",
            ]
        ),
    ),
    st.tuples(st.just("redirect"), st.just("redirectUrl"), hostile_redirects),
    st.tuples(st.just("redirect"), st.just("redirectUrl"), hostile_redirects),
    st.tuples(
        st.just("cc"),
        st.just("ccRecipient"),
        st.sampled_from(
            [
                "pm@contoso.example",
                "pm@sub.contoso.example",
                "pm@contoso.example.evil.example",
                "pm@evilcontoso.example",
                "pm@blocked.example",
                "pm@" + fullwidth("contoso") + ".example",
                "p\u200bm@contoso.example",
                "pm@contoso.example\u202e",
            ]
        ),
    ),
    st.tuples(
        st.just("too_many_cc"), st.just("ccRecipient"), st.just(["a@b.example", "c@d.example"])
    ),
)


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    message = dict(draw(valid_base()))
    for kind, key, value in draw(st.lists(mutations, max_size=3)):
        if kind == "drop":
            message.pop(key, None)
        else:
            message[key] = value
    return message


policy_breaches = st.sampled_from(
    [
        ("groups", [GROUP_X, NOT_ALLOWED_GROUP]),
        ("groups", [GROUP_ROLE_ASSIGNABLE]),
        ("appRoles", [{"resourceId": PORTAL_SP, "appRoleId": NOT_ALLOWED_GROUP}]),
        ("appRoles", [{"resourceId": NOT_ALLOWED_GROUP, "appRoleId": READER_ROLE}]),
        ("email", "ada@blocked.example"),
        ("email", "ada@eu.blocked.example"),
        ("accessProfiles", ["fabrikam-project-y"]),
        ("redirectUrl", "https://evil.example"),
    ]
)


@st.composite
def breaches_policy(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed message that breaks exactly one allow-list or domain rule."""
    message = dict(draw(valid_base()))
    key, value = draw(policy_breaches)
    message[key] = value
    return message


def wrap(text: str, how: str) -> bytes | str:
    """The same message as the queue might carry it."""
    if how == "base64":
        return base64.b64encode(text.encode("utf-8")).decode("ascii")
    if how == "bytes":
        return text.encode("utf-8")
    if how == "padded":
        return f" \n\t{text}\r\n"
    if how == "bom":
        return "\ufeff" + text
    if how == "latin1":
        return text.encode("latin-1", errors="replace")
    return text


wrappings = st.sampled_from(["plain", "plain", "base64", "bytes", "padded", "bom", "latin1"])

bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200),
    st.builds(wrap, json_values.map(json.dumps), wrappings),
    st.builds(wrap, near_valid().map(json.dumps), wrappings),
    st.builds(wrap, near_valid().map(json.dumps), wrappings),
    st.builds(wrap, breaches_policy().map(json.dumps), wrappings),
    st.builds(
        wrap,
        st.fixed_dictionaries(
            {
                "reminder": json_values
                | st.fixed_dictionaries({"email": odd_addresses, "number": st.integers(-2, 5)})
            }
        ).map(json.dumps),
        wrappings,
    ),
)

# -- the property -------------------------------------------------------------------------------


def as_received(body: bytes | str) -> str:
    """What a poison envelope's ``original`` must hold for a body that is UTF-8 text: the body
    exactly as received, not a decoded or trimmed form of it."""
    return body.decode("utf-8") if isinstance(body, bytes) else body


def not_utf8(body: bytes | str) -> bool:
    if isinstance(body, str):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


#: The deployment these tests configure, stated again here, not read from the code: the oracle
#: must not share the code's logic (a check written with the code's own ``startswith`` cannot
#: find the code's bug).
REDIRECT_HOSTS = {"myapps.microsoft.com", "projectx.fabrikam.example"}
ALLOWED_GROUPS = {GROUP_X, GROUP_PARTNERS}
ALLOWED_ROLES = {(PORTAL_SP, READER_ROLE)}
LDH_ADDRESS = re.compile(r"^[a-z0-9._'-]{1,64}@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")


def under(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


def assert_redirect_goes_where_allowed(url_text: str) -> None:
    """Judge the redirect with httpx's URL parser (not the code's urllib-based one)."""
    assert not any(c.isspace() or c == "\\" for c in url_text), url_text
    url = httpx.URL(url_text)
    assert url.scheme == "https", url_text
    assert url.userinfo == b"", url_text
    assert url.host in REDIRECT_HOSTS, url_text
    assert url.port in (None, 443), url_text
    assert "/../" not in url.path + "/" and "/./" not in url.path + "/", url_text


#: The README's promise: a message up to 48,000 bytes as a JSON string travels whole in its
#: poison envelope; a larger one is refused whole (``MessageTooLarge``).
KEPT_WHOLE_BYTES = 48_000


def assert_original_kept(envelope: dict[str, Any], received: str) -> None:
    """The envelope holds the message as received, or (too big to keep whole) no original at
    all, its start apart and the SHA-256 and length of the whole: never a cut replay could send."""
    if "originalSha256" not in envelope["error"]:
        assert envelope["original"] == received
        return
    assert envelope["original"] is None
    assert received.startswith(envelope["originalHead"])
    assert envelope["error"]["originalLength"] == str(len(received))
    assert envelope["error"]["originalSha256"] == hashlib.sha256(received.encode()).hexdigest()


def assert_satisfies_every_rule(cmd: InvitationCommand) -> None:
    assert LDH_ADDRESS.match(cmd.email), cmd.email
    domain = cmd.email.rsplit("@", 1)[1]
    assert not under(domain, "blocked.example")
    assert set(cmd.groups) <= ALLOWED_GROUPS
    assert {(r.resource_id, r.app_role_id) for r in cmd.app_roles} <= ALLOWED_ROLES
    assert_redirect_goes_where_allowed(cmd.invitation.redirect_url)
    cc = cmd.invitation.cc_recipient
    if cc is not None:
        assert LDH_ADDRESS.match(cc), cc
        assert under(cc.rsplit("@", 1)[1], "contoso.example"), cc


def fresh_runtime() -> tuple[Runtime, FakeDirectory, FakeLedger, FakeOutbox]:
    directory = FakeDirectory(members={GROUP_X: set(), GROUP_PARTNERS: set()})
    ledger, outbox = FakeLedger(), FakeOutbox()
    rt = Runtime(
        settings=SETTINGS,
        directory=directory,
        ledger=ledger,
        outbox=outbox,
        health=FakeTenantHealth(),
    )
    return rt, directory, ledger, outbox


def test_known_codes_were_found() -> None:
    # Guards the regex above: an empty set would make every rejection look unknown.
    assert {"InvalidJson", "UnknownField", "GroupNotAllowed", "ForbiddenCharacter"} <= KNOWN_CODES


@FUZZ
@given(body=bodies)
def test_any_body_is_rejected_by_design_or_is_a_valid_command(body: bytes | str) -> None:
    try:
        parsed: InvitationCommand | ReminderRequest | None = parse_invitation_queue_message(
            body, SETTINGS.policy
        )
        rejection: InvalidMessage | None = None
    except InvalidMessage as exc:
        parsed, rejection = None, exc

    rt, directory, ledger, outbox = fresh_runtime()
    outcome = asyncio.run(handle_invitation_message(body=body, message_id="m-1", rt=rt))

    event(f"rejected: {rejection.code}" if rejection else f"accepted: {type(parsed).__name__}")
    if not_utf8(body):  # never kept as text a replay could act on, mended or not
        assert outcome == "rejected" and directory.calls == [] and ledger.rows == {}
        (envelope,) = outbox.poison[POISON]
        assert envelope["error"]["code"] == "InvalidEncoding"
        assert envelope["original"] is None and envelope["error"]["originalKept"] == "false"
        assert envelope["error"]["originalSha256"] == hashlib.sha256(body).hexdigest()  # type: ignore[arg-type]
        envelope["originalHead"].encode("utf-8")  # readable text, whatever the bytes
        return
    escaped = json.dumps(as_received(body), ensure_ascii=False).encode("utf-8")
    if len(escaped) > KEPT_WHOLE_BYTES:  # refused whole, valid or not: never acted on
        assert outcome == "rejected" and directory.calls == [] and ledger.rows == {}
        (envelope,) = outbox.poison[POISON]
        assert envelope["error"]["code"] == "MessageTooLarge"
        assert_original_kept(envelope, as_received(body))
        return
    if rejection is not None:
        assert rejection.code in KNOWN_CODES, rejection.code
        assert outcome == "rejected"
        assert directory.calls == []
        assert ledger.rows == {}
        assert outbox.assignments == [] and outbox.requeued == [] and outbox.reminders == []
        assert list(outbox.poison) == [POISON]
        (envelope,) = outbox.poison[POISON]
        assert envelope["error"]["code"] == rejection.code
        assert_original_kept(envelope, as_received(body))
        return

    if isinstance(parsed, ReminderRequest) and parsed.number > 3:
        # a number beyond the schedule (3 reminders) is refused by the handler, with its reason
        assert outcome == "rejected" and directory.calls == [] and ledger.rows == {}
        (envelope,) = outbox.poison[POISON]
        assert envelope["error"]["code"] == "InvalidField"
        return
    assert outbox.poison == {}, outbox.poison
    if isinstance(parsed, InvitationCommand):
        assert_satisfies_every_rule(parsed)
        assert outcome == "invited"
        # A fresh process reads the allow-listed groups once, before the first group it grants.
        reads = len(SETTINGS.policy.group_allow_list) if parsed.groups else 0
        assert directory.calls == ["get_group"] * reads + ["find_users", "invite"]
        requested = {s.groupId for s, _ in outbox.assignments if s.kind == "group"}
        assert requested == set(parsed.groups)
    else:
        assert isinstance(parsed, ReminderRequest)
        assert outcome == "skipped"  # no ledger row: a reminder for an unknown guest does nothing
        assert directory.calls == []
