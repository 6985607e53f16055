"""Queue messages: the HR message schema (the public contract) and its validation into an
:class:`~guest_onboarding.domain.invitation.InvitationCommand`, and the messages this app puts on
its own queues (reminders, assignment steps). Every rejection names a stable ``code``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.invitation import (
    AppRoleRef,
    Invitation,
    InvitationCommand,
    app_role_step_key,
    group_step_key,
)
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.wire import load_object

MAX_DISPLAY_NAME = 256
MAX_MESSAGE_BODY = 2000
MAX_EXTERNAL_ID = 128
MAX_ITEMS = 50
#: A reminder number beyond any schedule (the handler checks the configured one).
MAX_REMINDER_NUMBER = 100
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
#: W3C trace context (version 00), as this app writes it into the messages it queues.
_TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_LANGUAGE = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,2}$"

Guid = Annotated[str, Field(pattern=_GUID)]


def _utf16_units(limit: int) -> AfterValidator:
    """At most ``limit`` UTF-16 code units, as Graph counts (an emoji is two)."""

    def check(value: str) -> str:
        units = len(value.encode("utf-16-le")) // 2
        if units > limit:
            raise PydanticCustomError(
                "string_too_long",
                "at most {limit} UTF-16 code units, got {units}",
                {"limit": limit, "units": units},
            )
        return value

    return AfterValidator(check)


def _canonical_address(value: str) -> str:
    return check_address(value)


#: An address this app wrote itself (steps, reminders): re-checked, canonical.
Address = Annotated[str, Field(max_length=320), AfterValidator(_canonical_address)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AppRoleRequest(_Strict):
    resourceId: Guid
    appRoleId: Guid


class HrMessage(_Strict):
    """One guest to onboard, as an HR system sends it (README: "The message contract")."""

    email: Annotated[str, Field(min_length=3, max_length=320)]
    displayName: Annotated[str, Field(min_length=1), _utf16_units(MAX_DISPLAY_NAME)] | None = None
    accessProfiles: Annotated[list[str], Field(max_length=MAX_ITEMS)] = []
    groups: Annotated[list[Guid], Field(max_length=MAX_ITEMS)] = []
    appRoles: Annotated[list[AppRoleRequest], Field(max_length=MAX_ITEMS)] = []
    redirectUrl: Annotated[str, Field(max_length=2048)] | None = None
    sendInvitationMessage: bool = True
    customizedMessageBody: Annotated[str, _utf16_units(MAX_MESSAGE_BODY)] | None = None
    messageLanguage: Annotated[str, Field(pattern=_LANGUAGE)] | None = None
    ccRecipient: str | list[str] | None = None
    externalId: Annotated[str, _utf16_units(MAX_EXTERNAL_ID)] | None = None

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


class _Internal(_Strict):
    """A message this app writes itself: exact JSON types (no ``"1"`` for ``1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


class _Traced(_Internal):
    """A message that carries the W3C trace context of the step that queued it: the span of
    the step that handles it becomes that step's child, across the queue hop (absent when
    telemetry is off)."""

    traceparent: Annotated[str, Field(pattern=_TRACEPARENT)] | None = None


class ReminderRequest(_Traced):
    """Queued by the reminder sweep onto the invitations queue: re-send reminder ``number``."""

    email: Address
    number: Annotated[int, Field(ge=1, le=MAX_REMINDER_NUMBER)]


class _ReminderEnvelope(_Internal):
    reminder: ReminderRequest


class _Step(_Traced):
    """What every fan-out step carries besides its target."""

    email: Address
    userId: Guid
    externalId: Annotated[str, _utf16_units(MAX_EXTERNAL_ID)] | None = None
    attempt: Annotated[int, Field(ge=0, le=1000)] = 0


class GroupMembership(_Step):
    """Add the guest to a group."""

    kind: Literal["group"] = "group"
    groupId: Guid

    @property
    def key(self) -> str:
        """The ledger's name for this step."""
        return group_step_key(self.groupId)

    @property
    def target(self) -> str:
        return self.groupId


class AppRoleAssignment(_Step):
    """Assign the guest an app role on a resource service principal."""

    kind: Literal["appRole"] = "appRole"
    resourceId: Guid
    appRoleId: Guid

    @property
    def key(self) -> str:
        """The ledger's name for this step."""
        return app_role_step_key(self.resourceId, self.appRoleId)

    @property
    def target(self) -> str:
        return f"{self.resourceId}:{self.appRoleId}"

    @property
    def role(self) -> AppRoleRef:
        return AppRoleRef(resource_id=self.resourceId, app_role_id=self.appRoleId)


#: One fan-out step on the assignments queue.
AssignmentStep = Annotated[GroupMembership | AppRoleAssignment, Field(discriminator="kind")]
_ASSIGNMENT_STEP: TypeAdapter[AssignmentStep] = TypeAdapter(AssignmentStep)


def next_attempt(step: AssignmentStep) -> AssignmentStep:
    """``step`` again, one attempt later (a transient failure's retry)."""
    return step.model_copy(update={"attempt": step.attempt + 1})


def assignment_steps(cmd: InvitationCommand, user_id: str) -> list[AssignmentStep]:
    """One step per group and per app role the command asks for."""
    steps: list[AssignmentStep] = [
        GroupMembership(email=cmd.email, userId=user_id, groupId=g, externalId=cmd.external_id)
        for g in cmd.groups
    ]
    steps += [
        AppRoleAssignment(
            email=cmd.email,
            userId=user_id,
            resourceId=r.resource_id,
            appRoleId=r.app_role_id,
            externalId=cmd.external_id,
        )
        for r in cmd.app_roles
    ]
    return steps


def _rejection(exc: ValidationError) -> InvalidMessage:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidMessage("UnknownField", f"unknown field '{where}' (check its spelling)")
    if kind in {"missing", "union_tag_not_found"}:
        return InvalidMessage("MissingField", f"required field '{where}' is missing")
    if kind in {"string_too_long", "too_long"}:
        return InvalidMessage("FieldTooLong", f"'{where}' is too long: {first['msg']}")
    if "TooManyCcRecipients" in str(first.get("msg", "")):
        return InvalidMessage("TooManyCcRecipients", "ccRecipient takes one address only")
    return InvalidMessage("InvalidField", f"'{where}': {first['msg']}")


def parse_invitation_queue_message(
    body: bytes | str, policy: Policy
) -> InvitationCommand | ReminderRequest:
    """Decode and validate a message from the invitations queue: an HR message (checked against
    every rule and allow-list of ``policy``) or a reminder queued by the sweep."""
    data = load_object(body)
    try:
        if set(data) == {"reminder"}:
            return _ReminderEnvelope.model_validate(data).reminder
        message = HrMessage.model_validate(data)
    except ValidationError as exc:
        raise _rejection(exc) from None
    return to_command(message, policy)


def to_command(message: HrMessage, policy: Policy) -> InvitationCommand:
    """The HR message checked against ``policy``: profiles expanded, defaults applied."""
    email = check_address(message.email)
    policy.check_guest_domain(email)

    cc = message.ccRecipient if isinstance(message.ccRecipient, str) else None
    if cc is not None:
        cc = check_address(cc, field_name="ccRecipient")
        policy.check_cc(cc)

    groups, roles = policy.expand_profiles(message.accessProfiles)
    groups.extend(message.groups)
    roles.extend(
        AppRoleRef(resource_id=r.resourceId, app_role_id=r.appRoleId) for r in message.appRoles
    )
    for group in groups:
        policy.check_group(group)
    for role in roles:
        policy.check_app_role(role)
    redirect = policy.check_redirect(message.redirectUrl or policy.default_redirect_url)

    unique_roles = dict.fromkeys(
        AppRoleRef(resource_id=r.resource_id.lower(), app_role_id=r.app_role_id.lower())
        for r in roles
    )
    return InvitationCommand(
        email=email,
        invitation=Invitation(
            redirect_url=redirect,
            display_name=message.displayName,
            send_message=message.sendInvitationMessage,
            message_body=message.customizedMessageBody,
            message_language=message.messageLanguage,
            cc_recipient=cc,
        ),
        groups=tuple(dict.fromkeys(g.lower() for g in groups)),
        app_roles=tuple(unique_roles),
        external_id=message.externalId,
    )


def parse_assignment_message(body: bytes | str) -> AssignmentStep:
    """Decode an assignment step; InvalidMessage if it is not one this app writes."""
    data: Any = load_object(body)
    try:
        return _ASSIGNMENT_STEP.validate_python(data)
    except ValidationError as exc:
        raise _rejection(exc) from None
