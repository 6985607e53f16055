"""Microsoft Graph behind the ``Directory`` port, through the real msgraph-sdk.

Requests are built from the SDK's request builders (URL templates, query parameters) and sent
through its request adapter: auth provider, then the Graph middleware pipeline (retry, redirect,
user agent, telemetry). Responses come back as the raw ``httpx.Response`` (kiota's
``NativeResponseHandler``) and only the fields the handlers read are taken from the JSON. The
SDK's typed models are not used at all: reading one costs milliseconds of CPU per object
(``Entity.get_field_deserializers`` builds a map of thousands of subtypes every time), and even
writing one costs more than the write-cost budget (1.5x a plain httpx call) leaves, so the few
request bodies are written as JSON (their shapes are pinned by tests). ``bench/graph_cost.py``
measures this.

Because the native handler bypasses the SDK's ``ODataError`` path, this module maps every status,
Graph error body and transport failure into ``guest_onboarding.errors`` itself.

msgraph, kiota and azure.identity are imported only inside :meth:`GraphDirectory.create` and the
call paths: importing the SDK pulls hundreds of modules, and this module must stay cheap to import
(the composition root creates one ``GraphDirectory`` per process and reuses it).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, cast
from urllib.parse import urlsplit
from uuid import UUID

from guest_onboarding.errors import (
    AlreadyDone,
    DirectoryError,
    InvalidRequest,
    NotFound,
    NotYetReplicated,
    Refused,
    ServiceUnavailable,
    Throttled,
)
from guest_onboarding.ports import DirectoryUser, InvitationRequest, InvitationResult

if TYPE_CHECKING:
    import httpx

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
#: ``@odata.id`` in a ``$ref`` body must name Graph itself, whatever base URL the client uses.
GRAPH_DIRECTORY_OBJECTS = "https://graph.microsoft.com/v1.0/directoryObjects/"

#: Used when a 429 carries no (readable) ``Retry-After``.
DEFAULT_RETRY_AFTER_SECONDS = 5.0
#: Statuses retried inside the process (quickly); everything longer is the queue's job.
IN_PROCESS_RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: A 5xx asking for a longer wait than this is not retried in process.
MAX_IN_PROCESS_WAIT_SECONDS = 2.0
#: The sweep's listing waits out throttling this many times, each wait capped at 60 s.
LISTING_THROTTLE_ATTEMPTS = 5
MAX_LISTING_THROTTLE_WAIT_SECONDS = 60.0

_USER_FIELDS = (
    "id",
    "mail",
    "userType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
)
_PENDING_FIELDS = (
    "id",
    "mail",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
)
_PAGE_SIZE = 999
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# Graph's wording for "what you asked is already true" (member already added, role assigned).
_ALREADY_DONE_MARKERS = (
    "one or more added object references already exist",
    "permission being assigned already exists",
)
# Graph's 400 wording when a referenced object (often a just-invited user) is not visible yet.
_MISSING_REFERENCE_MARKER = "do not exist"


class GraphDirectory:
    """The ``Directory`` port on Microsoft Graph. Build it with :meth:`create`."""

    def __init__(self, *, client: Any, http_client: httpx.AsyncClient, credential: Any) -> None:
        # Private: `create` builds the SDK objects; tests and the composition root call `create`.
        self._client = client
        self._http_client = http_client
        self._credential = credential
        # Graph throttles per app and tenant, and calling while throttled only prolongs it:
        # after a 429, this process holds every call back until Retry-After has passed.
        self._throttled_until = 0.0
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from kiota_abstractions.method import Method
        from kiota_abstractions.native_response_handler import NativeResponseHandler
        from kiota_abstractions.request_information import RequestInformation
        from kiota_http.middleware.options import ResponseHandlerOption

        self._request_configuration = RequestConfiguration
        self._request_information = RequestInformation
        self._post = Method.POST
        # Stateless, so one instance serves every request.
        self._native = ResponseHandlerOption(NativeResponseHandler())

    @classmethod
    def create(
        cls,
        *,
        base_url: str,
        client_id: str | None = None,
        credential: object | None = None,
        timeout_seconds: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        transient_retries: int = 2,
    ) -> GraphDirectory:
        """Build the SDK client once (the caller caches the result for the process).

        ``base_url`` is the Graph root including the version (``https://graph.microsoft.com/v1.0``
        or a local emulator on ``http://localhost``/``127.0.0.1``). Without ``credential`` it uses
        ``DefaultAzureCredential(managed_identity_client_id=client_id)``. ``http_client`` is the
        injectable HTTP seam (its transport ends the SDK's middleware pipeline).
        ``transient_retries`` bounds the quick in-process retries of 5xx; 429 is never retried
        here but raised as :class:`Throttled` so the queue waits instead of the function.
        Raises ``ValueError`` for a base URL the SDK's auth provider would never send a token to.
        """
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        host = _validated_host(base_url)
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential(managed_identity_client_id=client_id)
        if http_client is None:
            http_client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), http2=True)
        http_client = GraphClientFactory.create_with_custom_middleware(
            _middleware(transient_retries), client=http_client
        )
        auth = AzureIdentityAuthenticationProvider(
            cast(Any, credential), scopes=[GRAPH_SCOPE], allowed_hosts=[host]
        )
        adapter = GraphRequestAdapter(auth, client=http_client)
        # The SDK falls back to https://graph.microsoft.com/v1.0 only when this is empty.
        adapter.base_url = base_url.rstrip("/")
        client = GraphServiceClient(request_adapter=adapter)
        return cls(client=client, http_client=http_client, credential=credential)

    async def aclose(self) -> None:
        """Close the HTTP connections and the credential (end of process or of a test)."""
        await self._http_client.aclose()
        close = getattr(self._credential, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result

    # -- reads -------------------------------------------------------------------------------

    async def find_user(self, email: str) -> DirectoryUser | None:
        """The user whose mail, UPN, other mails or proxy addresses hold ``email``, if any."""
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        a = email.replace("'", "''")
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=(
                f"mail eq '{a}' or userPrincipalName eq '{a}' or otherMails/any(x:x eq '{a}')"
                f" or proxyAddresses/any(x:x eq 'smtp:{a}')"
            ),
            select=list(_USER_FIELDS),
            top=1,
        )
        users = self._client.users
        response = await self._send(users.to_get_request_information(self._config(query)))
        _raise_for_status(response)
        values = _json(response).get("value") or []
        return _directory_user(values[0]) if values else None

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        """The user with state properties, or None when it no longer exists."""
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=list(_USER_FIELDS)
        )
        item = self._client.users.by_user_id(user_id)
        response = await self._send(item.to_get_request_information(self._config(query)))
        if response.status_code == 404:
            return None
        _raise_for_status(response)
        return _directory_user(_json(response))

    async def pending_guests(self) -> AsyncIterator[DirectoryUser]:
        """Every guest in PendingAcceptance, streamed one page (up to 999) at a time.

        Pages are read as JSON and turned straight into ``DirectoryUser``s; only the current
        page is held. ``@odata.nextLink`` is followed through the SDK's request builder.
        """
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="externalUserState eq 'PendingAcceptance'",
            select=list(_PENDING_FIELDS),
            top=_PAGE_SIZE,
        )
        users = self._client.users
        response = await self._page(users.to_get_request_information(self._config(query)))
        previous_link: str | None = None
        while True:
            page = _json(response)
            next_link = page.get("@odata.nextLink")
            for raw in page.get("value") or ():
                yield _directory_user(raw)
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
                _raise_for_status(response)
                return response
            except Throttled as exc:
                if attempt + 1 == LISTING_THROTTLE_ATTEMPTS:
                    raise
                await asyncio.sleep(min(exc.retry_after, MAX_LISTING_THROTTLE_WAIT_SECONDS))
        raise AssertionError("unreachable")

    # -- writes ------------------------------------------------------------------------------

    async def invite(self, request: InvitationRequest) -> InvitationResult:
        """POST /invitations (also the way to re-send an invitation)."""
        body: dict[str, Any] = {
            "invitedUserEmailAddress": request.email,
            "inviteRedirectUrl": request.redirect_url,
            "sendInvitationMessage": request.send_message,
        }
        if request.display_name:
            body["invitedUserDisplayName"] = request.display_name
        message_info = _message_info(request)
        if message_info:
            body["invitedUserMessageInfo"] = message_info
        post = self._json_post(self._client.invitations, body)
        # Never retried in process: a 5xx may come after Graph sent the email, and a blind retry
        # would send another. The queue redelivers instead, and the handler looks the address
        # up first (the ledger claim says an invitation may have gone out).
        post.add_request_options([_no_retry()])
        response = await self._send(post)
        _raise_for_status(response)
        data = _json(response)
        invited = data.get("invitedUser") or {}
        user_id = invited.get("id") if isinstance(invited, dict) else None
        if not user_id:
            raise ServiceUnavailable(
                "Graph accepted the invitation but returned no invitedUser.id",
                code="UnreadableResponse",
                status=response.status_code,
                request_id=_request_id(response, None),
            )
        return InvitationResult(
            user_id=str(user_id), redeem_url=data.get("inviteRedeemUrl"), status=data.get("status")
        )

    async def add_group_member(self, *, group_id: str, user_id: str) -> None:
        """Add the user to the group; ``AlreadyDone`` if it is a member already,
        ``NotYetReplicated`` if the group exists but cannot see the user yet."""
        group = self._client.groups.by_group_id(group_id)
        body = {"@odata.id": GRAPH_DIRECTORY_OBJECTS + user_id}
        response = await self._send(self._json_post(group.members.ref, body))
        if _is_missing_reference(response):
            probe = group.to_get_request_information(self._config(_select_id(group)))
            await self._raise_missing_reference(response, probe=probe)
        _raise_for_status(response)

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> None:
        """Assign the app role; ``AlreadyDone`` if the assignment exists, ``NotYetReplicated``
        if the service principal exists but cannot see the user yet."""
        body = {
            "principalId": _guid("principalId", user_id),
            "resourceId": _guid("resourceId", resource_id),
            "appRoleId": _guid("appRoleId", app_role_id),
        }
        principal = self._client.service_principals.by_service_principal_id(resource_id)
        response = await self._send(self._json_post(principal.app_role_assigned_to, body))
        if _is_missing_reference(response):
            probe = principal.to_get_request_information(self._config(_select_id(principal)))
            await self._raise_missing_reference(response, probe=probe)
        _raise_for_status(response)

    async def delete_user(self, user_id: str) -> None:
        """Delete the user (``NotFound`` when already gone)."""
        item = self._client.users.by_user_id(user_id)
        response = await self._send(item.to_delete_request_information(self._config()))
        _raise_for_status(response)

    # -- plumbing ----------------------------------------------------------------------------

    def _config(self, query: object | None = None) -> Any:
        """A request configuration that hands back the raw ``httpx.Response``."""
        return self._request_configuration(query_parameters=query, options=[self._native])

    def _json_post(self, builder: Any, body: dict[str, Any]) -> Any:
        """A POST to ``builder``'s URL (template and path parameters) with ``body`` as JSON.

        The SDK's ``to_post_request_information`` needs a typed model, and serializing one
        (backing store, serialization writer) costs more CPU than the write-cost budget leaves;
        the body shapes are pinned by tests instead.
        """
        request = self._request_information(
            self._post, builder.url_template, builder.path_parameters
        )
        request.configure(self._config())
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(json.dumps(body).encode(), "application/json")
        return request

    async def _send(self, request: Any) -> httpx.Response:
        """Send a request built by an SDK request builder through the SDK's request adapter
        (auth provider, middleware), translating transport and credential failures."""
        held_back = self._throttled_until - time.monotonic()
        if held_back > 0:
            raise Throttled(
                "held back: Graph throttled this app moments ago",
                retry_after=held_back,
                code="TooManyRequests",
                status=429,
            )
        adapter = self._client.request_adapter
        # Expand the URI template once: the auth provider and the adapter read `request.url`
        # three times per call, and each expansion costs about 0.05 ms of CPU.
        # The request shares its builder's path-parameter dict, which setting `url` clears:
        # give it its own copy first so the builder stays usable (the probe reuses it).
        request.path_parameters = {**request.path_parameters, "baseurl": adapter.base_url}
        request.url = request.url
        try:
            # With the native response handler the adapter returns the httpx.Response as is;
            # the model type and error map are never used.
            response = await adapter.send_async(request, None, None)
        except DirectoryError:
            raise
        except Exception as exc:
            _raise_transport_error(exc)
        if response is None:  # the adapter answers None only when no handler ran
            raise ServiceUnavailable("Graph returned no response", code="NoResponse")
        if response.status_code == 429:
            until = time.monotonic() + _retry_after(response)
            self._throttled_until = max(self._throttled_until, until)
        return response  # type: ignore[no-any-return]

    async def _raise_missing_reference(self, response: httpx.Response, *, probe: Any) -> NoReturn:
        """One probe, on the error path only: does the group / service principal exist?

        If it does, the missing object is the (new) user, which has not replicated yet: retry.
        If it does not, the request can never succeed: NotFound.
        """
        code, message, request_id = _graph_error(response)
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
        _raise_for_status(target)  # the probe itself failed (throttled, 5xx, refused)
        raise NotYetReplicated(message, **details)  # unreachable: the probe was not a success


def _no_retry() -> Any:
    """A per-request option that switches the retry handler off."""
    from kiota_http.middleware.options import RetryHandlerOption

    return RetryHandlerOption(delay=0, max_retries=0, should_retry=False)


def _middleware(transient_retries: int) -> list[Any]:
    """The SDK's default Graph pipeline, minus the handlers these calls never use, with the
    retry handler swapped for a queue-friendly one.

    Dropped (measured: about 0.2 ms of CPU per call together, which decides the write-cost
    target): ``UrlReplaceHandler`` (rewrites only ``/users/me-token-to-replace`` to ``/me``) and
    ``HeadersInspectionHandler`` / ``BodyInspectionHandler`` (debug aids that act only when a
    request carries their option). Kept, in the SDK's order: redirect, retry, parameter-name
    decoding (``%24filter`` -> ``$filter``), user agent, Graph telemetry.
    """
    from kiota_http.middleware import (
        ParametersNameDecodingHandler,
        RedirectHandler,
        RetryHandler,
    )
    from kiota_http.middleware.user_agent_handler import UserAgentHandler
    from msgraph.graph_request_adapter import options as graph_options
    from msgraph_core.middleware import GraphTelemetryHandler
    from msgraph_core.middleware.options import GraphTelemetryHandlerOption

    class QuickRetryHandler(RetryHandler):
        """Retries 5xx a couple of times with sub-second back-off; never 429.

        The SDK default retries 429/503/504 up to 3 times and sleeps whatever Retry-After says
        (up to 180 s). Inside a queue-triggered function a long wait belongs to the queue: the
        handler re-queues the message with the Throttled delay instead.
        """

        def __init__(self) -> None:
            from kiota_http.middleware.options import RetryHandlerOption

            super().__init__(RetryHandlerOption(delay=0, max_retries=transient_retries))
            self.retry_on_status_codes = set(IN_PROCESS_RETRY_STATUSES)

        def get_delay_time(
            self, retry_count: int, response: Any = None, delay: float = 0.0
        ) -> float:
            from kiota_http.middleware.options import RetryHandlerOption

            retry_after = self._get_retry_after(response)
            if retry_after and retry_after > MAX_IN_PROCESS_WAIT_SECONDS:
                return float(RetryHandlerOption.MAX_DELAY)  # the handler then gives up
            if retry_after:
                return float(retry_after)
            backoff: float = min(MAX_IN_PROCESS_WAIT_SECONDS, 0.2 * 2**retry_count)
            return backoff + random.uniform(0, 0.1)

    telemetry = graph_options.get(GraphTelemetryHandlerOption.get_key())
    return [
        RedirectHandler(),
        QuickRetryHandler(),
        ParametersNameDecodingHandler(),
        UserAgentHandler(),
        GraphTelemetryHandler(options=telemetry),
    ]


def _select_id(builder: Any) -> Any:
    """``$select=id`` for the existence probe (GroupItem/ServicePrincipalItem builders)."""
    name = type(builder).__name__
    return getattr(builder, f"{name}GetQueryParameters")(select=["id"])


def _validated_host(base_url: str) -> str:
    """The host the auth provider may send tokens to; https, or http on a loopback name."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in {"https", "http"}:
        raise ValueError(f"GRAPH_BASE_URL must be an absolute URL, got {base_url!r}")
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        # The SDK's auth provider refuses to send a token over http except to loopback names.
        raise ValueError(f"GRAPH_BASE_URL must use https unless it is local, got {base_url!r}")
    return host


def _message_info(request: InvitationRequest) -> dict[str, Any] | None:
    """``invitedUserMessageInfo`` with only the parts that are set (None when none is)."""
    info: dict[str, Any] = {}
    if request.message_body:
        info["customizedMessageBody"] = request.message_body
    if request.message_language:
        info["messageLanguage"] = request.message_language
    if request.cc_recipient:
        info["ccRecipients"] = [{"emailAddress": {"address": request.cc_recipient}}]
    return info or None


def _guid(field: str, value: str) -> str:
    """``value`` as a canonical GUID string; Graph would refuse anything else with a 400."""
    try:
        return str(UUID(value))
    except ValueError:
        raise InvalidRequest(f"{field} must be a GUID, got {value!r}", code="InvalidGuid") from None


def _directory_user(raw: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(
        id=raw["id"],
        mail=raw.get("mail"),
        user_type=raw.get("userType"),
        external_user_state=raw.get("externalUserState"),
        state_changed_at=_datetime(raw.get("externalUserStateChangeDateTime")),
        created_at=_datetime(raw.get("createdDateTime")),
    )


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    """The body of a successful response as a JSON object."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceUnavailable(
            "Graph returned a body that is not a JSON object",
            code="UnreadableResponse",
            status=response.status_code,
            request_id=_request_id(response, None),
        )
    return data


def _graph_error(response: httpx.Response) -> tuple[str, str, str | None]:
    """Graph's ``error.code``, ``error.message`` and ``innerError.request-id`` (or header)."""
    error: Any = None
    try:
        body = json.loads(response.content) if response.content else None
        error = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        pass
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code") or f"HTTP{response.status_code}")
    message = str(error.get("message") or response.reason_phrase or "no error message")
    inner = error.get("innerError") or error.get("innererror")
    return code, message, _request_id(response, inner)


def _request_id(response: httpx.Response, inner: object) -> str | None:
    if isinstance(inner, dict) and inner.get("request-id"):
        return str(inner["request-id"])
    header: str | None = response.headers.get("request-id") or response.headers.get(
        "client-request-id"
    )
    return header


def _is_missing_reference(response: httpx.Response) -> bool:
    """A member-add / role-assign failure that may be a user not replicated yet."""
    if response.status_code == 404:
        return True
    if response.status_code != 400:
        return False
    _, message, _ = _graph_error(response)
    return _MISSING_REFERENCE_MARKER in message.lower()


def _raise_for_status(response: httpx.Response) -> None:
    """Map a non-2xx Graph answer to ``guest_onboarding.errors``; 2xx returns."""
    status = response.status_code
    if 200 <= status < 300:
        return
    code, message, request_id = _graph_error(response)
    details: dict[str, Any] = {"code": code, "status": status, "request_id": request_id}
    if status == 429:
        raise Throttled(message, retry_after=_retry_after(response), **details)
    if status >= 500:
        raise ServiceUnavailable(message, **details)
    if status in (401, 403):
        raise Refused(message, **details)
    if status == 404:
        raise NotFound(message, **details)
    if status == 400 and any(m in message.lower() for m in _ALREADY_DONE_MARKERS):
        raise AlreadyDone(message, **details)
    if 400 <= status < 500:
        raise InvalidRequest(message, **details)
    # 1xx/3xx reaching us means the redirect handler gave up; nothing to fix in the request.
    raise ServiceUnavailable(message, **details)


def _retry_after(response: httpx.Response) -> float:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), else the default."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER_SECONDS
        seconds = when.timestamp() - datetime.now().timestamp()
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(0.0, seconds)


def _raise_transport_error(exc: Exception) -> NoReturn:
    """Failures before Graph answered: timeouts, dropped connections, no token."""
    import httpx
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from kiota_abstractions.api_error import APIError
    from kiota_authentication_azure._exceptions import KiotaAuthenticationError
    from kiota_http._exceptions import KiotaHTTPXError

    if isinstance(exc, httpx.TimeoutException):
        raise ServiceUnavailable(f"Graph timed out: {exc!r}", code="Timeout") from exc
    if isinstance(exc, httpx.HTTPError):
        raise ServiceUnavailable(f"Graph unreachable: {exc!r}", code="ConnectionError") from exc
    if isinstance(exc, ClientAuthenticationError):
        # No token (identity endpoint down or misconfigured). Transient on purpose: a poisoned
        # HR message needs an operator, while a retried one heals once the identity recovers.
        raise ServiceUnavailable(
            f"could not get a Graph token: {exc.message}", code="TokenUnavailable"
        ) from exc
    if isinstance(exc, AzureError):
        raise ServiceUnavailable(f"identity call failed: {exc!r}", code="TokenUnavailable") from exc
    if isinstance(exc, KiotaAuthenticationError):
        raise Refused(f"the SDK refused to authenticate: {exc}", code="AuthRefused") from exc
    if isinstance(exc, KiotaHTTPXError | APIError):
        raise ServiceUnavailable(f"Graph call failed: {exc!r}", code="SdkError") from exc
    raise exc
