"""Storage SDK failures as the app's :class:`~guest_onboarding.errors.StoreError`s.

Every public method of the storage adapters is wrapped (``storage_call`` for coroutines,
``storage_stream`` for async generators), so whatever azure-core, azure-data-tables,
azure-storage-queue or azure-identity raises leaves the adapter as one of ours, the SDK's error
as its ``__cause__``. What a method expects and handles itself (an etag that no longer matches,
a row that exists or is gone) never reaches the wrapper.

- no answer: a refused or dropped connection, a timeout (``ServiceRequestError``,
  ``ServiceResponseError``), an answer cut short, no token for the identity ->
  ``StoreUnavailable``;
- 408, 429 and every 5xx (503 ``ServerBusy`` is how Storage throttles) -> ``StoreUnavailable``;
- any other answer (403 a data role missing, 404 no such table or queue, 400, 409, 412, 413) ->
  ``PermanentStoreError``.

The message names what the adapter was doing, Storage's error code and status, never the
request's URL or Storage's free text (row keys are guests' addresses).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from guest_onboarding.errors import PermanentStoreError, StoreError, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")
Adapter = TypeVar("Adapter")

#: Statuses that say "not now" rather than "not this": timeouts, throttling, server errors.
_TRANSIENT_STATUSES = frozenset({408, 429})


def _header(exc: AzureError, name: str) -> str | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get(name)
    return str(value) if value else None


def _error_code(exc: AzureError) -> str:
    """Storage's error code: parsed from the body by the SDK where it does, else the header
    every Storage error answer carries (the Tables SDK leaves a refused insert's unparsed)."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "") or _header(exc, "x-ms-error-code") or ""


def store_error(exc: AzureError, doing: str) -> StoreError:
    """``exc`` (raised while the adapter was ``doing`` something) as a transient or permanent
    ``StoreError`` (see the module docstring)."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        kind = "Timeout" if "Timeout" in type(exc).__name__ else "ConnectionError"
        return StoreUnavailable(f"could not {doing}: no answer ({kind})", code=kind)
    if isinstance(exc, IncompleteReadError):
        return StoreUnavailable(f"could not {doing}: answer cut short", code="IncompleteAnswer")
    if isinstance(exc, DecodeError):
        return PermanentStoreError(f"could not {doing}: unreadable answer", code="UnreadableAnswer")
    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    if status is None:
        if isinstance(exc, ClientAuthenticationError):
            # No token (the identity endpoint down or slow): heals once it answers again.
            return StoreUnavailable(f"could not {doing}: no token", code="TokenUnavailable")
        what = type(exc).__name__
        return PermanentStoreError(f"could not {doing}: {what}", code=what)
    code = _error_code(exc) or f"HTTP{status}"
    details = {"code": code, "status": status, "request_id": _header(exc, "x-ms-request-id")}
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return StoreUnavailable(f"could not {doing}: Storage answered {status} {code}", **details)
    refused = f"could not {doing}: Storage refused it ({status} {code})"
    return PermanentStoreError(refused, **details)


def storage_call(
    doing: str,
) -> Callable[
    [Callable[Concatenate[Adapter, P], Coroutine[Any, Any, T]]],
    Callable[Concatenate[Adapter, P], Coroutine[Any, Any, T]],
]:
    """Decorate an adapter coroutine: a Storage SDK error becomes a ``StoreError``."""

    def decorate(
        method: Callable[Concatenate[Adapter, P], Coroutine[Any, Any, T]],
    ) -> Callable[Concatenate[Adapter, P], Coroutine[Any, Any, T]]:
        @functools.wraps(method)
        async def mapped(self: Adapter, /, *args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await method(self, *args, **kwargs)
            except AzureError as exc:
                raise store_error(exc, doing) from exc

        return mapped

    return decorate


def storage_stream(
    doing: str,
) -> Callable[
    [Callable[Concatenate[Adapter, P], AsyncIterator[T]]],
    Callable[Concatenate[Adapter, P], AsyncIterator[T]],
]:
    """Decorate an adapter async generator: a Storage SDK error while paging becomes a
    ``StoreError``."""

    def decorate(
        method: Callable[Concatenate[Adapter, P], AsyncIterator[T]],
    ) -> Callable[Concatenate[Adapter, P], AsyncIterator[T]]:
        @functools.wraps(method)
        async def mapped(self: Adapter, /, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
            try:
                async for item in method(self, *args, **kwargs):
                    yield item
            except AzureError as exc:
                raise store_error(exc, doing) from exc

        return mapped

    return decorate
