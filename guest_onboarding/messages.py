"""Queue messages: the HR message schema (the public contract), its validation, and the messages
this app puts on its own queues. Every rejection names a stable ``code``.

HR systems send UTF-8 JSON as plain text or base64; :func:`decode_body` accepts both.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guest_onboarding.config import AppRoleRef, Settings
from guest_onboarding.errors import InvalidMessage

MAX_DISPLAY_NAME = 256
MAX_MESSAGE_BODY = 2000
MAX_ITEMS = 50
#: Characters Graph refuses in an invited address (so ``+`` addresses are refused up front).
FORBIDDEN_ADDRESS_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')
_ADDRESS = re.compile(
    r"^[^@\s]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    re.IGNORECASE,
)
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_LANGUAGE = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,2}$"

Guid = Annotated[str, Field(pattern=_GUID)]


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


def domain_matches(domain: str, entries: frozenset[str]) -> bool:
    """True when ``domain`` is an entry or a subdomain of one."""
    return any(domain == e or domain.endswith("." + e) for e in entries)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AppRoleRequest(_Strict):
    resourceId: Guid
    appRoleId: Guid


class HrMessage(_Strict):
    """One guest to onboard, as an HR system sends it (CONTRACT: "The HR message")."""

    email: Annotated[str, Field(min_length=3, max_length=320)]
    displayName: Annotated[str, Field(min_length=1, max_length=MAX_DISPLAY_NAME)] | None = None
    accessProfiles: Annotated[list[str], Field(max_length=MAX_ITEMS)] = []
    groups: Annotated[list[Guid], Field(max_length=MAX_ITEMS)] = []
    appRoles: Annotated[list[AppRoleRequest], Field(max_length=MAX_ITEMS)] = []
    redirectUrl: Annotated[str, Field(max_length=2048)] | None = None
    sendInvitationMessage: bool = True
    customizedMessageBody: Annotated[str, Field(max_length=MAX_MESSAGE_BODY)] | None = None
    messageLanguage: Annotated[str, Field(pattern=_LANGUAGE)] | None = None
    ccRecipient: str | list[str] | None = None
    externalId: Annotated[str, Field(max_length=128)] | None = None

    @field_validator("ccRecipient")
    @classmethod
    def _one_cc_recipient(cls, value: str | list[str] | None) -> str | None:
        if isinstance(value, list):
            if len(value) > 1:
                raise ValueError("TooManyCcRecipients")
            value = value[0] if value else None
        if value is not None and re.search(r"[,;]", value):
            raise ValueError("TooManyCcRecipients")
        return value


class InvitationCommand(_Strict):
    """A validated HR message with profiles expanded and defaults applied."""

    email: str
    display_name: str | None
    groups: tuple[str, ...]
    app_roles: tuple[tuple[str, str], ...]
    redirect_url: str
    send_message: bool
    message_body: str | None
    message_language: str | None
    cc_recipient: str | None
    external_id: str | None


class ReminderRequest(_Strict):
    """Queued by the reminder sweep onto the invitations queue: re-send reminder ``number``."""

    email: str
    number: Annotated[int, Field(ge=1)]


class _ReminderEnvelope(_Strict):
    reminder: ReminderRequest


class AssignmentStep(_Strict):
    """One fan-out step on the assignments queue: a group membership or an app role."""

    kind: Literal["group", "appRole"]
    email: str
    userId: str
    groupId: str | None = None
    resourceId: str | None = None
    appRoleId: str | None = None
    externalId: str | None = None
    attempt: int = 0

    @property
    def step_key(self) -> str:
        """The ledger's name for this step (see ``domain.group_step`` / ``domain.role_step``)."""
        from guest_onboarding.domain import group_step, role_step

        if self.kind == "group":
            return group_step(self.groupId or "")
        return role_step(self.resourceId or "", self.appRoleId or "")


def decode_body(body: bytes | str) -> str:
    """The message text, whether it came as plain UTF-8 JSON or base64 of it."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    stripped = raw.strip()
    if not stripped.startswith((b"{", b"[", b'"')):
        try:
            decoded = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            decoded = None
        if decoded is not None and decoded.strip().startswith(b"{"):
            stripped = decoded.strip()
    try:
        return stripped.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage("InvalidEncoding", "message is not UTF-8 text or base64") from None


def _load_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage("InvalidJson", f"message is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise InvalidMessage("InvalidJson", "message must be a JSON object")
    return value


def _rejection(exc: ValidationError) -> InvalidMessage:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidMessage("UnknownField", f"unknown field '{where}' (check its spelling)")
    if kind == "missing":
        return InvalidMessage("MissingField", f"required field '{where}' is missing")
    if kind in {"string_too_long", "too_long"}:
        return InvalidMessage("FieldTooLong", f"'{where}' is too long: {first['msg']}")
    if "TooManyCcRecipients" in str(first.get("msg", "")):
        return InvalidMessage("TooManyCcRecipients", "ccRecipient takes one address only")
    return InvalidMessage("InvalidField", f"'{where}': {first['msg']}")


def parse_invitation_queue_message(
    body: bytes | str, settings: Settings
) -> InvitationCommand | ReminderRequest:
    """Decode and validate a message from the invitations queue: an HR message (checked against
    every rule and allow-list in ``settings``) or a reminder queued by the sweep."""
    data = _load_object(decode_body(body))
    if set(data) == {"reminder"}:
        try:
            return _ReminderEnvelope.model_validate(data).reminder
        except ValidationError as exc:
            raise _rejection(exc) from None
    try:
        message = HrMessage.model_validate(data)
    except ValidationError as exc:
        raise _rejection(exc) from None
    return _apply_policy(message, settings)


def _apply_policy(message: HrMessage, settings: Settings) -> InvitationCommand:
    email = check_address(message.email)
    domain = email.rsplit("@", 1)[1]
    if settings.blocked_email_domains and domain_matches(domain, settings.blocked_email_domains):
        raise InvalidMessage("DomainBlocked", f"the domain {domain} is blocked")
    if settings.allowed_email_domains and not domain_matches(
        domain, settings.allowed_email_domains
    ):
        raise InvalidMessage("DomainNotAllowed", f"the domain {domain} is not allowed")

    cc = message.ccRecipient if isinstance(message.ccRecipient, str) else None
    if cc is not None:
        cc = check_address(cc, field_name="ccRecipient")

    groups: list[str] = []
    roles: list[AppRoleRef] = []
    for name in message.accessProfiles:
        profile = settings.access_profiles.get(name)
        if profile is None:
            raise InvalidMessage("UnknownAccessProfile", f"access profile '{name}' is not defined")
        groups.extend(profile.groups)
        roles.extend(profile.app_roles)
    groups.extend(message.groups)
    roles.extend(
        AppRoleRef(resource_id=r.resourceId, app_role_id=r.appRoleId) for r in message.appRoles
    )

    allowed_groups = settings.allowed_group_set
    for group in groups:
        if group.lower() not in allowed_groups:
            raise InvalidMessage("GroupNotAllowed", f"group {group} is not on the allow-list")
    allowed_roles = settings.allowed_app_role_set
    for role in roles:
        if role.key() not in allowed_roles:
            raise InvalidMessage(
                "AppRoleNotAllowed",
                f"app role {role.app_role_id} on {role.resource_id} is not on the allow-list",
            )

    redirect = message.redirectUrl or settings.invite_redirect_url
    if not redirect.lower().startswith(("https://", "http://localhost")) or not any(
        redirect.startswith(prefix) for prefix in settings.allowed_redirect_prefixes
    ):
        raise InvalidMessage("RedirectNotAllowed", "redirectUrl is not under an allowed prefix")

    unique_groups = tuple(dict.fromkeys(g.lower() for g in groups))
    unique_roles = tuple(
        dict.fromkeys((r.resource_id.lower(), r.app_role_id.lower()) for r in roles)
    )
    return InvitationCommand(
        email=email,
        display_name=message.displayName,
        groups=unique_groups,
        app_roles=unique_roles,
        redirect_url=redirect,
        send_message=message.sendInvitationMessage,
        message_body=message.customizedMessageBody,
        message_language=message.messageLanguage,
        cc_recipient=cc,
        external_id=message.externalId,
    )


def parse_assignment_message(body: bytes | str) -> AssignmentStep:
    """Decode an assignment step; InvalidMessage if it is not one this app wrote."""
    data = _load_object(decode_body(body))
    try:
        step = AssignmentStep.model_validate(data)
    except ValidationError as exc:
        raise _rejection(exc) from None
    if step.kind == "group" and not step.groupId:
        raise InvalidMessage("MissingField", "a group step needs groupId")
    if step.kind == "appRole" and not (step.resourceId and step.appRoleId):
        raise InvalidMessage("MissingField", "an appRole step needs resourceId and appRoleId")
    return step


def rejection_envelope(
    *, original: str, code: str, message: str, details: dict[str, str] | None = None
) -> str:
    """The poison-queue body: ``{"error": {"code", "message", ...}, "original": "..."}``."""
    error: dict[str, str] = {"code": code, "message": message}
    if details:
        error.update(details)
    return json.dumps({"error": error, "original": original}, ensure_ascii=False)
