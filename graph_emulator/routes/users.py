"""`/users`: listing and looking up, enabling and disabling, deleting and restoring, sponsors,
and a user's app role assignments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse, Permissions, reference_id, route
from graph_emulator.errors import bad_request, forbidden
from graph_emulator.model import User
from graph_emulator.odata_filter import (
    UnsupportedFilterError,
    compile_filter,
    index_keys,
    needs_advanced_query,
)
from graph_emulator.query import (
    METADATA,
    context_url,
    is_advanced,
    next_link,
    parse_filter_option,
    parse_top,
    start_position,
    unsupported_property,
    unsupported_query,
    wants_count,
)
from graph_emulator.routes.permissions import (
    DELETE_RESTORE_USERS,
    ENABLE_DISABLE_USERS,
    READ_SPONSORS,
    READ_USER_ASSIGNMENTS,
    READ_USERS,
    REVOKE_SESSIONS,
    UPDATE_LIFECYCLE,
    UPDATE_PROFILE,
    UPDATE_USERS,
    WRITE_SPONSORS,
)
from graph_emulator.routes.service_principals import assignment_page
from graph_emulator.serializers import (
    USER_PROPERTIES,
    directory_objects_json,
    parse_select,
    user_json,
)
from graph_emulator.tenant import Tenant

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
_FILTER_NAMES = {name.lower(): name for name in USER_FILTERABLE}


def _resolver(name: str) -> Callable[[object], object]:
    getter = USER_PROPERTIES[_FILTER_NAMES[name.lower()]]
    return lambda entity: getter(entity)  # type: ignore[arg-type]


def _index_key(name: str, value: str) -> str | None:
    canonical = _FILTER_NAMES.get(name.lower())
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
        predicate = compile_filter(node, _resolver, USER_COLLECTIONS)
    except UnsupportedFilterError as exc:
        raise unsupported_property(exc.property_name, "User") from None
    return predicate, index_keys(node, _index_key)


def _candidates(tenant: Tenant, keys: set[str] | None, start: int) -> Iterator[User]:
    """Visible users from position ``start``, from the address index when keys narrow it."""
    if keys is None:
        order = tenant.user_order
        found: Iterator[User | None] = (order[p] for p in range(start, len(order)))
    else:
        by_id = {id(u): u for key in keys for u in tenant.address_index.get(key, ())}
        found = (u for u in sorted(by_id.values(), key=lambda u: u.seq) if u.seq >= start)
    for user in found:
        if user is not None and tenant.visible(user):
            yield user


def list_users(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /users with `$filter`, `$select`, `$top`, `$count` and skip-token paging."""
    top = parse_top(request)
    select = parse_select(request, "user")
    count = wants_count(request)
    predicate, keys = user_predicate(request)
    page: list[dict[str, Any]] = []
    following: int | None = None
    for user in _candidates(tenant, keys, start_position(request)):
        if predicate is not None and not predicate(user):
            continue
        if len(page) == top:
            following = user.seq
            break
        page.append(user_json(user, select))
    body: dict[str, Any] = {"@odata.context": context_url("users", select)}
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
    user = tenant.look_up_user(params["id"])
    body = {"@odata.context": context_url("users", select, entity=True), **user_json(user, select)}
    return GraphResponse(200, body)


#: Properties the emulator keeps in its address index: updating them is not modelled (the
#: emulator's own refusal, not Graph's).
NOT_MODELLED_UPDATES = frozenset(
    {"mail", "userPrincipalName", "otherMails", "identities", "passwordProfile"}
)


def update_permissions(names: set[str]) -> list[Permissions]:
    """What a PATCH of these properties needs, one requirement per kind of property (Graph's
    "Update user" page: ``accountEnabled`` alone takes User.EnableDisableAccount.All with
    User.Read.All; ``employeeLeaveDateTime`` User-LifeCycleInfo.ReadWrite.All with User.Read.All
    (the "Set employeeLeaveDateTime" page); any other property User.ReadWrite.All)."""
    needed: list[Permissions] = []
    if "accountEnabled" in names:
        needed.append(ENABLE_DISABLE_USERS)
    if "employeeLeaveDateTime" in names:
        needed.append(UPDATE_LIFECYCLE)
    if names - {"accountEnabled", "employeeLeaveDateTime"}:
        needed.append(UPDATE_PROFILE)
    return needed


def update_user(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """PATCH /users/{id}: `accountEnabled`, `displayName`, `userType` and any other writable
    property of the schema (kept and returned by GET); 204. The body was checked against
    Graph's schema before (schema_checks), so names and types are Graph's."""
    user = tenant.get_user(params["id"])
    body = request.json_object()
    names = {key for key in body if "@" not in key}
    for needed in update_permissions(names):
        if not any(alternative <= request.granted for alternative in needed):
            raise forbidden()
    not_modelled = names & NOT_MODELLED_UPDATES
    if not_modelled:
        raise bad_request(
            f"The emulator does not model updating {sorted(not_modelled)} (the address index)."
        )
    enabled: bool | None = None
    others: dict[str, Any] = {}
    for name in names:
        value = body[name]
        if name == "accountEnabled":
            enabled = bool(value)
        elif name == "displayName":
            user.display_name = value
        elif name == "userType":
            user.user_type = value
        else:
            others[name] = value
    # One change for the tenant: dynamic groups re-evaluate the user after their delay.
    tenant.update_user(user, account_enabled=enabled, profile=others)
    return GraphResponse(204)


def delete_user(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """DELETE /users/{id}: 204; the user goes to deleted items (restorable)."""
    tenant.delete_user(tenant.get_user(params["id"]))
    return GraphResponse(204)


def restore_deleted_item(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """POST /directory/deletedItems/{id}/restore (users only): 200 with the user."""
    user = tenant.restore_user(params["id"])
    body = {
        "@odata.context": f"{METADATA}#directoryObjects/$entity",
        "@odata.type": "#microsoft.graph.user",
        **user_json(user, None),
    }
    return GraphResponse(200, body)


def revoke_sign_in_sessions(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """POST /users/{id}/revokeSignInSessions: every refresh token and session cookie issued
    before now stops working (``signInSessionsValidFromDateTime`` becomes now); 200 with
    ``{"value": true}`` (the action returns Edm.Boolean)."""
    user = tenant.get_user(params["id"])
    tenant.revoke_sessions(user)
    body = {"@odata.context": f"{METADATA}#Edm.Boolean", "value": True}
    return GraphResponse(200, body)


def list_sponsors(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /users/{id}/sponsors: the users and groups sponsoring the user."""
    user = tenant.look_up_user(params["id"])
    select = parse_select(request, "directoryObject")
    body = {
        "@odata.context": f"{METADATA}#directoryObjects",
        "value": directory_objects_json(tenant, user.sponsors, select),
    }
    return GraphResponse(200, body)


def add_sponsor(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """POST /users/{id}/sponsors/$ref with a Graph `@odata.id`; 204."""
    user = tenant.get_user(params["id"])
    tenant.add_sponsor(user, reference_id(request.json_object().get("@odata.id")))
    return GraphResponse(204)


def list_user_assignments(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /users/{id}/appRoleAssignments, `$filter=resourceId eq {guid}` supported."""
    user = tenant.get_user(params["id"])
    assignments = tenant.assignments_by_principal.get(user.id, [])
    return assignment_page(assignments, request, f"users('{user.id}')/appRoleAssignments")


ROUTES = (
    route("GET", "/users", READ_USERS, list_users, cost=2),
    route("GET", "/users/{id}", READ_USERS, get_user),
    route("PATCH", "/users/{id}", UPDATE_USERS, update_user),
    route("DELETE", "/users/{id}", DELETE_RESTORE_USERS, delete_user),
    route("POST", "/users/{id}/revokeSignInSessions", REVOKE_SESSIONS, revoke_sign_in_sessions),
    route("GET", "/users/{id}/sponsors", READ_SPONSORS, list_sponsors),
    route("POST", "/users/{id}/sponsors/$ref", WRITE_SPONSORS, add_sponsor),
    route("GET", "/users/{id}/appRoleAssignments", READ_USER_ASSIGNMENTS, list_user_assignments),
    route(
        "POST",
        "/directory/deletedItems/{id}/restore",
        DELETE_RESTORE_USERS,
        restore_deleted_item,
    ),
)
