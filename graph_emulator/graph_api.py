"""The `/v1.0` endpoints: routing, the permission each demands, and the handlers.

Handlers take a `GraphRequest` and a `Tenant` and return a `GraphResponse` or raise `GraphError`;
transport, auth, throttling and faults live in `server.py`, so `$batch` sub-requests run through
exactly the same code as top-level requests.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from graph_emulator.errors import GraphError, bad_request, forbidden
from graph_emulator.odata_filter import (
    FilterSyntaxError,
    Node,
    UnsupportedFilterError,
    compile_filter,
    index_keys,
    needs_advanced_query,
    parse_filter,
)
from graph_emulator.tenant import (
    AppRoleAssignment,
    Group,
    ServicePrincipal,
    Tenant,
    User,
    format_time,
)

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
METADATA = f"{GRAPH_ROOT}/$metadata"
MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 100
MAX_BIND_MEMBERS = 20
REFERENCE_URL = re.compile(
    r"^https://graph\.microsoft\.com/(?:v1\.0|beta)/"
    r"(?:directoryObjects|users|groups|servicePrincipals)/([^/?#]+)$",
    re.IGNORECASE,
)


@dataclass
class GraphRequest:
    """One Graph call, top-level or inside `$batch`. `path` excludes `/v1.0`."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: Any
    origin: str
    replication_lag_status: int = 404
    replication_lag_ms: int = 0
    # The calling identity's application permissions, for checks that depend on the target.
    granted: frozenset[str] = frozenset()

    def param(self, name: str) -> str | None:
        """A system query option, with or without its `$` (Graph accepts both)."""
        value = self.query.get(f"${name}")
        return value if value is not None else self.query.get(name)


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Tenant, GraphRequest, dict[str, str]], GraphResponse]


@dataclass(frozen=True)
class Route:
    """One endpoint: its counter key, required permissions and throttling cost."""

    method: str
    pattern: re.Pattern[str]
    key: str
    # Every inner set must be satisfied by at least one granted permission.
    permissions: tuple[frozenset[str], ...]
    handler: Handler
    cost: int = 1

    @property
    def is_write(self) -> bool:
        """POST, PATCH and DELETE count against the write bucket."""
        return self.method in ("POST", "PATCH", "DELETE")

    def authorise(self, granted: frozenset[str]) -> None:
        """Raise 403 Authorization_RequestDenied unless every requirement is met."""
        for alternatives in self.permissions:
            if not alternatives & granted:
                raise forbidden()

    def throttle_cost(self, request: GraphRequest) -> int:
        """Resource units: base cost, 1 for writes, -1 with `$select`, +1 with `$expand`."""
        cost = self.cost
        if request.param("select") is not None:
            cost -= 1
        if request.param("expand") is not None:
            cost += 1
        return max(1, cost)


# ----- projections -----------------------------------------------------------------------------

USER_PROPERTIES: dict[str, Callable[[User], Any]] = {
    "id": lambda u: u.id,
    "displayName": lambda u: u.display_name,
    "mail": lambda u: u.mail,
    "userPrincipalName": lambda u: u.user_principal_name,
    "userType": lambda u: u.user_type,
    "creationType": lambda u: u.creation_type,
    "externalUserState": lambda u: u.external_user_state,
    "externalUserStateChangeDateTime": lambda u: (
        format_time(u.state_changed_at) if u.state_changed_at is not None else None
    ),
    "createdDateTime": lambda u: format_time(u.created_at),
    "otherMails": lambda u: list(u.other_mails),
    "proxyAddresses": lambda u: list(u.proxy_addresses),
    "accountEnabled": lambda u: True,
    "businessPhones": lambda u: [],
    "givenName": lambda u: None,
    "surname": lambda u: None,
    "jobTitle": lambda u: None,
    "mobilePhone": lambda u: None,
    "officeLocation": lambda u: None,
    "preferredLanguage": lambda u: None,
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
USER_FILTERABLE = (
    "id",
    "displayName",
    "mail",
    "userPrincipalName",
    "userType",
    "creationType",
    "externalUserState",
    "otherMails",
    "proxyAddresses",
    "accountEnabled",
)
USER_COLLECTIONS = frozenset({"otherMails", "proxyAddresses"})
ASSIGNMENT_FILTERABLE: dict[str, Callable[[AppRoleAssignment], Any]] = {
    "resourceId": lambda a: a.resource_id,
    "principalId": lambda a: a.principal_id,
    "appRoleId": lambda a: a.app_role_id,
    "principalType": lambda a: a.principal_type,
}


def _case_insensitive(names: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in names}


_USER_NAMES = _case_insensitive(USER_PROPERTIES)
_USER_FILTER_NAMES = _case_insensitive(USER_FILTERABLE)
_ASSIGNMENT_NAMES = _case_insensitive(ASSIGNMENT_FILTERABLE)


def parse_select(request: GraphRequest, type_name: str) -> tuple[str, ...] | None:
    """The `$select`ed user properties in Graph's spelling, or None for the default set."""
    raw = request.param("select")
    if raw is None:
        return None
    selected: list[str] = []
    for item in raw.split(","):
        name = _USER_NAMES.get(item.strip().lower())
        if name is None:
            raise bad_request(
                f"Could not find a property named '{item.strip()}' on type "
                f"'microsoft.graph.{type_name}'."
            )
        selected.append(name)
    return tuple(selected)


def user_json(user: User, select: tuple[str, ...] | None) -> dict[str, Any]:
    """The user as Graph returns it for this `$select`."""
    return {name: USER_PROPERTIES[name](user) for name in (select or DEFAULT_USER_SELECT)}


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
        "groupTypes": [],
        "createdDateTime": format_time(group.created_at),
        "deletedDateTime": None,
    }


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
        "servicePrincipalType": "Application",
        "appRoles": sp.app_roles,
    }


# ----- paging and filters ----------------------------------------------------------------------


def parse_top(request: GraphRequest) -> int:
    """`$top` in 1..999 (Graph's exact 400 otherwise), default 100."""
    raw = request.param("top")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for query option '$top'.") from None
    if not 1 <= top <= MAX_PAGE_SIZE:
        raise bad_request(
            f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
            code="Request_BadRequest",
        )
    return top


def _encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{position}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        prefix, _, position = base64.urlsafe_b64decode(padded).decode().partition(":")
        if prefix != "emu":
            raise ValueError(token)
        return int(position)
    except ValueError:
        raise bad_request(f"Invalid skip token '{token}'.", code="Request_BadRequest") from None


def start_position(request: GraphRequest) -> int:
    """Where this page starts: 0, or the position a previous `@odata.nextLink` carried."""
    token = request.param("skiptoken")
    return 0 if token is None else _decode_token(token)


def next_link(request: GraphRequest, position: int) -> str:
    """An absolute nextLink on the emulator's own host keeping the query, minus `$count`."""
    kept = {
        k: v
        for k, v in request.query.items()
        if k.lstrip("$").lower() not in ("skiptoken", "count")
    }
    kept["$skiptoken"] = _encode_token(position)
    return f"{request.origin}/v1.0{request.path}?{urlencode(kept, quote_via=quote, safe='$')}"


def wants_count(request: GraphRequest) -> bool:
    """`$count=true`, which Graph serves on directory objects only as an advanced query."""
    raw = request.param("count")
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() != "true":
        raise bad_request(f"Invalid value '{raw}' for query option '$count'.")
    if not is_advanced(request):
        raise bad_request("$count is not currently supported.", code="Request_BadRequest")
    return True


def is_advanced(request: GraphRequest) -> bool:
    """The request carries `ConsistencyLevel: eventual`."""
    level = next((v for k, v in request.headers.items() if k.lower() == "consistencylevel"), "")
    return level.lower() == "eventual"


def parse_filter_option(request: GraphRequest) -> Node | None:
    """The parsed `$filter`, or 400 with Graph's wording for a syntax error."""
    raw = request.param("filter")
    if raw is None:
        return None
    try:
        return parse_filter(raw)
    except FilterSyntaxError as exc:
        raise bad_request(f"Invalid filter clause: {exc}") from None


def unsupported_query(message: str) -> GraphError:
    """400 Request_UnsupportedQuery, Graph's answer to filters it cannot serve."""
    return bad_request(message, code="Request_UnsupportedQuery")


def _user_resolver(name: str) -> Callable[[object], object]:
    canonical = _USER_FILTER_NAMES[name.lower()]
    getter = USER_PROPERTIES[canonical]
    return lambda entity: getter(entity)  # type: ignore[arg-type]


def _user_index_key(name: str, value: str) -> str | None:
    canonical = _USER_FILTER_NAMES.get(name.lower())
    if canonical in ("mail", "userPrincipalName", "otherMails"):
        return value.lower()
    if canonical == "proxyAddresses":
        return value.split(":", 1)[-1].lower()
    return None


def user_predicate(
    request: GraphRequest,
) -> tuple[Callable[[object], bool] | None, set[str] | None]:
    """The compiled `$filter` for users and the address-index keys that narrow it."""
    node = parse_filter_option(request)
    if node is None:
        return None, None
    # A skip token stands for a query Graph already accepted: later pages need no headers.
    advanced_ok = is_advanced(request) and request.param("count") is not None
    if needs_advanced_query(node) and not advanced_ok and request.param("skiptoken") is None:
        raise unsupported_query(
            "Unsupported or invalid query filter clause specified for property."
        )
    try:
        predicate = compile_filter(node, _user_resolver, USER_COLLECTIONS)
    except UnsupportedFilterError as exc:
        raise unsupported_query(
            f"Unsupported or invalid query filter clause specified for property "
            f"'{exc.property_name}' of resource 'User'."
        ) from None
    return predicate, index_keys(node, _user_index_key)


def _candidates(tenant: Tenant, keys: set[str] | None, start: int) -> Iterator[User]:
    if keys is None:
        order = tenant.user_order
        for position in range(start, len(order)):
            user = order[position]
            if user is not None:
                yield user
        return
    found = {id(u): u for key in keys for u in tenant.address_index.get(key, ())}
    for user in sorted(found.values(), key=lambda u: u.seq):
        if user.seq >= start:
            yield user


# ----- handlers --------------------------------------------------------------------------------


def list_users(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /users with `$filter`, `$select`, `$top`, `$count` and skip-token paging."""
    top = parse_top(request)
    select = parse_select(request, "user")
    count = wants_count(request)
    predicate, keys = user_predicate(request)
    start = start_position(request)
    page: list[dict[str, Any]] = []
    following: int | None = None
    for user in _candidates(tenant, keys, start):
        if predicate is not None and not predicate(user):
            continue
        if len(page) == top:
            following = user.seq
            break
        page.append(user_json(user, select))
    body: dict[str, Any] = {
        "@odata.context": f"{METADATA}#users" + (f"({','.join(select)})" if select else "")
    }
    if count:
        body["@odata.count"] = sum(
            1 for u in _candidates(tenant, keys, 0) if predicate is None or predicate(u)
        )
    if following is not None:
        body["@odata.nextLink"] = next_link(request, following)
    body["value"] = page
    return GraphResponse(200, body)


def get_user(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /users/{id} (id or UPN) with `$select`."""
    select = parse_select(request, "user")
    user = tenant.get_user(params["id"])
    body = {"@odata.context": f"{METADATA}#users/$entity", **user_json(user, select)}
    return GraphResponse(200, body)


def delete_user(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """DELETE /users/{id}: 204, removing memberships and assignments too."""
    tenant.delete_user(tenant.get_user(params["id"]))
    return GraphResponse(204)


def list_user_assignments(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /users/{id}/appRoleAssignments, `$filter=resourceId eq {guid}` supported."""
    user = tenant.get_user(params["id"])
    assignments = tenant.assignments_by_principal.get(user.id, [])
    return _assignment_page(assignments, request, f"users('{user.id}')/appRoleAssignments")


def _assignment_page(
    assignments: list[AppRoleAssignment], request: GraphRequest, context: str
) -> GraphResponse:
    node = parse_filter_option(request)
    top = parse_top(request)
    if node is not None:

        def resolve(name: str) -> Callable[[object], object]:
            getter = ASSIGNMENT_FILTERABLE[_ASSIGNMENT_NAMES[name.lower()]]
            return lambda entity: getter(entity)  # type: ignore[arg-type]

        try:
            predicate = compile_filter(node, resolve, frozenset())
        except UnsupportedFilterError as exc:
            raise unsupported_query(
                f"Unsupported or invalid query filter clause specified for property "
                f"'{exc.property_name}' of resource 'AppRoleAssignment'."
            ) from None
        assignments = [a for a in assignments if predicate(a)]
    start = start_position(request)
    body: dict[str, Any] = {"@odata.context": f"{METADATA}#{context}"}
    if len(assignments) > start + top:
        body["@odata.nextLink"] = next_link(request, start + top)
    body["value"] = [assignment_json(a) for a in assignments[start : start + top]]
    return GraphResponse(200, body)


def invite(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """POST /invitations: create or re-invite a guest, record the email when one is sent."""
    body = _json_object(request)
    address = body.get("invitedUserEmailAddress")
    redirect = body.get("inviteRedirectUrl")
    if not isinstance(address, str) or not address.strip():
        raise bad_request("The invitedUserEmailAddress property is required.")
    if not isinstance(redirect, str) or not redirect.strip():
        raise bad_request("The inviteRedirectUrl property is required.")
    tenant.validate_address(address)
    info = body.get("invitedUserMessageInfo") or {}
    if not isinstance(info, dict):
        raise bad_request("invitedUserMessageInfo must be an object.")
    cc_entries = info.get("ccRecipients") or []
    if len(cc_entries) > 1:
        raise bad_request("Only one recipient is supported in ccRecipients.")
    cc = [_cc_address(entry) for entry in cc_entries]
    send = bool(body.get("sendInvitationMessage", False))
    reset = bool(body.get("resetRedemption", False))
    display_name = body.get("invitedUserDisplayName")
    invitation, user, redeem_url = tenant.invite(
        address=address,
        display_name=display_name,
        redirect_url=redirect,
        send_message=send,
        message_body=info.get("customizedMessageBody"),
        language=info.get("messageLanguage"),
        cc=cc,
        reset_redemption=reset,
        redeem_base_url=request.origin,
        replication_lag_ms=request.replication_lag_ms,
    )
    status = "PendingAcceptance" if user.external_user_state == "PendingAcceptance" else "Completed"
    response = {
        "@odata.context": f"{METADATA}#invitations/$entity",
        "id": invitation.id,
        "inviteRedeemUrl": redeem_url,
        "invitedUserDisplayName": display_name,
        "invitedUserType": body.get("invitedUserType", "Guest"),
        "invitedUserEmailAddress": address,
        "sendInvitationMessage": send,
        "resetRedemption": reset,
        "inviteRedirectUrl": redirect,
        "status": status,
        "invitedUserMessageInfo": {
            "messageLanguage": info.get("messageLanguage"),
            "customizedMessageBody": info.get("customizedMessageBody"),
            "ccRecipients": [{"emailAddress": {"name": None, "address": a}} for a in cc],
        },
        "invitedUser": {"id": user.id},
    }
    return GraphResponse(201, response)


def _cc_address(entry: Any) -> str:
    address = entry.get("emailAddress", {}).get("address") if isinstance(entry, dict) else None
    if not isinstance(address, str):
        raise bad_request("ccRecipients entries need emailAddress.address.")
    return address


def get_group(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /groups/{id}."""
    group = tenant.get_group(params["id"])
    return GraphResponse(200, {"@odata.context": f"{METADATA}#groups/$entity", **group_json(group)})


def list_group_members(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /groups/{id}/members, paged, `$select` applied to users."""
    group = tenant.get_group(params["id"])
    top = parse_top(request)
    select = parse_select(request, "directoryObject")
    start = start_position(request)
    member_ids = list(group.members)
    page: list[dict[str, Any]] = []
    for member_id in member_ids[start : start + top]:
        if member_id in tenant.users:
            page.append(
                {
                    "@odata.type": "#microsoft.graph.user",
                    **user_json(tenant.users[member_id], select),
                }
            )
        elif member_id in tenant.groups:
            page.append(
                {"@odata.type": "#microsoft.graph.group", **group_json(tenant.groups[member_id])}
            )
    body: dict[str, Any] = {"@odata.context": f"{METADATA}#directoryObjects"}
    if len(member_ids) > start + top:
        body["@odata.nextLink"] = next_link(request, start + top)
    body["value"] = page
    return GraphResponse(200, body)


def _member_writable(group: Group, granted: frozenset[str]) -> None:
    # Role-assignable groups need RoleManagement.ReadWrite.Directory on top of member permissions.
    if group.is_assignable_to_role and "RoleManagement.ReadWrite.Directory" not in granted:
        raise forbidden()


def _reference_id(value: Any) -> str:
    if not isinstance(value, str):
        raise bad_request("Invalid OData reference: '@odata.id' is required.", "Request_BadRequest")
    match = REFERENCE_URL.match(value)
    if match is None:
        raise bad_request(f"Invalid object identifier '{value}'.", code="Request_BadRequest")
    return match.group(1)


def add_group_member(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """POST /groups/{id}/members/$ref with a Graph `@odata.id`; 204."""
    group = tenant.get_group(params["id"])
    _member_writable(group, request.granted)
    member_id = _reference_id(_json_object(request).get("@odata.id"))
    tenant.add_members(group, [member_id], request.replication_lag_status)
    return GraphResponse(204)


def update_group(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """PATCH /groups/{id} with `members@odata.bind`: up to 20, all or nothing; 204."""
    group = tenant.get_group(params["id"])
    body = _json_object(request)
    # The SDK adds "@odata.type"; annotations are not properties.
    unsupported = {key for key in body if not key.startswith("@odata.")} - {"members@odata.bind"}
    if unsupported:
        raise bad_request(
            f"The emulator only supports 'members@odata.bind' on group updates, not "
            f"{sorted(unsupported)}."
        )
    references = body.get("members@odata.bind")
    if not isinstance(references, list) or not references:
        raise bad_request("'members@odata.bind' must be a non-empty array of references.")
    if len(references) > MAX_BIND_MEMBERS:
        raise bad_request(
            f"The request contains {len(references)} member references; at most "
            f"{MAX_BIND_MEMBERS} can be added in one request.",
            code="Request_BadRequest",
        )
    _member_writable(group, request.granted)
    member_ids = [_reference_id(reference) for reference in references]
    tenant.add_members(group, member_ids, request.replication_lag_status)
    return GraphResponse(204)


def get_service_principal(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals/{id}."""
    sp = tenant.get_service_principal(params["id"])
    body = {"@odata.context": f"{METADATA}#servicePrincipals/$entity", **service_principal_json(sp)}
    return GraphResponse(200, body)


def list_app_role_assigned_to(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals/{id}/appRoleAssignedTo."""
    sp = tenant.get_service_principal(params["id"])
    return _assignment_page(
        sp.assignments, request, f"servicePrincipals('{sp.id}')/appRoleAssignedTo"
    )


def assign_app_role(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """POST /servicePrincipals/{id}/appRoleAssignedTo; 201 with the assignment."""
    sp = tenant.get_service_principal(params["id"])
    body = _json_object(request)
    principal_id, resource_id = body.get("principalId"), body.get("resourceId")
    app_role_id = body.get("appRoleId")
    if not all(isinstance(v, str) and v for v in (principal_id, resource_id, app_role_id)):
        raise bad_request(
            "principalId, resourceId and appRoleId are required.", code="Request_BadRequest"
        )
    assert isinstance(principal_id, str) and isinstance(app_role_id, str)
    if resource_id != sp.id:
        raise bad_request(
            f"resourceId '{resource_id}' does not match the service principal '{sp.id}'.",
            code="Request_BadRequest",
        )
    assignment = tenant.assign_app_role(
        sp.id, principal_id, app_role_id, lag_status=request.replication_lag_status
    )
    body_out = {
        "@odata.context": f"{METADATA}#servicePrincipals('{sp.id}')/appRoleAssignedTo/$entity",
        **assignment_json(assignment),
    }
    return GraphResponse(201, body_out)


def _json_object(request: GraphRequest) -> dict[str, Any]:
    if not isinstance(request.body, dict):
        raise bad_request("A JSON object request body is required.")
    return request.body


# ----- routing ---------------------------------------------------------------------------------


def _any(*names: str) -> frozenset[str]:
    return frozenset(names)


READ_USERS = (
    _any("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
)
WRITE_MEMBERS = (
    _any("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"),
)
READ_GROUPS = (
    _any(
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
)
READ_APPLICATIONS = (
    _any(
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
)
READ_ASSIGNMENTS = (
    _any(
        "Application.Read.All",
        "Application.ReadWrite.All",
        "AppRoleAssignment.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ),
)


def _route(
    method: str,
    template: str,
    permissions: tuple[frozenset[str], ...],
    handler: Handler,
    cost: int = 1,
) -> Route:
    regex = re.escape(template).replace(re.escape("{id}"), "(?P<id>[^/]+)")
    return Route(
        method=method,
        pattern=re.compile(f"^{regex}$", re.IGNORECASE),
        key=f"{method} {template}",
        permissions=permissions,
        handler=handler,
        cost=cost,
    )


ROUTES: tuple[Route, ...] = (
    _route(
        "POST",
        "/invitations",
        (_any("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"),),
        invite,
    ),
    _route("GET", "/users", READ_USERS, list_users, cost=2),
    _route("GET", "/users/{id}", READ_USERS, get_user),
    _route(
        "DELETE",
        "/users/{id}",
        (_any("User.ReadWrite.All", "Directory.ReadWrite.All"),),
        delete_user,
    ),
    _route(
        "GET",
        "/users/{id}/appRoleAssignments",
        (READ_USERS[0] | READ_ASSIGNMENTS[0],),
        list_user_assignments,
    ),
    _route("GET", "/groups/{id}", READ_GROUPS, get_group),
    _route("PATCH", "/groups/{id}", WRITE_MEMBERS, update_group),
    _route("GET", "/groups/{id}/members", READ_GROUPS, list_group_members, cost=3),
    _route("POST", "/groups/{id}/members/$ref", WRITE_MEMBERS, add_group_member),
    _route("GET", "/servicePrincipals/{id}", READ_APPLICATIONS, get_service_principal),
    _route(
        "GET",
        "/servicePrincipals/{id}/appRoleAssignedTo",
        READ_ASSIGNMENTS,
        list_app_role_assigned_to,
    ),
    _route(
        "POST",
        "/servicePrincipals/{id}/appRoleAssignedTo",
        (
            _any("AppRoleAssignment.ReadWrite.All"),
            READ_APPLICATIONS[0],
        ),
        assign_app_role,
    ),
)


class NoRoute(Exception):
    """No endpoint matches; `method_allowed` says whether the path exists for another method."""

    def __init__(self, path: str, method_allowed: bool) -> None:
        super().__init__(path)
        self.path = path
        self.method_allowed = method_allowed


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for this method and path (without `/v1.0`) and its path parameters."""
    path_exists = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict()
        path_exists = True
    raise NoRoute(path, path_exists)
