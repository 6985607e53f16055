"""The export pipeline, configured once per process (see the package docstring)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from guest_onboarding.config import TelemetrySettings
from guest_onboarding.telemetry.names import (
    GRAPH_RETRY_AFTER,
    MESSAGE_AGE,
    MESSAGE_AGE_BUCKETS,
    RETRY_AFTER_BUCKETS,
    TIME_TO_REDEEM,
    TIME_TO_REDEEM_BUCKETS,
)
from guest_onboarding.telemetry.redaction import redacting_span_processor

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.view import View
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("guest_onboarding")


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
        # lowers it; that sampler decides by trace id, so a step is kept or dropped whole.
        sampling_ratio=1.0,
        enable_live_metrics=False,
        enable_performance_counters=False,
        span_processors=[redacting_span_processor()],
        views=views(),
        instrumentation_options={name: {"enabled": False} for name in _DISTRO_INSTRUMENTATIONS_OFF},
    )
    silence_kiota(trace.get_tracer_provider())


def build_providers(
    span_exporter: Any,
    metric_reader: Any,
    *,
    batch: bool = True,
    more_metric_readers: Sequence[Any] = (),
) -> tuple[TracerProvider, MeterProvider]:
    """A tracer provider that redacts, then exports to ``span_exporter`` (in batches, or each
    span as it ends), and a meter provider read by ``metric_reader`` (and ``more_metric_readers``),
    both with this app's resource and views. Tests use it with the SDK's in-memory exporter and
    readers (one of them with the Azure Monitor exporter's temporality, for the alert tests)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": "guest-onboarding"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(redacting_span_processor())
    exporting = BatchSpanProcessor if batch else SimpleSpanProcessor
    tracer_provider.add_span_processor(exporting(span_exporter))
    meter_provider = MeterProvider(
        metric_readers=[metric_reader, *more_metric_readers], resource=resource, views=views()
    )
    return tracer_provider, meter_provider


def exporters_for(settings: TelemetrySettings) -> tuple[Any, Any] | None:
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
            elif (exporters := exporters_for(settings)) is not None:
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
