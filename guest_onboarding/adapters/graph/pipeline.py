"""The SDK's HTTP pipeline as this adapter uses it: the Graph middleware minus what these calls
never use, with a retry handler that leaves long waits to the queue."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

from guest_onboarding.adapters.graph.responses import retry_after_seconds

#: Statuses retried inside the process (quickly); everything longer is the queue's job.
IN_PROCESS_RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: A 5xx asking for a longer wait than this is not retried in process.
MAX_IN_PROCESS_WAIT_SECONDS = 2.0
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def no_retry() -> Any:
    """A per-request option that switches the retry handler off."""
    from kiota_http.middleware.options import RetryHandlerOption

    return RetryHandlerOption(delay=0, max_retries=0, should_retry=False)


def middleware(transient_retries: int) -> list[Any]:
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

            retry_after = retry_after_seconds(response) if _has_retry_after(response) else None
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


def validated_host(base_url: str) -> str:
    """The host the auth provider may send tokens to; https, or http on a loopback name."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in {"https", "http"}:
        raise ValueError(f"GRAPH_BASE_URL must be an absolute URL, got {base_url!r}")
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        # The SDK's auth provider refuses to send a token over http except to loopback names.
        raise ValueError(f"GRAPH_BASE_URL must use https unless it is local, got {base_url!r}")
    return host


def _has_retry_after(response: Any) -> bool:
    headers = getattr(response, "headers", None)
    return headers is not None and bool(headers.get("retry-after", "").strip())
