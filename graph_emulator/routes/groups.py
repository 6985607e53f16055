"""`/groups` (listed, `$filter` on `groupTypes` and the group's own properties), `/groups/{id}`,
its members, and adding one with `members/$ref`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse, reference_id, route
from graph_emulator.dynamic_groups import refuse_member_changes
from graph_emulator.errors import forbidden
from graph_emulator.model import Group
from graph_emulator.odata_filter import UnsupportedFilterError, compile_filter, needs_advanced_query
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
)
from graph_emulator.routes.permissions import (
    LIST_GROUPS,
    READ_GROUP,
    READ_MEMBERS,
    WRITE_MEMBERS,
)
from graph_emulator.serializers import (
    GROUP,
    directory_objects_json,
    group_json,
    parse_select,
    projected,
)
from graph_emulator.tenant import Tenant

#: What `$filter` on groups can read here: Graph's "List groups" page lists `groupTypes/any`
#: (``$filter=groupTypes/any(c:c+eq+'Unified')``, no advanced-query headers) among its examples.
_GROUP_FILTERABLE: dict[str, Callable[[Group], object]] = {
    "id": lambda g: g.id,
    "displayName": lambda g: g.display_name,
    "groupTypes": lambda g: g.group_types,
    "isAssignableToRole": lambda g: g.is_assignable_to_role,
    "securityEnabled": lambda g: g.security_enabled,
    "mailEnabled": lambda g: g.mail_enabled,
    "membershipRuleProcessingState": lambda g: g.membership_rule_processing_state,
}
_GROUP_FILTER_NAMES = {name.lower(): name for name in _GROUP_FILTERABLE}
_GROUP_COLLECTIONS = frozenset({"groupTypes"})


def _group_getter(name: str) -> Callable[[object], object]:
    getter = _GROUP_FILTERABLE[_GROUP_FILTER_NAMES[name.lower()]]
    return lambda entity: getter(entity)  # type: ignore[arg-type]


def _group_predicate(request: GraphRequest) -> Callable[[object], bool] | None:
    node = parse_filter_option(request)
    if node is None:
        return None
    if needs_advanced_query(node) and not (is_advanced(request) and request.param("count")):
        raise unsupported_query(
            "Unsupported or invalid query filter clause specified for property."
        )
    try:
        return compile_filter(node, _group_getter, _GROUP_COLLECTIONS)
    except UnsupportedFilterError as exc:
        raise unsupported_property(exc.property_name, "Group") from None


def list_groups(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /groups with `$filter` (`groupTypes/any(c:c eq 'DynamicMembership')` finds the
    dynamic groups), `$select`, `$top` and skip-token paging, in creation order."""
    top = parse_top(request)
    select = parse_select(request, "group")
    predicate = _group_predicate(request)
    groups = list(tenant.groups.values())
    start = start_position(request)
    page: list[dict[str, Any]] = []
    following: int | None = None
    for position in range(start, len(groups)):
        group = groups[position]
        if predicate is not None and not predicate(group):
            continue
        if len(page) == top:
            following = position
            break
        page.append(projected(group_json(group), GROUP, select))
    body: dict[str, Any] = {"@odata.context": context_url("groups", select)}
    if following is not None:
        body["@odata.nextLink"] = next_link(request, following)
    body["value"] = page
    return GraphResponse(200, body)


def get_group(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """GET /groups/{id}."""
    group = tenant.get_group(params["id"])
    select = parse_select(request, "group")
    body = {
        "@odata.context": context_url("groups", select, entity=True),
        **projected(group_json(group), GROUP, select),
    }
    return GraphResponse(200, body)


def list_group_members(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /groups/{id}/members, paged, `$select` applied to users."""
    group = tenant.get_group(params["id"])
    top = parse_top(request)
    select = parse_select(request, "directoryObject")
    start = start_position(request)
    member_ids = list(group.members)
    body: dict[str, Any] = {"@odata.context": f"{METADATA}#directoryObjects"}
    if len(member_ids) > start + top:
        body["@odata.nextLink"] = next_link(request, start + top)
    body["value"] = directory_objects_json(tenant, member_ids[start : start + top], select)
    return GraphResponse(200, body)


def add_group_member(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """POST /groups/{id}/members/$ref with a Graph `@odata.id`; 204."""
    group = tenant.get_group(params["id"])
    refuse_member_changes(group)
    # Role-assignable groups need RoleManagement.ReadWrite.Directory on top of member rights.
    if group.is_assignable_to_role and "RoleManagement.ReadWrite.Directory" not in request.granted:
        raise forbidden()
    member_id = reference_id(request.json_object().get("@odata.id"))
    tenant.add_member(group, member_id, request.replication_lag_status)
    return GraphResponse(204)


def remove_group_member(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """DELETE /groups/{id}/members/{id}/$ref; 204, or 404 when the object is not a member."""
    group = tenant.get_group(params["id"])
    refuse_member_changes(group)
    if group.is_assignable_to_role and "RoleManagement.ReadWrite.Directory" not in request.granted:
        raise forbidden()
    tenant.remove_member(group, params["id2"])
    return GraphResponse(204)


ROUTES = (
    route("GET", "/groups", LIST_GROUPS, list_groups, cost=2),
    route("GET", "/groups/{id}", READ_GROUP, get_group),
    route("GET", "/groups/{id}/members", READ_MEMBERS, list_group_members, cost=3),
    route("POST", "/groups/{id}/members/$ref", WRITE_MEMBERS, add_group_member),
    route("DELETE", "/groups/{id}/members/{id}/$ref", WRITE_MEMBERS, remove_group_member),
)
