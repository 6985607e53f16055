"""Internal messages: what this app puts on its own queues (reminders on the invitations queue,
fan-out steps on the assignments queue). Not a way in: whoever acts on one re-validates it
against the allow-lists and the ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from guest_onboarding.domain.invitation import (
    ACCOUNT_STEP_PREFIX,
    PROFILE_STEP_KEY,
    AppRoleRef,
    InvitationCommand,
    app_role_step_key,
    group_step_key,
    sponsor_step_key,
)
from guest_onboarding.wire import (
    MAX_EXTERNAL_ID,
    Address,
    Guid,
    Internal,
    iso_date_or_value,
    load_object,
    rejection,
    utc_time,
    utf16_units,
)

#: A reminder number beyond any schedule (the handler checks the configured one).
MAX_REMINDER_NUMBER = 100
#: W3C trace context (version 00), as this app writes it into the messages it queues: the one
#: definition (``telemetry.spans`` reads it from a message before validation with it too).
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


class _Traced(Internal):
    """A message that carries the W3C trace context of the step that queued it: the span of
    the step that handles it links to that step, across the queue hop (absent when telemetry
    is off). Anyone with send rights on the queue can write it, so it is a claim: never the
    parent of a span, nor its sampling decision (``telemetry.spans``)."""

    traceparent: Annotated[str, Field(pattern=TRACEPARENT_PATTERN)] | None = None


class ReminderRequest(_Traced):
    """Queued by the reminder sweep onto the invitations queue: re-send reminder ``number``."""

    email: Address
    number: Annotated[int, Field(ge=1, le=MAX_REMINDER_NUMBER)]


class ReminderEnvelope(Internal):
    reminder: ReminderRequest


class _Step(_Traced):
    """What every fan-out step carries besides its target."""

    email: Address
    userId: Guid
    externalId: Annotated[str, utf16_units(MAX_EXTERNAL_ID)] | None = None
    attempt: Annotated[int, Field(ge=0, le=1000)] = 0
    #: A copy queued again (a retry, or a grant made again): one before it may have reached Graph.
    requeued: bool = False


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


class SponsorLink(_Step):
    """Add a sponsor to a guest who already existed (``ADD_SPONSORS_TO_EXISTING_USERS``); new
    guests get their sponsors with the invitation itself."""

    kind: Literal["sponsor"] = "sponsor"
    sponsorId: Guid

    @property
    def key(self) -> str:
        """The ledger's name for this step."""
        return sponsor_step_key(self.sponsorId)

    @property
    def target(self) -> str:
        return self.sponsorId


class GroupRemoval(_Step):
    """Remove the guest from a group this app added them to (offboarding, or a mover's
    message that no longer names it)."""

    kind: Literal["removeGroup"] = "removeGroup"
    groupId: Guid

    @property
    def key(self) -> str:
        """The ledger's name for the grant this step removes."""
        return group_step_key(self.groupId)

    @property
    def target(self) -> str:
        return self.groupId


class AppRoleRemoval(_Step):
    """Remove an app role assignment this app made (the assignment's id is the ledger's)."""

    kind: Literal["removeAppRole"] = "removeAppRole"
    resourceId: Guid
    appRoleId: Guid

    @property
    def key(self) -> str:
        """The ledger's name for the grant this step removes."""
        return app_role_step_key(self.resourceId, self.appRoleId)

    @property
    def target(self) -> str:
        return f"{self.resourceId}:{self.appRoleId}"


class AccountStep(_Step):
    """One step on the account itself: ``revoke`` its sign-in sessions, ``disable`` or
    ``enable`` sign-in, or set its ``leaveDate`` (``employeeLeaveDateTime``). Each is done only
    when the ledger records it as queued (and the leave date only the ledger's)."""

    kind: Literal["account"] = "account"
    action: Literal["revoke", "disable", "enable", "leavedate"]
    leaveDate: Annotated[date | None, BeforeValidator(iso_date_or_value)] = None

    @property
    def key(self) -> str:
        """The ledger's name for this step."""
        return ACCOUNT_STEP_PREFIX + self.action

    @property
    def target(self) -> str:
        return self.action


class ProfileUpdate(_Step):
    """Write the guest's profile (``PATCH /users/{id}``): the profile the ledger records for the
    address, as HR's latest message stated it. The step carries no values, so a forged one can
    only write what the ledger already says."""

    kind: Literal["profile"] = "profile"

    @property
    def key(self) -> str:
        """The ledger's name for this step (one per guest, queued again on every change)."""
        return PROFILE_STEP_KEY

    @property
    def target(self) -> str:
        return "profile"


#: One fan-out step on the assignments queue.
AssignmentStep = Annotated[
    GroupMembership
    | AppRoleAssignment
    | SponsorLink
    | ProfileUpdate
    | GroupRemoval
    | AppRoleRemoval
    | AccountStep,
    Field(discriminator="kind"),
]
#: The steps that add access (re-validated against the allow-lists).
GrantStep = GroupMembership | AppRoleAssignment
RemovalStep = GroupRemoval | AppRoleRemoval


class HeldOffboarding(_Traced):
    """Queued by ``guest-onboarding release`` onto the invitations queue: settle the offboarding
    the brake held at ``heldAt`` as the operators' decision (in the brake's record) says. It
    decides nothing itself: without a decision, or for a row held at another time, nothing."""

    email: Address
    heldAt: Annotated[datetime, BeforeValidator(utc_time)]


class HeldOffboardingEnvelope(Internal):
    heldOffboarding: HeldOffboarding


_ASSIGNMENT_STEP: TypeAdapter[AssignmentStep] = TypeAdapter(AssignmentStep)


def next_attempt(step: AssignmentStep) -> AssignmentStep:
    """``step`` again, one attempt later (a transient failure's retry)."""
    return step.model_copy(update={"attempt": step.attempt + 1, "requeued": True})


def assignment_steps(
    cmd: InvitationCommand, user_id: str, *, link_sponsors: bool = False, profile: bool = False
) -> list[AssignmentStep]:
    """One step per group and per app role the command asks for, one for the profile when it
    states one and ``profile`` (a guest this app invited: ``domain.ledger.created_here``), and
    (``link_sponsors``, for a user who already existed) one per resolved sponsor."""
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
    if profile and cmd.profile is not None:
        steps.append(ProfileUpdate(email=cmd.email, userId=user_id, externalId=cmd.external_id))
    if link_sponsors:
        steps += [
            SponsorLink(email=cmd.email, userId=user_id, sponsorId=s, externalId=cmd.external_id)
            for s in cmd.invitation.sponsors
        ]
    return steps


def parse_assignment_message(body: bytes | str) -> AssignmentStep:
    """Decode an assignment step; InvalidMessage if it is not one this app writes."""
    data: Any = load_object(body)
    try:
        return _ASSIGNMENT_STEP.validate_python(data)
    except ValidationError as exc:
        raise rejection(exc) from None
