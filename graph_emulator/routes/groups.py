"""`/groups/{id}`, its members, and adding one with `members/$ref`."""

from __future__ import annotations

from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse, reference_id, route
from graph_emulator.dynamic_groups import refuse_member_changes
from graph_emulator.errors import forbidden
from graph_emulator.query import METADATA, context_url, next_link, parse_top, start_position
from graph_emulator.routes.permissions import READ_GROUP, READ_MEMBERS, WRITE_MEMBERS
from graph_emulator.serializers import (
    GROUP,
    directory_objects_json,
    group_json,
    parse_select,
    projected,
)
from graph_emulator.tenant import Tenant


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
    route("GET", "/groups/{id}", READ_GROUP, get_group),
    route("GET", "/groups/{id}/members", READ_MEMBERS, list_group_members, cost=3),
    route("POST", "/groups/{id}/members/$ref", WRITE_MEMBERS, add_group_member),
    route("DELETE", "/groups/{id}/members/{id}/$ref", WRITE_MEMBERS, remove_group_member),
)
