"""OpenTelemetry for the app: a span per step, the onboarding metrics, the W3C trace context
carried inside the messages this app queues, and the export pipeline, configured once per process.

Importing this module loads the OpenTelemetry *API* only (no SDK, no exporter). The entrypoints
import it at the first invocation, never while the host indexes the app, and until a provider is
configured every call below is the API's no-op.

Export (:func:`configure`, once per process, from the platform settings in
``config.TelemetrySettings``), first match wins:

- ``APPLICATIONINSIGHTS_CONNECTION_STRING``: Microsoft's distro (``azure-monitor-opentelemetry``)
  for traces and metrics, with the Azure SDK's spans (Storage) and httpx's (Graph) and no other
  auto-instrumentation;
  logs stay with the Functions host, which already ships the worker's log lines;
- ``OTEL_EXPORTER_OTLP_ENDPOINT``: OTLP over HTTP (local development: a collector, Jaeger, Aspire);
- ``OTEL_TRACES_EXPORTER=console``: the console (``make run``).

No personal data leaves through telemetry: this module sets every attribute the app's spans and
metrics carry, from masked or hashed values only; the SDKs' own spans (httpx's for Graph, the
Azure SDK's for Storage) pass through :class:`RedactingSpanProcessor` before any exporter, which
cuts what a URL could carry (Graph ``$filter`` values, Table row keys) and exception messages.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from guest_onboarding.config import TelemetrySettings
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.messages import AssignmentStep, ReminderRequest
from guest_onboarding.ports import Outbox
from guest_onboarding.wire import load_object

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.view import View
    from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
    from opentelemetry.util.types import AttributeValue

log = logging.getLogger("guest_onboarding")

SCOPE = "guest_onboarding"

# ---- attribute names (the only ones the app sets) -----------------------------------------------

OUTCOME = "guest_onboarding.outcome"
RESULT = "guest_onboarding.result"
STEP = "guest_onboarding.step"
STEP_KIND = "guest_onboarding.step.kind"
TARGET = "guest_onboarding.step.target"
GUEST = "guest_onboarding.guest"  # masked: a***@fabrikam.example
GUEST_REF = "guest_onboarding.guest_ref"  # a hash of the canonical address (a correlation key)
EXTERNAL_REF = "guest_onboarding.external_ref"  # a hash of HR's external id
REMINDER_NUMBER = "guest_onboarding.reminder.number"
ERROR_TYPE = "error.type"  # our rejection code or Graph's error code
QUEUE = "messaging.destination.name"
MESSAGE_ID = "messaging.message.id"
DELIVERY_COUNT = "messaging.message.delivery_count"

# ---- metrics ------------------------------------------------------------------------------------

INVITATIONS = "guest_onboarding.invitations"
REMINDERS = "guest_onboarding.reminders"
REDEMPTIONS = "guest_onboarding.redemptions"
TIME_TO_REDEEM = "guest_onboarding.time_to_redeem"
STEPS = "guest_onboarding.steps"
POISONED = "guest_onboarding.poisoned"
GRAPH_THROTTLED = "guest_onboarding.graph.throttled"
GRAPH_RETRY_AFTER = "guest_onboarding.graph.retry_after"
MESSAGE_AGE = "guest_onboarding.queue.message_age"

_HOUR, _DAY = 3600.0, 86400.0
#: Histogram buckets (seconds): redemption takes hours to weeks, a message waits seconds to hours.
TIME_TO_REDEEM_BUCKETS = tuple(
    [_HOUR, 6 * _HOUR]
    + [d * _DAY for d in (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 60.0, 90.0)]
)
MESSAGE_AGE_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, _HOUR, 6 * _HOUR)
RETRY_AFTER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_meter = metrics.get_meter(SCOPE)
_invitations = _meter.create_counter(
    INVITATIONS, unit="{invitation}", description="Invitations sent to new guests"
)
_reminders = _meter.create_counter(
    REMINDERS, unit="{reminder}", description="Reminder invitations re-sent, by reminder number"
)
_redemptions = _meter.create_counter(
    REDEMPTIONS, unit="{guest}", description="Guests the sweep found redeemed"
)
_time_to_redeem = _meter.create_histogram(
    TIME_TO_REDEEM, unit="s", description="From the first invitation to redemption"
)
_steps = _meter.create_counter(
    STEPS,
    unit="{step}",
    description="Deliveries handled, by step (invite, assign, reminder), assignment kind and "
    "result (done, failed, retried, skipped)",
)
_poisoned = _meter.create_counter(
    POISONED, unit="{message}", description="Messages moved to <queue>-poison, by error code"
)
_graph_throttled = _meter.create_counter(
    GRAPH_THROTTLED, unit="{response}", description="Graph answers 429 Too Many Requests"
)
_graph_retry_after = _meter.create_histogram(
    GRAPH_RETRY_AFTER, unit="s", description="Retry-After of Graph's 429 answers"
)
_message_age = _meter.create_histogram(
    MESSAGE_AGE, unit="s", description="Time from enqueue to dequeue (deliberate delays included)"
)

_tracer = trace.get_tracer(SCOPE)
_propagator = TraceContextTextMapPropagator()

# ---- outcomes -----------------------------------------------------------------------------------

#: Outcomes that end a delivery without doing its work, for good.
FAILED_OUTCOMES = frozenset({"rejected", "poisoned", "tenant_stop"})
#: Outcomes that put the message (or a copy) back for later.
RETRIED_OUTCOMES = frozenset({"throttled", "retrying", "retry", "deferred"})
#: Retries after an error (a 5xx, a timeout): the attempt failed. Throttling and deferral are
#: the designed flow, not errors.
ERROR_RETRIES = frozenset({"retrying", "retry"})
#: Outcomes where nothing was due.
SKIPPED_OUTCOMES = frozenset({"skipped", "not_scheduled"})


def result_of(outcome: str) -> str:
    """``done``, ``failed``, ``retried`` or ``skipped`` for a delivery ``outcome``."""
    if outcome in FAILED_OUTCOMES:
        return "failed"
    if outcome in RETRIED_OUTCOMES:
        return "retried"
    if outcome in SKIPPED_OUTCOMES:
        return "skipped"
    return "done"


# ---- spans and context --------------------------------------------------------------------------


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


#: Log-line fields that become span attributes (all masked or hashed by the entrypoints).
_SPAN_FIELDS = {
    "guest": GUEST,
    "guest_ref": GUEST_REF,
    "external_ref": EXTERNAL_REF,
    "kind": STEP_KIND,
    "target": TARGET,
    "reminder": REMINDER_NUMBER,
    "error": ERROR_TYPE,
}


def record_outcome(step: str, outcome: str, fields: Mapping[str, Any]) -> None:
    """A delivery ended with ``outcome``: annotate its span and count it. ``fields`` are the
    step's log-line fields (``guest`` masked, ``external_ref`` hashed, ``kind``, ``target``,
    ``reminder``, ``error``); nothing else is recorded."""
    span = trace.get_current_span()
    result = result_of(outcome)
    if span.is_recording():
        span.update_name(step)
        span.set_attribute(STEP, step)
        span.set_attribute(OUTCOME, outcome)
        span.set_attribute(RESULT, result)
        for name, attribute in _SPAN_FIELDS.items():
            value = fields.get(name)
            if isinstance(value, str | int):
                span.set_attribute(attribute, value)
        if result == "failed" or outcome in ERROR_RETRIES:
            span.set_status(Status(StatusCode.ERROR, str(fields.get("error") or outcome)))
    dimensions: dict[str, AttributeValue] = {STEP: step, OUTCOME: outcome, RESULT: result}
    if isinstance(fields.get("kind"), str):
        dimensions[STEP_KIND] = fields["kind"]
    if result == "failed":
        dimensions[ERROR_TYPE] = str(fields.get("error") or "unknown")
    _steps.add(1, dimensions)
    if result == "failed" and outcome != "tenant_stop":
        _poisoned.add(1, {STEP: step, ERROR_TYPE: str(fields.get("error") or "unknown")})
    if step == "invite" and outcome == "invited":
        _invitations.add(1)
    elif step == "reminder" and outcome == "sent":
        _reminders.add(1, {REMINDER_NUMBER: int(fields.get("reminder") or 0)})


def record_message_age(queue: str, inserted_at: datetime | None, now: datetime) -> None:
    """How long the message waited on ``queue`` (re-queued copies include their delay)."""
    if inserted_at is None:
        return
    if inserted_at.tzinfo is None:
        inserted_at = inserted_at.replace(tzinfo=now.tzinfo)
    _message_age.record(max(0.0, (now - inserted_at).total_seconds()), {QUEUE: queue})


#: The sweep span's event for each guest found redeemed (a row of `traces` in Application Insights).
REDEEMED_EVENT = "guest_onboarding.redeemed"
TIME_TO_REDEEM_ATTRIBUTE = "guest_onboarding.time_to_redeem_seconds"


def record_sweep(
    counts: Mapping[str, int], redemptions: Iterable[tuple[str, str, float | None]]
) -> None:
    """The sweep's summary on its span; each redemption (masked guest, guest ref, seconds since
    the first invitation) as an event of the span and in the metrics."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(STEP, "sweep")
        span.set_attribute(OUTCOME, "finished")
        for name, value in counts.items():
            span.set_attribute(f"guest_onboarding.sweep.{name}", value)
        if counts.get("errors"):
            span.set_status(Status(StatusCode.ERROR, "some guests failed"))
    _steps.add(1, {STEP: "sweep", OUTCOME: "finished", RESULT: "done"})
    if counts.get("redeemed"):
        _redemptions.add(counts["redeemed"])
    for guest, guest_ref, seconds in redemptions:
        attributes: dict[str, AttributeValue] = {GUEST: guest, GUEST_REF: guest_ref}
        if seconds is not None:
            _time_to_redeem.record(max(0.0, seconds))
            attributes[TIME_TO_REDEEM_ATTRIBUTE] = max(0.0, seconds)
        if span.is_recording():
            span.add_event(REDEEMED_EVENT, attributes)


def record_graph_throttled(retry_after_seconds: float) -> None:
    """Graph answered 429, asking to wait ``retry_after_seconds``."""
    _graph_throttled.add(1)
    _graph_retry_after.record(retry_after_seconds)


# ---- trace context inside the messages this app queues ------------------------------------------

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


# ---- keeping personal data out of the SDKs' spans -----------------------------------------------

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


_redacting_class_cache: list[type] = []


def _redacting_class() -> type:
    if _redacting_class_cache:
        return _redacting_class_cache[0]
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

    _redacting_class_cache.append(RedactingSpanProcessor)
    return RedactingSpanProcessor


# ---- the export pipeline ------------------------------------------------------------------------


def views() -> list[View]:
    """Histogram buckets fit for each measure (the SDK's defaults stop at 10 s)."""
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    return [
        View(
            instrument_name=name,
            aggregation=ExplicitBucketHistogramAggregation(boundaries=buckets),
        )
        for name, buckets in (
            (TIME_TO_REDEEM, TIME_TO_REDEEM_BUCKETS),
            (MESSAGE_AGE, MESSAGE_AGE_BUCKETS),
            (GRAPH_RETRY_AFTER, RETRY_AFTER_BUCKETS),
        )
    ]


def enable_azure_sdk_spans() -> None:
    """The Azure SDK (Storage Tables and Queues) creates OpenTelemetry spans for its calls."""
    from azure.core.settings import settings
    from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan

    settings.tracing_implementation = OpenTelemetrySpan


#: kiota's tracers (msgraph-sdk's HTTP layer): about ten internal spans per Graph call (the
#: adapter, each middleware handler, the token), none with the HTTP status. They are switched
#: off in favour of one HTTP client span per Graph request (the httpx instrumentation), which
#: Application Insights shows as a dependency with its result code; this also halves the CPU
#: that telemetry adds to an onboarding (``make bench``).
KIOTA_SCOPES = frozenset(
    {
        "com.microsoft.com:microsoft-kiota-http-httpx",
        "microsoft-kiota-authentication-azure",
        "microsoft-python-kiota-abstractions",
    }
)


def _without_kiota(scope: Any) -> Any:
    from opentelemetry.sdk.trace import _TracerConfig

    return _TracerConfig(is_enabled=scope.name not in KIOTA_SCOPES)


def silence_kiota(tracer_provider: Any) -> bool:
    """Switch kiota's tracers off on an SDK tracer provider (the SDK's tracer configurator, still
    marked experimental: without it, kiota's spans stay, redacted like the rest)."""
    configure_tracers = getattr(tracer_provider, "_set_tracer_configurator", None)
    if configure_tracers is None:
        return False
    configure_tracers(tracer_configurator=_without_kiota)
    return True


def instrument_graph_http() -> None:
    """One client span per HTTP request of the Graph client (httpx)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_sdks(tracer_provider: Any) -> None:
    """Graph and Storage calls as child spans: the Azure SDK's spans for Storage, httpx's for
    Graph (kiota's own silenced)."""
    enable_azure_sdk_spans()
    instrument_graph_http()
    silence_kiota(tracer_provider)


#: The distro's auto-instrumentations this app does not use (it has no web framework, database
#: or requests-based client). ``azure_sdk`` (Storage) and ``httpx`` (Graph) stay on.
_DISTRO_INSTRUMENTATIONS_OFF = (
    "django",
    "fastapi",
    "flask",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)


#: The logger the distro's log exporter listens to: none of the app's (see below).
UNUSED_LOGGER = "guest_onboarding.telemetry.not_exported"


def _configure_azure_monitor(settings: TelemetrySettings) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=settings.connection_string,
        # The Functions host already sends the worker's log lines (the step lines included);
        # exporting them here too would write every line twice into `traces`. The distro takes
        # its "no logs" switch from OTEL_LOGS_EXPORTER only, a setting the host may read too,
        # so its log handler goes on a logger nothing writes to instead.
        logger_name=UNUSED_LOGGER,
        # Every trace (the distro's default is 5 traces a second, which cuts onboardings in
        # pieces). OTEL_TRACES_SAMPLER=microsoft.fixed_percentage with OTEL_TRACES_SAMPLER_ARG
        # lowers it; that sampler decides by trace id, so an onboarding is kept or dropped whole.
        sampling_ratio=1.0,
        enable_live_metrics=False,
        enable_performance_counters=False,
        span_processors=[redacting_span_processor()],
        views=views(),
        instrumentation_options={name: {"enabled": False} for name in _DISTRO_INSTRUMENTATIONS_OFF},
    )
    silence_kiota(trace.get_tracer_provider())


def build_providers(
    span_exporter: Any, metric_reader: Any, *, batch: bool = True
) -> tuple[TracerProvider, MeterProvider]:
    """A tracer provider that redacts, then exports to ``span_exporter`` (in batches, or each
    span as it ends), and a meter provider read by ``metric_reader``, both with this app's
    resource and views. Tests use it with the SDK's in-memory exporter and reader."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": "guest-onboarding"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(redacting_span_processor())
    exporting = BatchSpanProcessor if batch else SimpleSpanProcessor
    tracer_provider.add_span_processor(exporting(span_exporter))
    meter_provider = MeterProvider(metric_readers=[metric_reader], resource=resource, views=views())
    return tracer_provider, meter_provider


def _exporters(settings: TelemetrySettings) -> tuple[Any, Any] | None:
    """The span exporter and metric reader for OTLP or the console, or None."""
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(), PeriodicExportingMetricReader(OTLPMetricExporter())
    if settings.console:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(), PeriodicExportingMetricReader(ConsoleMetricExporter())
    return None


_configured = threading.Lock()
_done: list[str] = []


def configure(settings: TelemetrySettings | None = None) -> str:
    """Set up export once per process (later calls do nothing); the destination chosen:
    ``azure_monitor``, ``otlp``, ``console`` or ``none``. A failure is logged, never raised:
    telemetry must not stop onboarding."""
    with _configured:
        if _done:
            return _done[0]
        settings = settings or TelemetrySettings.from_env()
        destination = "none"
        try:
            if settings.connection_string:
                _configure_azure_monitor(settings)
                destination = "azure_monitor"
            elif (exporters := _exporters(settings)) is not None:
                tracer_provider, meter_provider = build_providers(*exporters)
                trace.set_tracer_provider(tracer_provider)
                metrics.set_meter_provider(meter_provider)
                instrument_sdks(tracer_provider)
                destination = "otlp" if settings.otlp_endpoint else "console"
        except Exception as exc:  # telemetry is never a reason to fail a message
            log.warning("telemetry not configured: %s", type(exc).__name__)
            destination = "none"
        _done.append(destination)
        return destination
