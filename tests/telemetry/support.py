"""The SDK's in-memory exporter and reader behind the global providers, once per test session
(OpenTelemetry allows one global provider per process), and readers of what they collected.

Spans are recorded only inside :func:`recording`: elsewhere the global tracer provider is the
API's no-op, as in a deployment without telemetry, so no other test sees a ``traceparent``
appear in the messages it compares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from azure.monitor.opentelemetry.exporter.export.metrics._exporter import (
    APPLICATION_INSIGHTS_METRIC_TEMPORALITIES as APPLICATION_INSIGHTS_TEMPORALITIES,
)
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from guest_onboarding.telemetry.setup import build_providers, instrument_sdks

#: (metric name, sorted attribute items) -> a counter's value, or a histogram's (count, sum).
Points = dict[tuple[str, tuple[tuple[str, Any], ...]], Any]


@dataclass
class Collected:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    #: A second reader with the Azure Monitor exporter's temporality (deltas: each reading is
    #: what changed since the one before), as the distro's periodic reader asks for; read by
    #: tests/telemetry/alerts.py only.
    exported: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self) -> Points:
        """Every data point so far (cumulative), keyed by metric name and attributes."""
        found: Points = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        key = (metric.name, tuple(sorted((point.attributes or {}).items())))
                        if isinstance(point, HistogramDataPoint):
                            found[key] = (point.count, point.sum)
                        else:
                            found[key] = point.value
        return found


class _SwitchedTracer(trace.Tracer):
    def __init__(self, switch: _Switch, sdk_tracer: trace.Tracer) -> None:
        self._switch = switch
        self._sdk = sdk_tracer
        self._off = trace.NoOpTracer()

    def _now(self) -> trace.Tracer:
        return self._sdk if self._switch.on else self._off

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._now().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._now().start_as_current_span(*args, **kwargs)


class _Switch(trace.TracerProvider):
    """The global tracer provider of the test process: the SDK's while recording, else no-op."""

    def __init__(self, sdk: trace.TracerProvider) -> None:
        self.sdk = sdk
        self.on = False

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwitchedTracer(self, self.sdk.get_tracer(*args, **kwargs))


_collected: list[tuple[Collected, _Switch]] = []


def _pipeline() -> tuple[Collected, _Switch]:
    """The process-wide in-memory pipeline, built by the app's own ``build_providers`` (the
    redacting processor first, as in production)."""
    if not _collected:
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        exported = InMemoryMetricReader(preferred_temporality=APPLICATION_INSIGHTS_TEMPORALITIES)
        tracer_provider, meter_provider = build_providers(
            exporter, reader, batch=False, more_metric_readers=[exported]
        )
        switch = _Switch(tracer_provider)
        trace.set_tracer_provider(switch)
        metrics.set_meter_provider(meter_provider)
        assert trace.get_tracer_provider() is switch, "another provider was set first"
        instrument_sdks(tracer_provider)
        _collected.append((Collected(exporter, reader, exported), switch))
    return _collected[0]


@contextmanager
def recording() -> Iterator[Collected]:
    """Record spans (from no earlier ones) until the block ends."""
    collected, switch = _pipeline()
    collected.spans.clear()
    switch.on = True
    try:
        yield collected
    finally:
        switch.on = False


def delta(before: Points, after: Points, name: str, **attributes: Any) -> Any:
    """How much the point ``name`` with exactly ``attributes`` moved between two readings."""
    key = (name, tuple(sorted(attributes.items())))
    old, new = before.get(key), after.get(key)
    if isinstance(new, tuple):
        old = old or (0, 0.0)
        return (new[0] - old[0], new[1] - old[1])
    return (new or 0) - (old or 0)


def total(before: Points, after: Points, name: str) -> Any:
    """A counter's change over every attribute set."""
    return sum(
        v - before.get(k, 0) for k, v in after.items() if k[0] == name and not isinstance(v, tuple)
    )


def by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    result: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        result.setdefault(span.name, []).append(span)
    return result


def everything_exported(spans: list[ReadableSpan], points: Points) -> Iterator[str]:
    """Every string a backend would receive: span names, attribute keys and values, events and
    their attributes, links, resource attributes, metric names and dimensions."""
    for span in spans:
        yield span.name
        for mapping in (span.attributes or {}, span.resource.attributes):
            for key, value in mapping.items():
                yield key
                yield str(value)
        for event in span.events:
            yield event.name
            for key, value in (event.attributes or {}).items():
                yield key
                yield str(value)
        for link in span.links:
            for key, value in (link.attributes or {}).items():
                yield key
                yield str(value)
        if span.status.description:
            yield span.status.description
    for name, attributes in points:
        yield name
        for key, value in attributes:
            yield key
            yield str(value)
