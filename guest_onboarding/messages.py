"""The HR message schema (the public contract) and its validation into an
:class:`~guest_onboarding.domain.invitation.InvitationCommand`. Every rejection names a stable
``code``. The messages this app puts on its own queues are in :mod:`.internal_messages`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator

from guest_onboarding.domain.addresses import check_address
from guest_onboarding.domain.content import check_display_name, check_message_body
from guest_onboarding.domain.invitation import (
    MOST_SPONSORS,
    AccessMode,
    AppRoleRef,
    Invitation,
    InvitationCommand,
    OffboardCommand,
    is_guid,
)
from guest_onboarding.domain.policy import Policy
from guest_onboarding.domain.profile import ProfileField, check_profile
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import (
    HeldOffboarding,
    HeldOffboardingEnvelope,
    ReminderEnvelope,
    ReminderRequest,
)
from guest_onboarding.wire import (
    MAX_EXTERNAL_ID,
    Guid,
    Strict,
    load_object,
    rejection,
    utf16_units,
)

MAX_DISPLAY_NAME = 256
MAX_MESSAGE_BODY = 2000
MAX_ITEMS = 50
#: Graph takes at most five sponsors per guest.
MAX_SPONSORS = MOST_SPONSORS
_LANGUAGE = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,2}$"
#: A sponsor: an object id, or a user principal name (an address-shaped name; checked by
#: ``check_address`` in ``to_command``).
SponsorRef = Annotated[str, Field(min_length=3, max_length=320)]
#: The fields an offboarding message may carry: who, and nothing about access (the ledger
#: says what this app granted).
OFFBOARD_FIELDS = frozenset({"email", "action", "externalId"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> date:
    """A calendar date written ``YYYY-MM-DD`` (ISO 8601), nothing else (no time, no number)."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("an ISO date, YYYY-MM-DD")
    return date.fromisoformat(value)


IsoDate = Annotated[date, BeforeValidator(_iso_date)]

#: A profile value as received (its own rules, and Graph's length, in ``domain.profile``); long
#: enough for any of them, short enough that a hostile message cannot make the check costly.
ProfileValue = Annotated[str, Field(max_length=1024)] | None


class AppRoleRequest(Strict):
    resourceId: Guid
    appRoleId: Guid


class HrMessage(Strict):
    """One guest to onboard, as an HR system sends it (README: "The message contract")."""

    email: Annotated[str, Field(min_length=3, max_length=320)]
    displayName: Annotated[str, Field(min_length=1), utf16_units(MAX_DISPLAY_NAME)] | None = None
    accessProfiles: Annotated[list[str], Field(max_length=MAX_ITEMS)] = []
    groups: Annotated[list[Guid], Field(max_length=MAX_ITEMS)] = []
    appRoles: Annotated[list[AppRoleRequest], Field(max_length=MAX_ITEMS)] = []
    redirectUrl: Annotated[str, Field(max_length=2048)] | None = None
    sendInvitationMessage: bool = True
    customizedMessageBody: Annotated[str, utf16_units(MAX_MESSAGE_BODY)] | None = None
    messageLanguage: Annotated[str, Field(pattern=_LANGUAGE)] | None = None
    ccRecipient: str | list[str] | None = None
    externalId: Annotated[str, utf16_units(MAX_EXTERNAL_ID)] | None = None
    sponsors: Annotated[list[SponsorRef], Field(max_length=MAX_ITEMS)] = []
    #: ``onboard`` (the default) or ``offboard`` (README: "Joiner, mover, leaver").
    action: Literal["onboard", "offboard"] = "onboard"
    #: The day access ends; ``null`` removes an end date given before.
    accessEndsOn: IsoDate | None = None
    #: ``add`` (the access named is added) or ``exact`` (it is all of it); default
    #: ``ACCESS_MODE``.
    accessMode: AccessMode | None = None
    #: Graph ``user`` attributes (``domain.profile.ProfileField``), limited to
    #: ``GUEST_PROFILE_FIELDS``; absent: the profile is left as it is.
    profile: Annotated[dict[str, ProfileValue], Field(max_length=len(ProfileField))] | None = None

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


def parse_invitation_queue_message(
    body: bytes | str, policy: Policy
) -> InvitationCommand | OffboardCommand | ReminderRequest | HeldOffboarding:
    """Decode and validate a message from the invitations queue: an HR message (checked against
    every rule and allow-list of ``policy``), a reminder queued by the sweep, or a held
    offboarding an operator's decision settles."""
    data = load_object(body)
    try:
        if set(data) == {"reminder"}:
            return ReminderEnvelope.model_validate(data).reminder
        if set(data) == {"heldOffboarding"}:
            return HeldOffboardingEnvelope.model_validate(data).heldOffboarding
        message = HrMessage.model_validate(data)
    except ValidationError as exc:
        raise rejection(exc) from None
    if message.action == "offboard":
        return to_offboard_command(message)
    return to_command(message, policy)


def to_offboard_command(message: HrMessage) -> OffboardCommand:
    """An offboarding: the address only. No allow-list applies (whoever this app onboarded
    can be offboarded, whatever the lists say today); anything about access is refused."""
    extra = sorted(message.model_fields_set - OFFBOARD_FIELDS)
    if extra:
        raise InvalidMessage(
            "InvalidField",
            f"'{extra[0]}': an offboarding message takes only email, action and externalId",
        )
    return OffboardCommand(email=check_address(message.email), external_id=message.externalId)


def to_command(message: HrMessage, policy: Policy) -> InvitationCommand:
    """The HR message checked against ``policy``: profiles expanded, defaults applied."""
    email = check_address(message.email)
    policy.check_guest_domain(email)

    cc = message.ccRecipient if isinstance(message.ccRecipient, str) else None
    if cc is not None:
        cc = check_address(cc, field_name="ccRecipient")
        policy.check_cc(cc)

    profiles = policy.profiles(message.accessProfiles)
    groups = [g for p in profiles for g in p.groups] + list(message.groups)
    roles = [r for p in profiles for r in p.app_roles]
    roles.extend(
        AppRoleRef(resource_id=r.resourceId, app_role_id=r.appRoleId) for r in message.appRoles
    )
    for group in groups:
        policy.check_group(group)
    for role in roles:
        policy.check_app_role(role)
    redirect = policy.check_redirect(message.redirectUrl or policy.default_redirect_url)
    name, body = message.displayName, message.customizedMessageBody
    if name is not None:
        name = check_display_name(name, policy)
    if body is not None:
        body = check_message_body(body, policy)
    sponsors = _sponsor_refs([*message.sponsors, *(s for p in profiles for s in p.sponsors)])
    profile = None if message.profile is None else check_profile(message.profile, policy)

    unique_roles = dict.fromkeys(
        AppRoleRef(resource_id=r.resource_id.lower(), app_role_id=r.app_role_id.lower())
        for r in roles
    )
    return InvitationCommand(
        email=email,
        invitation=Invitation(
            redirect_url=redirect,
            display_name=name,
            send_message=message.sendInvitationMessage,
            message_body=body,
            message_language=message.messageLanguage,
            cc_recipient=cc,
        ),
        groups=tuple(dict.fromkeys(g.lower() for g in groups)),
        app_roles=tuple(unique_roles),
        external_id=message.externalId,
        sponsor_refs=sponsors,
        access_ends_on=message.accessEndsOn,
        ends_on_given="accessEndsOn" in message.model_fields_set,
        access_given=bool(ACCESS_FIELDS & message.model_fields_set),
        access_mode=message.accessMode,
        profile=profile,
    )


#: The fields that state a guest's access: only a message that carries one of them can remove
#: access (``exact``); a profile-only update or a CSV row without them leaves access alone.
ACCESS_FIELDS = frozenset({"groups", "accessProfiles", "appRoles"})


def _sponsor_refs(refs: list[str]) -> tuple[str, ...]:
    """Sponsors in one form (object ids lower case, UPNs canonical), duplicates dropped, at most
    five (``TooManySponsors``). Whether they exist and are members is Graph's to say."""
    unique: dict[str, None] = {}
    for ref in refs:
        if is_guid(ref):
            unique[ref.lower()] = None
        else:
            unique[check_address(ref, field_name="sponsors")] = None
    if len(unique) > MAX_SPONSORS:
        raise InvalidMessage(
            "TooManySponsors", f"at most {MAX_SPONSORS} sponsors, got {len(unique)}"
        )
    return tuple(unique)
