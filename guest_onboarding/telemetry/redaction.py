"""Keeping personal data out of the SDKs' spans: a span processor that runs before every
exporting one."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

#: Span attributes that hold a URL or part of one (current and older semantic conventions).
URL_ATTRIBUTES = frozenset(
    {"url.full", "http.url", "http.target", "url.path", "url.query", "http.request.url"}
)
#: A path segment kept as is: names, ids, ``$ref``; anything else (an address, a Table key
#: ``guestledger(PartitionKey='...',RowKey='...')``) becomes ``{redacted}``.
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._$~-]*$")
REDACTED = "{redacted}"


def redact_url(value: str) -> str:
    """``value`` without what could identify a person: every query value, and every path segment
    that is not a plain name or id."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return REDACTED
    path = "/".join(
        segment if _SAFE_SEGMENT.match(segment) and "%" not in segment else REDACTED
        for segment in parts.path.split("/")
    )
    query = "&".join(
        f"{pair.split('=', 1)[0]}={REDACTED}" if "=" in pair else REDACTED
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, query, ""))


def _redacted_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: redact_url(value) if key in URL_ATTRIBUTES and isinstance(value, str) else value
        for key, value in attributes.items()
    }


def redacting_span_processor() -> Any:
    """A :class:`RedactingSpanProcessor` (built lazily: the SDK is imported only when telemetry is
    configured). It must come before every exporting processor."""
    return _redacting_class()()


@functools.cache
def _redacting_class() -> type:
    from opentelemetry.sdk.trace import Event, SpanProcessor

    class RedactingSpanProcessor(SpanProcessor):
        """Rewrites every ended span before the exporting processors see it (they receive the
        same object, in order): URLs lose their query values and any path segment that is not a
        plain name or id; exception events keep their type only (a message or stack trace can
        quote an address). The SDK freezes a span's attributes at its end, so the span's
        attribute and event collections are replaced, not edited."""

        def on_end(self, span: ReadableSpan) -> None:
            attributes = span.attributes or {}
            if URL_ATTRIBUTES.intersection(attributes):
                span._attributes = _redacted_attributes(attributes)
            if any(event.name == "exception" for event in span.events):
                span._events = [
                    Event(
                        event.name,
                        {k: v for k, v in (event.attributes or {}).items() if k == "exception.type"}
                        if event.name == "exception"
                        else _redacted_attributes(event.attributes or {}),
                        event.timestamp,
                    )
                    for event in span.events
                ]

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            return None

    return RedactingSpanProcessor
