"""Spans: one per delivery (or sweep), and the W3C trace context carried inside the messages
this app queues, so that a step's span is the child of the step that queued it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import AssignmentStep, ReminderRequest
from guest_onboarding.ports import Outbox
from guest_onboarding.telemetry.measures import record_message_age
from guest_onboarding.telemetry.names import DELIVERY_COUNT, MESSAGE_ID, QUEUE, SCOPE, STEP
from guest_onboarding.wire import load_object

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

_tracer = trace.get_tracer(SCOPE)
_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The active span's W3C ``traceparent``, or None when no span is recording (telemetry off)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


_TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def message_traceparent(body: bytes | str) -> str | None:
    """The ``traceparent`` a step or reminder message carries, if any and well formed. Read
    before the message is validated, so that even a rejected message's span has its parent;
    the handler still validates the whole message."""
    try:
        data = load_object(body)
    except InvalidMessage:
        return None
    carrier = data.get("reminder") if set(data) == {"reminder"} else data
    value = carrier.get("traceparent") if isinstance(carrier, dict) else None
    return value if isinstance(value, str) and _TRACEPARENT.match(value) else None


def _parent(traceparent: str | None) -> tuple[Context | None, list[Link]]:
    """The parent of a delivery span: the step that queued the message (``traceparent``, from
    the message body) or, without one, the active context (the Functions host's invocation).
    With both, the active one becomes a link: the host's trace of this invocation stays
    reachable from the onboarding's trace."""
    if traceparent is None:
        return None, []
    parent = _propagator.extract({"traceparent": traceparent})
    active = trace.get_current_span().get_span_context()
    return parent, [Link(active)] if active.is_valid else []


@contextmanager
def step_span(
    step: str,
    *,
    traceparent: str | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
    queue: str | None = None,
    message_id: str | None = None,
    dequeue_count: int | None = None,
) -> Iterator[trace.Span]:
    """The span of one delivery (or of the sweep). Exceptions are not recorded on it (their
    messages may hold personal data): :func:`record_outcome` sets the status and error code."""
    parent, links = _parent(traceparent)
    attributes: dict[str, AttributeValue] = {STEP: step}
    if queue is not None:
        attributes[QUEUE] = queue
    if message_id:
        attributes[MESSAGE_ID] = message_id
    if dequeue_count is not None:
        attributes[DELIVERY_COUNT] = dequeue_count
    with _tracer.start_as_current_span(
        step,
        context=parent,
        kind=kind,
        links=links,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def delivery_span(
    step: str,
    queue: str,
    body: bytes | str,
    message_id: str,
    dequeue_count: int,
    inserted_at: datetime | None,
    now: datetime,
    /,
) -> Iterator[trace.Span]:
    """The span of one queue delivery, the child of the step that queued the message (its
    ``traceparent``); the message's age at dequeue is recorded first."""
    record_message_age(queue, inserted_at, now)
    with step_span(
        step,
        traceparent=message_traceparent(body),
        queue=queue,
        message_id=message_id,
        dequeue_count=dequeue_count,
    ) as span:
        yield span


_Message = TypeVar("_Message", AssignmentStep, ReminderRequest)


def with_trace_context(message: _Message) -> _Message:
    """``message`` carrying the active span's context (unchanged when telemetry is off)."""
    traceparent = current_traceparent()
    if traceparent is None:
        return message
    return message.model_copy(update={"traceparent": traceparent})


class TracingOutbox:
    """An :class:`~guest_onboarding.ports.Outbox` that stamps every assignment step and
    reminder with the active span's ``traceparent``: the step that queues them becomes their
    parent across the queue hop. The handlers stay free of OpenTelemetry."""

    def __init__(self, inner: Outbox) -> None:
        self._inner = inner

    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None:
        await self._inner.queue_assignment(with_trace_context(step), delay_seconds=delay_seconds)

    async def queue_reminder(self, reminder: ReminderRequest) -> None:
        await self._inner.queue_reminder(with_trace_context(reminder))

    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
        await self._inner.requeue_invitation(body, delay_seconds=delay_seconds)

    async def reject(
        self,
        *,
        queue: str,
        original: str,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        await self._inner.reject(
            queue=queue, original=original, code=code, message=message, details=details
        )
