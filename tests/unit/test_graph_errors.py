"""The Graph adapter's boundary: every failure comes out as a ``guest_onboarding.errors`` type.

The adapter runs on the real msgraph-sdk (request builders, auth provider, middleware) over an
``httpx.MockTransport``, so these tests exercise the same code path as production, minus sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from devstack.seeds import GROUP_PROJECT_X as GROUP
from devstack.seeds import PORTAL_SP as SP
from devstack.seeds import READER_ROLE as ROLE
from guest_onboarding import errors
from guest_onboarding.adapters.graph import DEFAULT_RETRY_AFTER_SECONDS, GraphDirectory
from guest_onboarding.adapters.graph import directory as directory_module
from guest_onboarding.domain.invitation import Invitation
from tests.support import graph_directory

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:9/v1.0"
USER = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"

Handler = Callable[[httpx.Request], httpx.Response]


class StaticCredential:
    """An async credential that hands out a fixed token (or raises ``error``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.error is not None:
            raise self.error
        return AccessToken("test-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None


def graph_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": "req-1"}}}
    return httpx.Response(status, json=body, headers=headers)


class Recorder:
    """A mock transport that answers with ``handler`` and keeps every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry middleware's waits instead of sleeping them."""
    from kiota_http.middleware import retry_handler

    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(retry_handler, "asyncio", SimpleNamespace(sleep=fake_sleep))
    return waited


class FakeClock:
    """Stands in for the adapter's ``time`` and ``asyncio`` modules: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def adapter_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The adapter's listing waits run on a fake clock: no real waiting."""
    clock = FakeClock()
    monkeypatch.setattr(directory_module, "asyncio", clock)
    return clock


def directory(
    handler: Handler, *, credential: object | None = None, retries: int = 2
) -> tuple[GraphDirectory, Recorder]:
    recorder = Recorder(handler)
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    graph = graph_directory(
        BASE,
        credential=credential or StaticCredential(),
        http_client=client,
        transient_retries=retries,
    )
    return graph, recorder


async def drain(graph: GraphDirectory) -> list[Any]:
    return [user async for user in graph.pending_guests()]


# Every public method of the port, with arguments that would succeed against a real tenant.
CALLS: dict[str, Callable[[GraphDirectory], Awaitable[Any]]] = {
    "find_users": lambda g: g.find_users("ada@fabrikam.example"),
    "get_user": lambda g: g.get_user(USER),
    "invite": lambda g: g.invite(
        "ada@fabrikam.example", Invitation(redirect_url="https://myapps.microsoft.com")
    ),
    "add_group_member": lambda g: g.add_group_member(group_id=GROUP, user_id=USER),
    "assign_app_role": lambda g: g.assign_app_role(user_id=USER, resource_id=SP, app_role_id=ROLE),
    "pending_guests": drain,
    "delete_user": lambda g: g.delete_user(USER),
}


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


FAILURES: dict[str, Handler] = {
    "400": lambda r: graph_error(400, "Request_BadRequest", "Invalid filter clause"),
    "401": lambda r: graph_error(401, "InvalidAuthenticationToken", "Access token is empty."),
    "403": lambda r: graph_error(403, "Authorization_RequestDenied", "Insufficient privileges"),
    "404": lambda r: graph_error(404, "Request_ResourceNotFound", "Resource does not exist"),
    "409": lambda r: graph_error(409, "Conflict", "Conflict"),
    "429": lambda r: graph_error(429, "TooManyRequests", "Slow down", **{"Retry-After": "7"}),
    "500": lambda r: graph_error(500, "InternalServerError", "Boom"),
    "503 html": lambda r: httpx.Response(503, text="<html>Service Unavailable</html>"),
    "502 empty": lambda r: httpx.Response(502),
    "200 not json": lambda r: httpx.Response(200, text="<html>captive portal</html>"),
    "200 json list": lambda r: httpx.Response(200, json=[1, 2]),
    "connect error": _raise(httpx.ConnectError("connection refused")),
    "read timeout": _raise(httpx.ReadTimeout("timed out")),
    "connection reset": _raise(httpx.RemoteProtocolError("peer closed connection")),
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("method", CALLS)
async def test_no_vendor_error_escapes(method: str, failure: str, sleeps: list[float]) -> None:
    """Whatever Graph or the network does, callers only ever see our own error types."""
    graph, _ = directory(FAILURES[failure])
    try:
        result = await CALLS[method](graph)
    except errors.DirectoryError:
        return
    finally:
        await graph.aclose()
    # The only non-errors: get_user answers a 404 with None (the user is gone), and calls that
    # read no response body take any 2xx as success.
    bodiless = {"add_group_member", "assign_app_role", "delete_user"}
    assert (method, failure) == ("get_user", "404") or (
        method in bodiless and failure.startswith("200")
    )
    assert result is None


@pytest.mark.parametrize("method", CALLS)
async def test_token_failure_is_mapped(method: str) -> None:
    """azure-identity's ClientAuthenticationError (no token) becomes a transient error."""
    graph, recorder = directory(
        FAILURES["500"], credential=StaticCredential(ClientAuthenticationError("no MSI"))
    )
    with pytest.raises(errors.ServiceUnavailable) as caught:
        await CALLS[method](graph)
    await graph.aclose()
    assert caught.value.code == "TokenUnavailable"
    assert isinstance(caught.value.__cause__, ClientAuthenticationError)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("400", errors.InvalidRequest),
        ("401", errors.Refused),
        ("403", errors.Refused),
        ("409", errors.InvalidRequest),
        ("429", errors.Throttled),
        ("500", errors.ServiceUnavailable),
        ("503 html", errors.ServiceUnavailable),
        ("200 not json", errors.ServiceUnavailable),
        ("connect error", errors.ServiceUnavailable),
        ("read timeout", errors.ServiceUnavailable),
    ],
)
async def test_status_classes(failure: str, expected: type[Exception], sleeps: list[float]) -> None:
    graph, _ = directory(FAILURES[failure])
    with pytest.raises(expected):
        await graph.find_users("ada@fabrikam.example")
    await graph.aclose()


async def test_graph_code_message_and_request_id_are_kept() -> None:
    graph, _ = directory(FAILURES["403"])
    with pytest.raises(errors.Refused) as caught:
        await graph.invite("a@b.example", Invitation(redirect_url="https://x"))
    await graph.aclose()
    assert caught.value.as_reason() == {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges",
        "status": "403",
        "requestId": "req-1",
    }


async def test_request_id_falls_back_to_the_response_header() -> None:
    graph, _ = directory(lambda r: httpx.Response(500, headers={"request-id": "hdr-9"}))
    with pytest.raises(errors.ServiceUnavailable) as caught:
        await graph.delete_user(USER)
    await graph.aclose()
    assert caught.value.request_id == "hdr-9"
    assert caught.value.code == "HTTP500"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, DEFAULT_RETRY_AFTER_SECONDS), ("soon", DEFAULT_RETRY_AFTER_SECONDS)],
)
async def test_throttled_carries_retry_after(header: str | None, expected: float) -> None:
    headers = {"Retry-After": header} if header else {}
    graph, _ = directory(lambda r: graph_error(429, "TooManyRequests", "Slow down", **headers))
    with pytest.raises(errors.Throttled) as caught:
        await graph.find_users("a@b.example")
    await graph.aclose()
    assert caught.value.retry_after == expected


async def test_throttled_understands_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    graph, _ = directory(
        lambda r: graph_error(429, "TooManyRequests", "x", **{"Retry-After": when})
    )
    with pytest.raises(errors.Throttled) as caught:
        await graph.find_users("a@b.example")
    await graph.aclose()
    assert 100 < caught.value.retry_after <= 120


async def test_429_is_not_retried_in_process(sleeps: list[float]) -> None:
    """The queue waits out throttling, not the function: exactly one request, no sleep."""
    graph, recorder = directory(FAILURES["429"])
    with pytest.raises(errors.Throttled) as caught:
        await graph.invite("a@b.example", Invitation(redirect_url="https://x"))
    await graph.aclose()
    assert len(recorder.requests) == 1
    assert sleeps == []
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_gets_a_couple_of_quick_retries(status: int, sleeps: list[float]) -> None:
    graph, recorder = directory(lambda r: httpx.Response(status), retries=2)
    with pytest.raises(errors.ServiceUnavailable):
        await graph.add_group_member(group_id=GROUP, user_id=USER)
    await graph.aclose()
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2
    assert all(wait <= 2.0 for wait in sleeps)


async def test_5xx_then_success_is_transparent(sleeps: list[float]) -> None:
    answers = iter([httpx.Response(503), httpx.Response(204)])
    graph, recorder = directory(lambda r: next(answers))
    await graph.add_group_member(group_id=GROUP, user_id=USER)
    await graph.aclose()
    assert len(recorder.requests) == 2


async def test_5xx_asking_for_a_long_wait_is_left_to_the_queue(sleeps: list[float]) -> None:
    graph, recorder = directory(lambda r: httpx.Response(503, headers={"Retry-After": "30"}))
    with pytest.raises(errors.ServiceUnavailable):
        await graph.get_user(USER)
    await graph.aclose()
    assert len(recorder.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "message",
    [
        "One or more added object references already exist for the following modified "
        "properties: 'members'.",
        "Permission being assigned already exists on the object",
    ],
)
@pytest.mark.parametrize("method", ["add_group_member", "assign_app_role"])
async def test_already_there_is_already_done(method: str, message: str) -> None:
    graph, recorder = directory(lambda r: graph_error(400, "Request_BadRequest", message))
    with pytest.raises(errors.AlreadyDone) as caught:
        await CALLS[method](graph)
    await graph.aclose()
    assert caught.value.request_id == "req-1"
    assert len(recorder.requests) == 1  # no probe for "already done"


def _missing_then_probe(first: httpx.Response, probe_status: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return first
        return httpx.Response(probe_status, json={"id": GROUP} if probe_status == 200 else {})

    return handler


MISSING = {
    "404": graph_error(404, "Request_ResourceNotFound", "Resource 'x' does not exist."),
    "400": graph_error(
        400,
        "Request_BadRequest",
        "The source resource object or one of the objects being referenced do not exist.",
    ),
}


@pytest.mark.parametrize("answer", MISSING)
@pytest.mark.parametrize(
    ("method", "probe_path"),
    [
        ("add_group_member", f"/v1.0/groups/{GROUP}/members"),
        ("assign_app_role", f"/v1.0/servicePrincipals/{SP}"),
    ],
)
async def test_missing_reference_with_existing_target_is_not_yet_replicated(
    method: str, probe_path: str, answer: str
) -> None:
    graph, recorder = directory(_missing_then_probe(MISSING[answer], 200))
    with pytest.raises(errors.NotYetReplicated) as caught:
        await CALLS[method](graph)
    await graph.aclose()
    assert [(r.method, r.url.path) for r in recorder.requests][1:] == [("GET", probe_path)]
    assert caught.value.request_id == "req-1"  # the failed call's, not the probe's
    assert caught.value.status == int(answer)


@pytest.mark.parametrize("answer", MISSING)
@pytest.mark.parametrize("method", ["add_group_member", "assign_app_role"])
async def test_missing_reference_with_unknown_target_is_not_found(method: str, answer: str) -> None:
    graph, recorder = directory(_missing_then_probe(MISSING[answer], 404))
    with pytest.raises(errors.NotFound):
        await CALLS[method](graph)
    await graph.aclose()
    assert len(recorder.requests) == 2


async def test_a_failing_probe_is_mapped_too(sleeps: list[float]) -> None:
    graph, _ = directory(_missing_then_probe(MISSING["404"], 429))
    with pytest.raises(errors.Throttled):
        await graph.add_group_member(group_id=GROUP, user_id=USER)
    await graph.aclose()


async def test_404_elsewhere_is_not_found_without_probe() -> None:
    graph, recorder = directory(FAILURES["404"])
    with pytest.raises(errors.NotFound):
        await graph.delete_user(USER)
    assert await graph.get_user(USER) is None
    await graph.aclose()
    assert [r.method for r in recorder.requests] == ["DELETE", "GET"]


async def test_bad_guid_is_invalid_request_without_a_call() -> None:
    graph, recorder = directory(lambda r: httpx.Response(201, json={}))
    with pytest.raises(errors.InvalidRequest):
        await graph.assign_app_role(user_id="not-a-guid", resource_id=SP, app_role_id=ROLE)
    await graph.aclose()
    assert recorder.requests == []


# -- request shapes (what the adapter sends through the SDK) ----------------------------------


async def test_find_user_filter_escapes_quotes_and_selects_few_fields() -> None:
    graph, recorder = directory(lambda r: httpx.Response(200, json={"value": []}))
    assert await graph.find_users("o'brien@fabrikam.example") == ()
    await graph.aclose()
    params = recorder.requests[0].url.params
    a = "o''brien@fabrikam.example"
    assert params["$filter"] == (
        f"mail eq '{a}' or userPrincipalName eq '{a}' or otherMails/any(x:x eq '{a}')"
        f" or proxyAddresses/any(x:x eq 'smtp:{a}')"
    )
    assert params["$top"] == "2"
    assert params["$select"] == (
        "id,mail,userType,externalUserState,externalUserStateChangeDateTime"
    )
    assert recorder.requests[0].headers["authorization"] == "Bearer test-token"


async def test_invite_sends_message_info_only_when_set() -> None:
    answer = {"invitedUser": {"id": USER}, "inviteRedeemUrl": "https://r", "status": "Pending"}
    graph, recorder = directory(lambda r: httpx.Response(201, json=answer))
    plain = await graph.invite("a@b.example", Invitation(redirect_url="https://x"))
    await graph.invite(
        "a@b.example",
        Invitation(
            redirect_url="https://x",
            display_name="Ada",
            send_message=False,
            message_body="Welcome",
            message_language="en-US",
            cc_recipient="sponsor@contoso.example",
        ),
    )
    await graph.aclose()
    first, second = (json.loads(r.content) for r in recorder.requests)
    assert plain.user_id == USER
    assert first == {
        "invitedUserEmailAddress": "a@b.example",
        "inviteRedirectUrl": "https://x",
        "sendInvitationMessage": True,
    }
    assert second["invitedUserDisplayName"] == "Ada"
    assert second["sendInvitationMessage"] is False
    assert second["invitedUserMessageInfo"] == {
        "customizedMessageBody": "Welcome",
        "messageLanguage": "en-US",
        "ccRecipients": [{"emailAddress": {"address": "sponsor@contoso.example"}}],
    }


async def test_member_ref_names_graph_whatever_the_base_url() -> None:
    graph, recorder = directory(lambda r: httpx.Response(204))
    await graph.add_group_member(group_id=GROUP, user_id=USER)
    await graph.aclose()
    request = recorder.requests[0]
    assert request.url.host == "127.0.0.1"
    assert json.loads(request.content) == {
        "@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{USER}"
    }


async def test_pending_guests_follows_next_link_page_by_page() -> None:
    def page(request: httpx.Request) -> httpx.Response:
        if "$skiptoken" not in request.url.params:
            return httpx.Response(
                200,
                json={
                    "value": [{"id": "u1", "externalUserState": "PendingAcceptance"}],
                    "@odata.nextLink": f"{BASE}/users?$skiptoken=abc",
                },
            )
        return httpx.Response(
            200,
            json={
                "value": [{"id": "u2", "externalUserStateChangeDateTime": "2024-05-01T10:00:00Z"}]
            },
        )

    graph, recorder = directory(page)
    users = await drain(graph)
    await graph.aclose()
    assert [u.id for u in users] == ["u1", "u2"]
    assert users[1].state_changed_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    first = recorder.requests[0].url.params
    assert first["$filter"] == "externalUserState eq 'PendingAcceptance'"
    assert first["$top"] == "999"
    assert first["$select"] == ("id,mail,externalUserState,externalUserStateChangeDateTime")
    assert str(recorder.requests[1].url) == f"{BASE}/users?$skiptoken=abc"
    assert recorder.requests[1].headers["authorization"] == "Bearer test-token"


async def test_the_sweep_listing_waits_out_throttling(adapter_clock: FakeClock) -> None:
    answers = iter(
        [
            graph_error(429, "TooManyRequests", "slow down", **{"Retry-After": "3"}),
            httpx.Response(200, json={"value": [{"id": "u1"}]}),
        ]
    )
    graph, recorder = directory(lambda r: next(answers))
    users = await drain(graph)
    await graph.aclose()
    assert [u.id for u in users] == ["u1"]
    assert adapter_clock.slept == [3.0] and len(recorder.requests) == 2


async def test_tokens_go_only_to_the_base_url_host() -> None:
    """A nextLink pointing at another host gets no bearer token (allowed_hosts)."""
    answers = iter(
        [
            httpx.Response(
                200, json={"value": [], "@odata.nextLink": "https://elsewhere.example/v1.0/x"}
            ),
            httpx.Response(200, json={"value": []}),
        ]
    )
    graph, recorder = directory(lambda r: next(answers))
    await drain(graph)
    await graph.aclose()
    assert "authorization" in recorder.requests[0].headers
    assert "authorization" not in recorder.requests[1].headers


@pytest.mark.parametrize("url", ["http://graph.example/v1.0", "ftp://localhost/v1.0", "nohost"])
def test_base_url_the_sdk_would_refuse_fails_at_start_up(url: str) -> None:
    with pytest.raises(ValueError):
        graph_directory(url, credential=StaticCredential())


def test_importing_the_adapter_does_not_import_the_sdk() -> None:
    code = (
        "import sys, guest_onboarding.adapters.graph as g; "
        "print(sorted(m for m in ('msgraph', 'msgraph_core', 'kiota_http', 'kiota_abstractions',"
        " 'azure.identity') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]"


@pytest.fixture(autouse=True)
def _no_real_azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A DefaultAzureCredential built by accident must never reach a real identity endpoint.
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    yield


async def test_a_next_link_that_repeats_stops_the_listing() -> None:
    looping = {"value": [{"id": "u1"}], "@odata.nextLink": f"{BASE}/users?$skiptoken=same"}
    graph, recorder = directory(lambda r: httpx.Response(200, json=looping))
    with pytest.raises(errors.ServiceUnavailable):
        await drain(graph)
    await graph.aclose()
    assert len(recorder.requests) == 2


def test_sdk_error_trees_are_told_apart_by_where_the_sdk_defines_them() -> None:
    """The adapter maps the SDK's unexported exceptions without importing private modules; this
    pins what that relies on: where the SDK defines them and what they are called."""
    from kiota_authentication_azure._exceptions import HTTPError as AuthHTTPError
    from kiota_authentication_azure._exceptions import KiotaAuthenticationError
    from kiota_http._exceptions import KiotaHTTPXError, RedirectError

    from guest_onboarding.adapters.graph.responses import sdk_error_kind

    assert sdk_error_kind(KiotaAuthenticationError("no")) == "auth"
    assert sdk_error_kind(AuthHTTPError("Only https is supported")) == "auth"
    assert sdk_error_kind(KiotaHTTPXError("x")) == "http"
    assert sdk_error_kind(RedirectError("x")) == "http"
    assert sdk_error_kind(ValueError("x")) is None
    assert sdk_error_kind(httpx.ConnectError("x")) is None
