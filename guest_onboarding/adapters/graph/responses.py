"""Graph's answers mapped into ``guest_onboarding.errors``: every status, Graph error body and
transport failure. Nothing an SDK, httpx or azure-identity raises leaves the adapter unmapped."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from guest_onboarding.errors import (
    AlreadyDone,
    InvalidRequest,
    InvitationsStopped,
    NotFound,
    Refused,
    ServiceUnavailable,
    Throttled,
)

if TYPE_CHECKING:
    import httpx

#: Used when a 429 carries no (readable) ``Retry-After``.
DEFAULT_RETRY_AFTER_SECONDS = 5.0

# Graph's wording for "what you asked is already true" (member already added, role assigned).
_ALREADY_DONE_MARKERS = (
    "one or more added object references already exist",
    "permission being assigned already exists",
)
#: Graph's refusals of every invitation for the tenant, not of one message, as Graph words them
#: (status, ``error.code``, ``error.message``), matched exactly: an abuse block only Microsoft
#: support lifts (the wording seen in the field, GRAPH_NOTES and graph_emulator/README.md), and
#: external collaboration settings that forbid invitations (status and message from the public
#: report MicrosoftDocs/azure-docs#78054; the code ``Forbidden`` is unconfirmed). Anything else,
#: a domain refused by the B2B allow/deny list or by cross-tenant access settings included,
#: concerns one message: a refusal that merely quotes these words never pauses the tenant.
TENANT_WIDE_REFUSALS = frozenset(
    {
        (
            403,
            "Forbidden",
            "Invitations are blocked for this directory due to suspicious activity. "
            "Please contact Microsoft support for help.",
        ),
        (
            403,
            "Forbidden",
            "Guest invitations not allowed for your company. "
            "Contact your company administrator for more details.",
        ),
    }
)
# Graph's 400 wording when a referenced object (often a just-invited user) is not visible yet.
_MISSING_REFERENCE_MARKER = "do not exist"


def json_object(response: httpx.Response) -> dict[str, Any]:
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
            request_id=request_id(response, None),
        )
    return data


def graph_error(response: httpx.Response) -> tuple[str, str, str | None]:
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
    return code, message, request_id(response, inner)


def request_id(response: httpx.Response, inner: object) -> str | None:
    if isinstance(inner, dict) and inner.get("request-id"):
        return str(inner["request-id"])
    header: str | None = response.headers.get("request-id") or response.headers.get(
        "client-request-id"
    )
    return header


def is_missing_reference(response: httpx.Response) -> bool:
    """A member-add / role-assign failure that may be a user not replicated yet."""
    if response.status_code == 404:
        return True
    if response.status_code != 400:
        return False
    _, message, _ = graph_error(response)
    return _MISSING_REFERENCE_MARKER in message.lower()


def raise_for_status(response: httpx.Response) -> None:
    """Map a non-2xx Graph answer to ``guest_onboarding.errors``; 2xx returns."""
    status = response.status_code
    if 200 <= status < 300:
        return
    code, message, request_id = graph_error(response)
    details: dict[str, Any] = {"code": code, "status": status, "request_id": request_id}
    if status == 429:
        raise Throttled(message, retry_after=retry_after_seconds(response), **details)
    if status >= 500:
        raise ServiceUnavailable(message, **details)
    if (status, code, message) in TENANT_WIDE_REFUSALS:
        # The invitation gate decides how long to wait; the adapter only says what it is.
        raise InvitationsStopped(message, retry_after=0.0, **details)
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


def retry_after_seconds(response: httpx.Response) -> float:
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


def raise_transport_error(exc: Exception) -> NoReturn:
    """Failures before Graph answered: timeouts, dropped connections, no token."""
    import httpx
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from kiota_abstractions.api_error import APIError

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
    kind = sdk_error_kind(exc)
    if kind == "auth":
        raise Refused(f"the SDK refused to authenticate: {exc}", code="AuthRefused") from exc
    if kind == "http" or isinstance(exc, APIError):
        raise ServiceUnavailable(f"Graph call failed: {exc!r}", code="SdkError") from exc
    raise exc


#: Packages whose own exception trees the SDK does not export (``kiota_http._exceptions``,
#: ``kiota_authentication_azure._exceptions``): told apart by where they are defined, not by
#: importing private modules. tests/unit/test_graph_errors.py pins that this still holds.
_SDK_ERROR_PACKAGES = {
    "kiota_authentication_azure": "auth",
    "kiota_http": "http",
}


def sdk_error_kind(exc: BaseException) -> str | None:
    """``auth`` for the auth provider's refusals (a host it may not send tokens to, http),
    ``http`` for the HTTP adapter's own errors, else None."""
    for cls in type(exc).__mro__:
        package = cls.__module__.partition(".")[0]
        if package in _SDK_ERROR_PACKAGES and cls.__name__.endswith(("Error", "Exception")):
            return _SDK_ERROR_PACKAGES[package]
    return None
