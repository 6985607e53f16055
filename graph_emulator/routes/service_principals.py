"""`/servicePrincipals/{id}` and its app role assignments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse, route
from graph_emulator.errors import bad_request
from graph_emulator.model import AppRoleAssignment
from graph_emulator.odata_filter import UnsupportedFilterError, compile_filter
from graph_emulator.query import (
    METADATA,
    context_url,
    next_link,
    parse_filter_option,
    parse_top,
    start_position,
    unsupported_property,
)
from graph_emulator.routes.permissions import (
    ASSIGN_APP_ROLES,
    READ_APPLICATIONS,
    READ_ASSIGNED_TO,
    REMOVE_APP_ROLE_ASSIGNMENTS,
)
from graph_emulator.serializers import (
    SERVICE_PRINCIPAL,
    assignment_json,
    parse_select,
    projected,
    service_principal_json,
)
from graph_emulator.tenant import Tenant

ASSIGNMENT_FILTERABLE: dict[str, Callable[[AppRoleAssignment], Any]] = {
    "resourceId": lambda a: a.resource_id,
    "principalId": lambda a: a.principal_id,
    "appRoleId": lambda a: a.app_role_id,
    "principalType": lambda a: a.principal_type,
}
_ASSIGNMENT_NAMES = {name.lower(): name for name in ASSIGNMENT_FILTERABLE}


def assignment_page(
    assignments: list[AppRoleAssignment], request: GraphRequest, context: str
) -> GraphResponse:
    """One page of app role assignments, `$filter` on their ids and type supported."""
    node = parse_filter_option(request)
    top = parse_top(request)
    if node is not None:

        def resolve(name: str) -> Callable[[object], object]:
            getter = ASSIGNMENT_FILTERABLE[_ASSIGNMENT_NAMES[name.lower()]]
            return lambda entity: getter(entity)  # type: ignore[arg-type]

        try:
            predicate = compile_filter(node, resolve, frozenset())
        except UnsupportedFilterError as exc:
            raise unsupported_property(exc.property_name, "AppRoleAssignment") from None
        assignments = [a for a in assignments if predicate(a)]
    start = start_position(request)
    body: dict[str, Any] = {"@odata.context": f"{METADATA}#{context}"}
    if len(assignments) > start + top:
        body["@odata.nextLink"] = next_link(request, start + top)
    body["value"] = [assignment_json(a) for a in assignments[start : start + top]]
    return GraphResponse(200, body)


def get_service_principal(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals/{id}."""
    sp = tenant.get_service_principal(params["id"])
    select = parse_select(request, "servicePrincipal")
    body = {
        "@odata.context": context_url("servicePrincipals", select, entity=True),
        **projected(service_principal_json(sp), SERVICE_PRINCIPAL, select),
    }
    return GraphResponse(200, body)


def get_service_principal_by_app_id(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals(appId='{appId}') (Graph's alternate key)."""
    sp = tenant.get_service_principal_by_app_id(params["id"])
    body = {"@odata.context": f"{METADATA}#servicePrincipals/$entity", **service_principal_json(sp)}
    return GraphResponse(200, body)


def list_app_role_assignments(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals/{id}/appRoleAssignments: the roles granted *to* this principal."""
    sp = tenant.get_service_principal(params["id"])
    assignments = tenant.assignments_by_principal.get(sp.id, [])
    return assignment_page(assignments, request, f"servicePrincipals('{sp.id}')/appRoleAssignments")


def list_app_role_assigned_to(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """GET /servicePrincipals/{id}/appRoleAssignedTo."""
    sp = tenant.get_service_principal(params["id"])
    return assignment_page(
        sp.assignments, request, f"servicePrincipals('{sp.id}')/appRoleAssignedTo"
    )


def assign_app_role(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """POST /servicePrincipals/{id}/appRoleAssignedTo; 201 with the assignment."""
    sp = tenant.get_service_principal(params["id"])
    body = request.json_object()
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


def remove_app_role_assignment(
    tenant: Tenant, request: GraphRequest, params: dict[str, str]
) -> GraphResponse:
    """DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}; 204, or 404 for an assignment the
    service principal does not have."""
    sp = tenant.get_service_principal(params["id"])
    tenant.remove_app_role_assignment(sp, params["id2"])
    return GraphResponse(204)


ROUTES = (
    route("GET", "/servicePrincipals/{id}", READ_APPLICATIONS, get_service_principal),
    route(
        "GET",
        "/servicePrincipals(appId='{id}')",
        READ_APPLICATIONS,
        get_service_principal_by_app_id,
    ),
    route(
        "GET",
        "/servicePrincipals/{id}/appRoleAssignments",
        READ_APPLICATIONS,
        list_app_role_assignments,
    ),
    route(
        "GET",
        "/servicePrincipals/{id}/appRoleAssignedTo",
        READ_ASSIGNED_TO,
        list_app_role_assigned_to,
    ),
    route("POST", "/servicePrincipals/{id}/appRoleAssignedTo", ASSIGN_APP_ROLES, assign_app_role),
    route(
        "DELETE",
        "/servicePrincipals/{id}/appRoleAssignedTo/{id}",
        REMOVE_APP_ROLE_ASSIGNMENTS,
        remove_app_role_assignment,
    ),
)
