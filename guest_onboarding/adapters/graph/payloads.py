"""Request bodies and response fields: plain JSON, the shapes pinned by tests (the SDK's typed
models cost milliseconds of CPU per object; see the package docstring)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from guest_onboarding.domain.invitation import Invitation, is_guid
from guest_onboarding.errors import InvalidRequest, ServiceUnavailable
from guest_onboarding.ports import DirectoryGroup, DirectoryUser

#: ``@odata.id`` in a ``$ref`` body must name Graph itself, whatever base URL the client uses.
GRAPH_DIRECTORY_OBJECTS = "https://graph.microsoft.com/v1.0/directoryObjects/"

#: A sponsor is named by ``@odata.id`` pointing at Graph's own users collection.
GRAPH_USERS = "https://graph.microsoft.com/v1.0/users/"
SPONSOR_FIELDS = ("id", "mail", "userPrincipalName", "userType", "accountEnabled")

USER_FIELDS = ("id", "mail", "userType", "externalUserState", "externalUserStateChangeDateTime")
GROUP_FIELDS = ("id", "displayName", "groupTypes", "membershipRule")
PENDING_FIELDS = ("id", "mail", "externalUserState", "externalUserStateChangeDateTime")


def invitation_body(email: str, invitation: Invitation) -> dict[str, Any]:
    """``POST /invitations``: the invitation's content as Graph names it."""
    body: dict[str, Any] = {
        "invitedUserEmailAddress": email,
        "inviteRedirectUrl": invitation.redirect_url,
        "sendInvitationMessage": invitation.send_message,
    }
    if invitation.display_name:
        body["invitedUserDisplayName"] = invitation.display_name
    info = message_info(invitation)
    if info:
        body["invitedUserMessageInfo"] = info
    if invitation.sponsors:
        body["invitedUserSponsors"] = [{"id": sponsor} for sponsor in invitation.sponsors]
    return body


def message_info(invitation: Invitation) -> dict[str, Any] | None:
    """``invitedUserMessageInfo`` with only the parts that are set (None when none is)."""
    info: dict[str, Any] = {}
    if invitation.message_body:
        info["customizedMessageBody"] = invitation.message_body
    if invitation.message_language:
        info["messageLanguage"] = invitation.message_language
    if invitation.cc_recipient:
        info["ccRecipients"] = [{"emailAddress": {"address": invitation.cc_recipient}}]
    return info or None


def guid(field: str, value: str) -> str:
    """``value``, an object id, in lower case; Graph would refuse anything else with a 400."""
    if not is_guid(value):
        raise InvalidRequest(f"{field} must be a GUID, got {value!r}", code="InvalidGuid")
    return value.lower()


def directory_user(raw: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        id=raw["id"],
        mail=raw.get("mail"),
        user_principal_name=raw.get("userPrincipalName"),
        user_type=raw.get("userType"),
        account_enabled=raw.get("accountEnabled"),
        external_user_state=raw.get("externalUserState"),
        state_changed_at=parse_datetime(raw.get("externalUserStateChangeDateTime")),
    )


def directory_group(raw: dict[str, Any]) -> DirectoryGroup:
    types = raw.get("groupTypes")
    return DirectoryGroup(
        id=raw["id"],
        display_name=raw.get("displayName"),
        group_types=tuple(str(t) for t in types) if isinstance(types, list) else (),
        membership_rule=raw.get("membershipRule"),
    )


def parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def query_of(builder: Any, **options: Any) -> Any:
    """The query parameters of ``builder``'s GET (``filter``, ``select``, ``top``)."""
    return getattr(builder, f"{type(builder).__name__}GetQueryParameters")(**options)


def assignment_of(values: object, app_role_id: str) -> str | None:
    """The id of the assignment of ``app_role_id`` among a listing's ``value``, if any."""
    wanted = app_role_id.lower()
    for item in values if isinstance(values, list) else ():
        if isinstance(item, dict) and str(item.get("appRoleId", "")).lower() == wanted:
            return str(item["id"])
    return None


def select_id(builder: Any, top: int | None = None) -> Any:
    """``$select=id`` (and ``$top``) for an existence probe (the group's members builder, the
    service principal's item builder)."""
    name = type(builder).__name__
    query = getattr(builder, f"{name}GetQueryParameters")
    return query(select=["id"]) if top is None else query(select=["id"], top=top)


def leave_date_time(day: date | None) -> str | None:
    """``employeeLeaveDateTime`` for an end date: the start of that day, UTC (Graph's
    DateTimeOffset text), or None to clear it."""
    return None if day is None else f"{day.isoformat()}T00:00:00Z"


def created_id(data: dict[str, Any]) -> str:
    """The ``id`` of what a POST created (an app role assignment's, for its later DELETE)."""
    created = data.get("id")
    if not isinstance(created, str) or not created:
        raise ServiceUnavailable(
            "Graph created the object but returned no id", code="UnreadableResponse"
        )
    return created
