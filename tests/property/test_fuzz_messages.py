"""Property-based fuzzing of the invitations queue: whatever body arrives, it ends either as the
designed rejection (an ``InvalidMessage`` code the code defines, exactly one poison envelope with
that code and the original, and not one directory call) or as a valid command that satisfies
every allow-list. Deterministic (derandomized), no deadline."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import guest_onboarding.messages as messages_module
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
from guest_onboarding.entrypoints import handle_invitation_message
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.messages import (
    FORBIDDEN_ADDRESS_CHARACTERS,
    InvitationCommand,
    ReminderRequest,
    check_address,
    domain_matches,
    parse_invitation_queue_message,
)
from tests.unit.conftest import SETTINGS_ENV
from tests.unit.fakes import FakeDirectory, FakeLedger, FakeOutbox

SETTINGS = Settings.from_env(SETTINGS_ENV)
POISON = f"{SETTINGS.invitations_queue}-poison"

#: Every rejection code the message module can raise, read from its source: a new code added
#: there is known here at once, and a code invented anywhere else fails the property.
KNOWN_CODES = frozenset(
    re.findall(r'InvalidMessage\(\s*"(\w+)"', Path(messages_module.__file__).read_text("utf-8"))
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
    """What a poison envelope's ``original`` must hold: the body exactly as received (bytes
    that are not UTF-8 replaced), not a decoded or trimmed form of it."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return raw.decode("utf-8", errors="replace")


def assert_satisfies_every_rule(cmd: InvitationCommand) -> None:
    assert check_address(cmd.email) == cmd.email
    assert not set(cmd.email) & FORBIDDEN_ADDRESS_CHARACTERS
    domain = cmd.email.rsplit("@", 1)[1]
    assert not domain_matches(domain, SETTINGS.blocked_email_domains)
    assert all(g in SETTINGS.allowed_group_set for g in cmd.groups)
    assert all(f"{r}:{a}" in SETTINGS.allowed_app_role_set for r, a in cmd.app_roles)
    assert any(cmd.redirect_url.startswith(p) for p in SETTINGS.allowed_redirect_prefixes)
    assert cmd.redirect_url.lower().startswith("https://")
    if cmd.cc_recipient is not None:
        assert check_address(cmd.cc_recipient) == cmd.cc_recipient


def fresh_runtime() -> tuple[Runtime, FakeDirectory, FakeLedger, FakeOutbox]:
    directory = FakeDirectory(members={GROUP_X: set(), GROUP_PARTNERS: set()})
    ledger, outbox = FakeLedger(), FakeOutbox()
    rt = Runtime(settings=SETTINGS, directory=directory, ledger=ledger, outbox=outbox)
    return rt, directory, ledger, outbox


def test_known_codes_were_found() -> None:
    # Guards the regex above: an empty set would make every rejection look unknown.
    assert {"InvalidJson", "UnknownField", "GroupNotAllowed", "ForbiddenCharacter"} <= KNOWN_CODES


@FUZZ
@given(body=bodies)
def test_any_body_is_rejected_by_design_or_is_a_valid_command(body: bytes | str) -> None:
    try:
        parsed: InvitationCommand | ReminderRequest | None = parse_invitation_queue_message(
            body, SETTINGS
        )
        rejection: InvalidMessage | None = None
    except InvalidMessage as exc:
        parsed, rejection = None, exc

    rt, directory, ledger, outbox = fresh_runtime()
    outcome = asyncio.run(handle_invitation_message(body=body, message_id="m-1", rt=rt))

    event(f"rejected: {rejection.code}" if rejection else f"accepted: {type(parsed).__name__}")
    if rejection is not None:
        assert rejection.code in KNOWN_CODES, rejection.code
        assert outcome == "rejected"
        assert directory.calls == []
        assert ledger.rows == {}
        assert outbox.assignments == [] and outbox.requeued == [] and outbox.reminders == []
        assert list(outbox.poison) == [POISON]
        (envelope,) = outbox.poison[POISON]
        assert envelope["error"]["code"] == rejection.code
        assert envelope["original"] == as_received(body)
        return

    assert outbox.poison == {}, outbox.poison
    if isinstance(parsed, InvitationCommand):
        assert_satisfies_every_rule(parsed)
        assert outcome == "invited"
        assert directory.calls == ["find_user", "invite"]
        requested = {s.groupId for s, _ in outbox.assignments if s.kind == "group"}
        assert requested == set(parsed.groups)
    else:
        assert isinstance(parsed, ReminderRequest)
        assert outcome == "skipped"  # no ledger row: a reminder for an unknown guest does nothing
        assert directory.calls == []
