"""``GraphDirectory``: the ``Directory`` port on Microsoft Graph, through the real msgraph-sdk
(see the package docstring for how and why)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from guest_onboarding.adapters.graph.client import GraphClient
from guest_onboarding.adapters.graph.leavers import LeaverCalls
from guest_onboarding.adapters.graph.payloads import (
    GRAPH_DIRECTORY_OBJECTS,
    GRAPH_USERS,
    GROUP_FIELDS,
    PENDING_FIELDS,
    SPONSOR_FIELDS,
    USER_FIELDS,
    created_id,
    directory_group,
    directory_user,
    guid,
    invitation_body,
    select_id,
)
from guest_onboarding.adapters.graph.pipeline import no_retry
from guest_onboarding.adapters.graph.responses import (
    graph_error,
    is_missing_reference,
    json_object,
    raise_for_status,
    request_id,
)
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import (
    NotFound,
    NotYetReplicated,
    ServiceUnavailable,
    Throttled,
)
from guest_onboarding.ports import DirectoryGroup, DirectoryUser, InvitationResult

if TYPE_CHECKING:
    import httpx

#: The sweep's listing waits out throttling this many times, each wait capped at 60 s.
LISTING_THROTTLE_ATTEMPTS = 5
MAX_LISTING_THROTTLE_WAIT_SECONDS = 60.0
_PAGE_SIZE = 999


class GraphDirectory(LeaverCalls):
    """The ``Directory`` port on Microsoft Graph, on a :class:`GraphClient` (the calls that
    remove access and end an account's sessions in :class:`LeaverCalls`)."""

    def __init__(self, graph: GraphClient) -> None:
        self._graph = graph
        self._client = graph.sdk
        self._config = graph.config
        self._json_post = graph.json_post
        self._send = graph.send

    async def aclose(self) -> None:
        """Close the HTTP connections and the credential (end of process or of a test)."""
        await self._graph.aclose()

    # -- reads -------------------------------------------------------------------------------

    async def find_users(self, email: str) -> tuple[DirectoryUser, ...]:
        """The users whose mail, UPN, other mails or proxy addresses hold ``email``: at most two
        (``$top=2``), enough to tell one from several."""
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        a = email.replace("'", "''")
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=(
                f"mail eq '{a}' or userPrincipalName eq '{a}' or otherMails/any(x:x eq '{a}')"
                f" or proxyAddresses/any(x:x eq 'smtp:{a}')"
            ),
            select=list(USER_FIELDS),
            top=2,
        )
        users = self._client.users
        response = await self._send(users.to_get_request_information(self._config(query)))
        raise_for_status(response)
        values = json_object(response).get("value") or []
        return tuple(directory_user(value) for value in values[:2])

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        """The user with state properties, or None when it no longer exists."""
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=list(USER_FIELDS)
        )
        item = self._client.users.by_user_id(user_id)
        response = await self._send(item.to_get_request_information(self._config(query)))
        if response.status_code == 404:
            return None
        raise_for_status(response)
        return directory_user(json_object(response))

    async def get_group(self, group_id: str) -> DirectoryGroup | None:
        """``GET /groups/{id}`` (``groupTypes``, ``membershipRule``), or None for no such group.
        Needs a group read permission (GroupMember.Read.All): ``Refused`` without one."""
        from msgraph.generated.groups.item.group_item_request_builder import (
            GroupItemRequestBuilder,
        )

        query = GroupItemRequestBuilder.GroupItemRequestBuilderGetQueryParameters(
            select=list(GROUP_FIELDS)
        )
        item = self._client.groups.by_group_id(guid("groupId", group_id))
        response = await self._send(item.to_get_request_information(self._config(query)))
        if response.status_code == 404:
            return None
        raise_for_status(response)
        return directory_group(json_object(response))

    async def pending_guests(self) -> AsyncIterator[DirectoryUser]:
        """Every guest in PendingAcceptance, streamed one page (up to 999) at a time.

        Pages are read as JSON and turned straight into ``DirectoryUser``s; only the current
        page is held. ``@odata.nextLink`` is followed through the SDK's request builder.
        """
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="externalUserState eq 'PendingAcceptance'",
            select=list(PENDING_FIELDS),
            top=_PAGE_SIZE,
        )
        users = self._client.users
        response = await self._page(users.to_get_request_information(self._config(query)))
        previous_link: str | None = None
        while True:
            page = json_object(response)
            next_link = page.get("@odata.nextLink")
            for raw in page.get("value") or ():
                yield directory_user(raw)
            if not next_link:
                return
            if next_link == previous_link:
                # A server handing back the same page link forever would loop this sweep forever.
                raise ServiceUnavailable(
                    "Graph returned the same @odata.nextLink twice", code="PagingLoop"
                )
            previous_link = next_link
            del page  # only one page in memory at a time
            page_builder = users.with_url(next_link)
            response = await self._page(page_builder.to_get_request_information(self._config()))

    async def _page(self, request: Any) -> httpx.Response:
        """One page of a listing. The sweep runs on a timer, not a queue, so throttling is
        waited out here (a few times, as long as Retry-After says) instead of failing the run."""
        for attempt in range(LISTING_THROTTLE_ATTEMPTS):
            try:
                response = await self._send(request)
                raise_for_status(response)
                return response
            except Throttled as exc:
                if attempt + 1 == LISTING_THROTTLE_ATTEMPTS:
                    raise
                await asyncio.sleep(min(exc.retry_after, MAX_LISTING_THROTTLE_WAIT_SECONDS))
        raise AssertionError("unreachable")

    # -- writes ------------------------------------------------------------------------------

    async def invite(self, email: str, invitation: Invitation) -> InvitationResult:
        """POST /invitations (also the way to re-send an invitation)."""
        body = invitation_body(email, invitation)
        post = self._json_post(self._client.invitations, body)
        # Never retried in process: a 5xx may come after Graph sent the email, and a blind retry
        # would send another. The queue redelivers instead, and the handler looks the address
        # up first (the ledger claim says an invitation may have gone out).
        post.add_request_options([no_retry()])
        # The address names its place in the invitation line: a re-queued copy finds it again.
        response = await self._send(post, turn=email)
        raise_for_status(response)
        data = json_object(response)
        invited = data.get("invitedUser") or {}
        user_id = invited.get("id") if isinstance(invited, dict) else None
        if not user_id:
            raise ServiceUnavailable(
                "Graph accepted the invitation but returned no invitedUser.id",
                code="UnreadableResponse",
                status=response.status_code,
                request_id=request_id(response, None),
            )
        return InvitationResult(user_id=str(user_id))

    async def add_group_member(self, *, group_id: str, user_id: str) -> None:
        """Add the user to the group; ``AlreadyDone`` if it is a member already,
        ``NotYetReplicated`` if the group exists but cannot see the user yet."""
        group = self._client.groups.by_group_id(group_id)
        body = {"@odata.id": GRAPH_DIRECTORY_OBJECTS + user_id}
        response = await self._send(self._json_post(group.members.ref, body))
        if is_missing_reference(response):
            # GET /groups/{id}/members, not GET /groups/{id}: Microsoft's permissions table and
            # the "Get group" page allow the latter only with a group read permission, and the
            # app holds GroupMember.ReadWrite.All, which the table lists for the members list.
            members = group.members
            probe = members.to_get_request_information(self._config(select_id(members, top=1)))
            await self._raise_missing_reference(response, probe=probe)
        raise_for_status(response)

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> str:
        """Assign the app role: the assignment's id (what ``DELETE`` needs to undo it);
        ``AlreadyDone`` if the assignment exists, ``NotYetReplicated`` if the service principal
        exists but cannot see the user yet."""
        body = {
            "principalId": guid("principalId", user_id),
            "resourceId": guid("resourceId", resource_id),
            "appRoleId": guid("appRoleId", app_role_id),
        }
        principal = self._client.service_principals.by_service_principal_id(resource_id)
        response = await self._send(self._json_post(principal.app_role_assigned_to, body))
        if is_missing_reference(response):
            probe = principal.to_get_request_information(self._config(select_id(principal)))
            await self._raise_missing_reference(response, probe=probe)
        raise_for_status(response)
        return created_id(json_object(response))

    async def resolve_user(self, reference: str) -> DirectoryUser | None:
        """The user an object id or user principal name names (a sponsor), or None."""
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=list(SPONSOR_FIELDS)
        )
        item = self._client.users.by_user_id(reference)
        response = await self._send(item.to_get_request_information(self._config(query)))
        if response.status_code in (400, 404):  # an id or UPN no user has (or could have)
            return None
        raise_for_status(response)
        return directory_user(json_object(response))

    async def set_account_enabled(self, user_id: str, *, enabled: bool) -> None:
        """PATCH ``accountEnabled`` (NotFound when the user is gone)."""
        item = self._client.users.by_user_id(user_id)
        body = {"accountEnabled": enabled}
        raise_for_status(await self._send(self._json_post(item, body, patch=True)))

    async def update_profile(self, *, user_id: str, values: Mapping[str, str | None]) -> None:
        """PATCH the profile attributes (Graph names; null clears one). A 404 is a user the
        ledger recorded that Graph cannot see: right after the invitation, one that has not
        replicated yet (``NotYetReplicated``, retried; a user really gone fails every retry)."""
        item = self._client.users.by_user_id(guid("userId", user_id))
        response = await self._send(self._json_post(item, dict(values), patch=True))
        if response.status_code == 404:
            code, message, request_id = graph_error(response)
            raise NotYetReplicated(message, code=code, status=404, request_id=request_id)
        raise_for_status(response)

    async def add_sponsor(self, *, user_id: str, sponsor_id: str) -> None:
        """POST ``/users/{id}/sponsors/$ref``; ``AlreadyDone`` if it is a sponsor already."""
        sponsors = self._client.users.by_user_id(user_id).sponsors
        body = {"@odata.id": GRAPH_USERS + guid("sponsorId", sponsor_id)}
        raise_for_status(await self._send(self._json_post(sponsors.ref, body)))

    async def delete_user(self, user_id: str) -> None:
        """Delete the user (``NotFound`` when already gone)."""
        item = self._client.users.by_user_id(user_id)
        response = await self._send(item.to_delete_request_information(self._config()))
        raise_for_status(response)

    # -- plumbing ----------------------------------------------------------------------------

    async def _raise_missing_reference(self, response: httpx.Response, *, probe: Any) -> NoReturn:
        """One probe, on the error path only: does the group / service principal exist?

        If it does, the missing object is the (new) user, which has not replicated yet: retry.
        If it does not, the request can never succeed: NotFound.
        """
        code, message, request_id = graph_error(response)
        details: dict[str, Any] = {
            "code": code,
            "status": response.status_code,
            "request_id": request_id,
        }
        target = await self._send(probe)
        if target.is_success:
            raise NotYetReplicated(message, **details)
        if target.status_code == 404:
            raise NotFound(message, **details)
        raise_for_status(target)  # the probe itself failed (throttled, 5xx, refused)
        raise NotYetReplicated(message, **details)  # unreachable: the probe was not a success
