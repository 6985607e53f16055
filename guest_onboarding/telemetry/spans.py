"""Spans: one per delivery (or sweep), and the W3C trace context carried inside the messages
this app queues, so that a step's span links to the step that queued it.

A message's ``traceparent`` is what its sender claims, and anyone with send rights on the queue
can send: it becomes a span **link**, never the parent nor the sampling decision. A delivery span
is the child of the active context (the Functions host's invocation) or a root of its own, so a
forged ``traceparent`` with flags ``00`` cannot keep the message out of the exported traces, and
a chosen trace id cannot splice the message into someone else's trace: the link only records
the claim (its flags dropped), marked ``guest_onboarding.link = queued_by``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import (
    TRACEPARENT_PATTERN,
    AssignmentStep,
    ReminderRequest,
)
from guest_onboarding.ports import Outbox
from guest_onboarding.telemetry.measures import record_message_age
from guest_onboarding.telemetry.names import (
    DELIVERY_COUNT,
    LINK,
    MESSAGE_ID,
    QUEUE,
    QUEUED_BY,
    SCOPE,
    STEP,
)
from guest_onboarding.wire import load_object

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

_tracer = trace.get_tracer(SCOPE)
_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The active span's W3C ``traceparent``, or None when no span is recording (telemetry off)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


_TRACEPARENT = re.compile(TRACEPARENT_PATTERN)


def message_traceparent(body: bytes | str) -> str | None:
    """The ``traceparent`` a step or reminder message carries, if any and well formed. Read
    before the message is validated, so that even a rejected message's span has its link;
    the handler still validates the whole message."""
    try:
        data = load_object(body)
    except InvalidMessage:
        return None
    carrier = data.get("reminder") if set(data) == {"reminder"} else data
    value = carrier.get("traceparent") if isinstance(carrier, dict) else None
    return value if isinstance(value, str) and _TRACEPARENT.match(value) else None


def _links(traceparent: str | None) -> list[Link]:
    """The step a message says queued it, as a link: its trace and span ids only (the flags,
    which a sampler would read, are dropped), never a parent. None for an absent or invalid
    (all-zero) context."""
    if traceparent is None:
        return []
    claimed = trace.get_current_span(_propagator.extract({"traceparent": traceparent}))
    context = claimed.get_span_context()
    if not context.is_valid:
        return []
    unsampled = SpanContext(
        trace_id=context.trace_id,
        span_id=context.span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    return [Link(unsampled, {LINK: QUEUED_BY})]


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
    """The span of one delivery (or of the sweep): the child of the active context (the
    Functions host's invocation) or a root, linked to the step that queued the message
    (``traceparent``). Exceptions are not recorded on it (their messages may hold personal
    data): :func:`record_outcome` sets the status and error code."""
    attributes: dict[str, AttributeValue] = {STEP: step}
    if queue is not None:
        attributes[QUEUE] = queue
    if message_id:
        attributes[MESSAGE_ID] = message_id
    if dequeue_count is not None:
        attributes[DELIVERY_COUNT] = dequeue_count
    with _tracer.start_as_current_span(
        step,
        kind=kind,
        links=_links(traceparent),
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
    """The span of one queue delivery, linked to the step that queued the message (its
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
    reminder with the active span's ``traceparent``: the step that handles them links to the
    step that queued them, across the queue hop. The handlers stay free of OpenTelemetry."""

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
