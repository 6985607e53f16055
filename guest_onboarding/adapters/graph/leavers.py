"""``LeaverCalls``: the Graph calls of offboarding and of a mover's message (remove a group
membership or an app role assignment this app made, revoke sessions, the leave date), a part of
:class:`~guest_onboarding.adapters.graph.directory.GraphDirectory` kept in a module of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from guest_onboarding.adapters.graph.payloads import (
    assignment_of,
    guid,
    leave_date_time,
    query_of,
)
from guest_onboarding.adapters.graph.responses import json_object, raise_for_status

if TYPE_CHECKING:
    import httpx


class LeaverCalls:
    """Needs the ``GraphDirectory`` attributes it reads (set by its ``__init__``)."""

    _client: Any  # msgraph-sdk's GraphServiceClient (``GraphClient.sdk``)
    _config: Callable[..., Any]
    _json_post: Callable[..., Any]
    _send: Callable[..., Awaitable[httpx.Response]]

    async def remove_group_member(self, *, group_id: str, user_id: str) -> None:
        """``DELETE /groups/{id}/members/{id}/$ref``; ``NotFound`` when not a member (or gone)."""
        members = self._client.groups.by_group_id(group_id).members
        member = members.by_directory_object_id(guid("userId", user_id))
        response = await self._send(member.ref.to_delete_request_information(self._config()))
        raise_for_status(response)

    async def find_app_role_assignment(
        self, *, user_id: str, resource_id: str, app_role_id: str
    ) -> str | None:
        """``GET /users/{id}/appRoleAssignments?$filter=resourceId eq {id}``: the id of the
        user's assignment of that app role, if any (a grant whose id the ledger lacks)."""
        assignments = self._client.users.by_user_id(user_id).app_role_assignments
        query = query_of(assignments, filter=f"resourceId eq {guid('resourceId', resource_id)}")
        response = await self._send(assignments.to_get_request_information(self._config(query)))
        raise_for_status(response)
        return assignment_of(json_object(response).get("value"), app_role_id)

    async def remove_app_role_assignment(self, *, resource_id: str, assignment_id: str) -> None:
        """``DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}``; ``NotFound`` when gone."""
        principal = self._client.service_principals.by_service_principal_id(resource_id)
        item = principal.app_role_assigned_to.by_app_role_assignment_id(assignment_id)
        response = await self._send(item.to_delete_request_information(self._config()))
        raise_for_status(response)

    async def revoke_sessions(self, user_id: str) -> None:
        """``POST /users/{id}/revokeSignInSessions``: the user's refresh tokens and session
        cookies stop working (``NotFound`` when the user is gone)."""
        revoke = self._client.users.by_user_id(user_id).revoke_sign_in_sessions
        response = await self._send(revoke.to_post_request_information(self._config()))
        raise_for_status(response)

    async def set_leave_date(self, user_id: str, day: date | None) -> None:
        """PATCH ``employeeLeaveDateTime`` to the start of ``day`` (UTC), or null."""
        item = self._client.users.by_user_id(user_id)
        body = {"employeeLeaveDateTime": leave_date_time(day)}
        raise_for_status(await self._send(self._json_post(item, body, patch=True)))
