"""The HR message contract: what is accepted, and the code each rejection carries."""

from __future__ import annotations

import base64
import json

import pytest

from devstack.seeds import GROUP_PARTNERS, NOT_ALLOWED_GROUP, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.config import Settings
from guest_onboarding.domain.invitation import AppRoleRef, InvitationCommand
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import ReminderRequest, parse_assignment_message
from guest_onboarding.messages import parse_invitation_queue_message


def parse(data: object, settings: Settings) -> InvitationCommand:
    result = parse_invitation_queue_message(json.dumps(data).encode(), settings.policy)
    assert isinstance(result, InvitationCommand)
    return result


def test_full_message_expands_profiles_and_normalizes(settings: Settings) -> None:
    cmd = parse(
        {
            "email": " Ada@Fabrikam.Example ",
            "displayName": "Ada Lovelace",
            "accessProfiles": ["fabrikam-project-x"],
            "groups": [GROUP_PARTNERS, GROUP_X],
            "redirectUrl": "https://projectx.fabrikam.example/home",
            "ccRecipient": "s@contoso.example",
            "customizedMessageBody": "Welcome",
            "messageLanguage": "en-US",
            "externalId": "HR-1",
        },
        settings,
    )
    assert cmd.email == "ada@fabrikam.example"
    assert cmd.groups == (GROUP_X, GROUP_PARTNERS)  # profile first, duplicates dropped
    assert cmd.app_roles == (AppRoleRef(resource_id=PORTAL_SP, app_role_id=READER_ROLE),)
    assert cmd.invitation.redirect_url == "https://projectx.fabrikam.example/home"
    assert cmd.invitation.cc_recipient == "s@contoso.example"
    assert cmd.invitation.send_message is True


def test_defaults_apply(settings: Settings) -> None:
    cmd = parse({"email": "ada@fabrikam.example"}, settings)
    assert cmd.invitation.redirect_url == "https://myapps.microsoft.com"
    assert cmd.groups == () and cmd.app_roles == ()


def test_base64_body_is_accepted(settings: Settings) -> None:
    body = base64.b64encode(json.dumps({"email": "ada@fabrikam.example"}).encode())
    result = parse_invitation_queue_message(body, settings.policy)
    assert isinstance(result, InvitationCommand) and result.email == "ada@fabrikam.example"


def test_reminder_message_is_recognised(settings: Settings) -> None:
    result = parse_invitation_queue_message(
        b'{"reminder": {"email": "ada@fabrikam.example", "number": 2}}', settings.policy
    )
    assert result == ReminderRequest(email="ada@fabrikam.example", number=2)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (json.dumps({"email": "a@fabrikam.example", "group": [GROUP_X]}).encode(), "UnknownField"),
        (json.dumps({"displayName": "No Address"}).encode(), "MissingField"),
        (json.dumps({"email": "ada+x@fabrikam.example"}).encode(), "ForbiddenCharacter"),
        (json.dumps({"email": "not-an-address"}).encode(), "InvalidEmail"),
        (json.dumps({"email": "a@blocked.example"}).encode(), "DomainBlocked"),
        (json.dumps({"email": "a@sub.blocked.example"}).encode(), "DomainBlocked"),
        (
            json.dumps({"email": "a@fabrikam.example", "groups": [NOT_ALLOWED_GROUP]}).encode(),
            "GroupNotAllowed",
        ),
        (
            json.dumps({"email": "a@fabrikam.example", "groups": ["not-a-guid"]}).encode(),
            "InvalidField",
        ),
        (
            json.dumps(
                {
                    "email": "a@fabrikam.example",
                    "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": GROUP_X}],
                }
            ).encode(),
            "AppRoleNotAllowed",
        ),
        (
            json.dumps({"email": "a@fabrikam.example", "accessProfiles": ["nope"]}).encode(),
            "UnknownAccessProfile",
        ),
        (
            json.dumps(
                {"email": "a@fabrikam.example", "redirectUrl": "https://evil.example"}
            ).encode(),
            "RedirectNotAllowed",
        ),
        (
            json.dumps(
                {
                    "email": "a@fabrikam.example",
                    "ccRecipient": ["x@contoso.example", "y@contoso.example"],
                }
            ).encode(),
            "TooManyCcRecipients",
        ),
        (
            json.dumps(
                {
                    "email": "a@fabrikam.example",
                    "ccRecipient": "x@contoso.example, y@contoso.example",
                }
            ).encode(),
            "TooManyCcRecipients",
        ),
        (
            json.dumps({"email": "a@fabrikam.example", "displayName": "x" * 257}).encode(),
            "FieldTooLong",
        ),
        (
            json.dumps(
                {"email": "a@fabrikam.example", "customizedMessageBody": "x" * 5000}
            ).encode(),
            "FieldTooLong",
        ),
        (b"\xff\xfe\x00", "InvalidEncoding"),
    ],
)
def test_rejections_name_their_rule(body: bytes, code: str, settings: Settings) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_invitation_queue_message(body, settings.policy)
    assert info.value.code == code


def test_allowed_domains_restrict_when_set() -> None:
    settings = Settings.from_env({"ALLOWED_EMAIL_DOMAINS": "fabrikam.example"})
    assert parse({"email": "a@fabrikam.example"}, settings).email == "a@fabrikam.example"
    with pytest.raises(InvalidMessage) as info:
        parse({"email": "a@contoso.example"}, settings)
    assert info.value.code == "DomainNotAllowed"


def test_assignment_message_needs_its_target() -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_assignment_message(
            b'{"kind": "group", "email": "a@b.example",'
            b' "userId": "00000000-0000-4000-8000-000000000001"}'
        )
    assert info.value.code == "MissingField"
