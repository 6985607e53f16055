"""How the directory's objects look on the wire: Graph's property names, its default `$select`
set, and the control API's views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graph_emulator.calls import GraphRequest
from graph_emulator.model import (
    PROFILE_PROPERTIES,
    AppRoleAssignment,
    Group,
    ServicePrincipal,
    User,
    format_time,
)
from graph_emulator.schema_checks import has_property, select_names, unset_value
from graph_emulator.tenant import Tenant


def _time_or_none(epoch_seconds: float | None) -> str | None:
    return format_time(epoch_seconds) if epoch_seconds is not None else None


def _profile_property(name: str) -> Callable[[User], Any]:
    return lambda user: user.profile.get(name)


USER = "microsoft.graph.user"
GROUP = "microsoft.graph.group"
SERVICE_PRINCIPAL = "microsoft.graph.servicePrincipal"

USER_PROPERTIES: dict[str, Callable[[User], Any]] = {
    "id": lambda u: u.id,
    "displayName": lambda u: u.display_name,
    "mail": lambda u: u.mail,
    "userPrincipalName": lambda u: u.user_principal_name,
    "userType": lambda u: u.user_type,
    "creationType": lambda u: u.creation_type,
    "externalUserState": lambda u: u.external_user_state,
    "externalUserStateChangeDateTime": lambda u: _time_or_none(u.state_changed_at),
    "createdDateTime": lambda u: format_time(u.created_at),
    "otherMails": lambda u: list(u.other_mails),
    "proxyAddresses": lambda u: list(u.proxy_addresses),
    "accountEnabled": lambda u: u.account_enabled,
    "businessPhones": lambda u: [],
    "givenName": lambda u: None,
    "surname": lambda u: None,
    "mobilePhone": lambda u: None,
    "preferredLanguage": lambda u: None,
    **{name: _profile_property(name) for name in PROFILE_PROPERTIES},
}
# Graph v1.0 returns this set unless `$select` asks for others.
DEFAULT_USER_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)


def parse_select(request: GraphRequest, type_name: str) -> tuple[str, ...] | None:
    """The `$select`ed properties in Graph's spelling, or None for the default set; Graph's 400
    for a property the type (``user``, ``directoryObject``) does not have."""
    raw = request.param("select")
    if raw is None:
        return None
    return select_names(f"microsoft.graph.{type_name}", raw)


def user_json(user: User, select: tuple[str, ...] | None) -> dict[str, Any]:
    """The user as Graph returns it for this `$select`: the emulator's own properties, the ones
    a PATCH set, and Graph's empty value for every other property the schema declares."""
    return {name: _user_value(user, name) for name in (select or DEFAULT_USER_SELECT)}


def _user_value(user: User, name: str) -> Any:
    getter = USER_PROPERTIES.get(name)
    if getter is not None:
        return getter(user)
    if user.profile and name in user.profile:
        return user.profile[name]
    return unset_value(USER, name)


def group_json(group: Group) -> dict[str, Any]:
    """The group's default properties."""
    return {
        "id": group.id,
        "displayName": group.display_name,
        "description": group.description,
        "isAssignableToRole": group.is_assignable_to_role,
        "securityEnabled": group.security_enabled,
        "mailEnabled": group.mail_enabled,
        "mailNickname": group.mail_nickname,
        "groupTypes": list(group.group_types),
        # Returned by default (api-reference/v1.0/resources/group.md): null unless dynamic.
        "membershipRule": group.membership_rule,
        "membershipRuleProcessingState": group.membership_rule_processing_state,
        "createdDateTime": format_time(group.created_at),
        "deletedDateTime": None,
    }


def projected(
    full: dict[str, Any], type_name: str, select: tuple[str, ...] | None
) -> dict[str, Any]:
    """``full`` narrowed to what ``$select`` asks of an object of ``type_name`` (qualified), as
    Graph answers: selected properties the type lacks (a user's in a mixed ``directoryObject``
    collection) are left out, ones the emulator does not model get Graph's unset value."""
    if select is None:
        return full
    return {
        name: full[name] if name in full else unset_value(type_name, name)
        for name in select
        if has_property(type_name, name)
    }


def directory_objects_json(
    tenant: Tenant, object_ids: list[str], select: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """Users and groups in a `directoryObject` collection, each with its `@odata.type`."""
    objects: list[dict[str, Any]] = []
    user_select = (
        None if select is None else tuple(n for n in select if has_property(USER, n)) or ("id",)
    )
    for object_id in object_ids:
        if object_id in tenant.users:
            user = tenant.users[object_id]
            objects.append({"@odata.type": "#microsoft.graph.user", **user_json(user, user_select)})
        elif object_id in tenant.groups:
            group = tenant.groups[object_id]
            body = projected(group_json(group), GROUP, select)
            objects.append({"@odata.type": "#microsoft.graph.group", **body})
    return objects


def assignment_json(assignment: AppRoleAssignment) -> dict[str, Any]:
    """An appRoleAssignment as Graph returns it."""
    return {
        "id": assignment.id,
        "deletedDateTime": None,
        "appRoleId": assignment.app_role_id,
        "createdDateTime": format_time(assignment.created_at),
        "principalDisplayName": assignment.principal_display_name,
        "principalId": assignment.principal_id,
        "principalType": assignment.principal_type,
        "resourceDisplayName": assignment.resource_display_name,
        "resourceId": assignment.resource_id,
    }


def service_principal_json(sp: ServicePrincipal) -> dict[str, Any]:
    """A servicePrincipal's properties the project reads."""
    return {
        "id": sp.id,
        "appId": sp.app_id,
        "displayName": sp.display_name,
        "accountEnabled": True,
        "servicePrincipalType": sp.service_principal_type,
        "alternativeNames": list(sp.alternative_names),
        "appRoles": sp.app_roles,
    }


#: The user properties the control API shows (Graph's names), besides `sponsors`.
STATE_PROPERTIES = (
    "id",
    "displayName",
    "mail",
    "userPrincipalName",
    "userType",
    "creationType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
    "otherMails",
    "proxyAddresses",
    "accountEnabled",
    "signInSessionsValidFromDateTime",
    "employeeLeaveDateTime",
    *PROFILE_PROPERTIES,
)


def user_state(user: User) -> dict[str, Any]:
    """Everything the control API shows about a user."""
    return {**user_json(user, STATE_PROPERTIES), "sponsors": list(user.sponsors)}


def tenant_state(tenant: Tenant) -> dict[str, Any]:
    """The control API's ``GET state``: everything a test may want to assert on."""
    return {
        "tenant": {"id": tenant.tenant_id, "domain": tenant.domain},
        "users": [user_state(u) for u in tenant.user_order if u is not None],
        "deletedUsers": [user_state(d.user) for d in tenant.deleted_users.values()],
        "groups": [
            {
                "id": g.id,
                "displayName": g.display_name,
                "isAssignableToRole": g.is_assignable_to_role,
                "groupTypes": list(g.group_types),
                "membershipRule": g.membership_rule,
                "membershipRuleProcessingState": g.membership_rule_processing_state,
                "members": list(g.members),
            }
            for g in tenant.groups.values()
        ],
        "servicePrincipals": [
            {
                "id": sp.id,
                "appId": sp.app_id,
                "displayName": sp.display_name,
                "appRoles": sp.app_roles,
                "assignments": [assignment_json(a) for a in sp.assignments],
            }
            for sp in tenant.service_principals.values()
        ],
    }
