"""OpenTelemetry for the app: a span per step, the onboarding metrics, the W3C trace context
carried inside the messages this app queues, and the export pipeline, configured once per process.

Importing this package loads the OpenTelemetry *API* only (no SDK, no exporter). The entrypoints
import it at the first invocation, never while the host indexes the app, and until a provider is
configured every call below is the API's no-op.

Export (:func:`configure`, once per process, from the platform settings in
``config.TelemetrySettings``), first match wins:

- ``APPLICATIONINSIGHTS_CONNECTION_STRING``: Microsoft's distro (``azure-monitor-opentelemetry``)
  for traces and metrics, with the Azure SDK's spans (Storage) and httpx's (Graph) and no other
  auto-instrumentation; logs stay with the Functions host, which already ships the worker's log
  lines;
- ``OTEL_EXPORTER_OTLP_ENDPOINT``: OTLP over HTTP (local development: a collector, Jaeger, Aspire);
- ``OTEL_TRACES_EXPORTER=console``: the console (``make run``).

No personal data leaves through telemetry: this package sets every attribute the app's spans and
metrics carry, from masked or hashed values only; the SDKs' own spans (httpx's for Graph, the
Azure SDK's for Storage) pass through :class:`RedactingSpanProcessor` before any exporter, which
cuts what a URL could carry (Graph ``$filter`` values, Table row keys) and exception messages.

Modules: :mod:`.names` (what is recorded), :mod:`.spans` (spans, trace context in messages),
:mod:`.measures` (metrics, outcomes on spans), :mod:`.redaction`, :mod:`.setup` (export).
"""

from guest_onboarding.telemetry.measures import (
    record_graph_throttled,
    record_outcome,
    record_sweep,
)
from guest_onboarding.telemetry.setup import configure
from guest_onboarding.telemetry.spans import TracingOutbox, delivery_span, step_span

# What the app calls; tests and tools import the rest from the modules themselves.
__all__ = [
    "TracingOutbox",
    "configure",
    "delivery_span",
    "record_graph_throttled",
    "record_outcome",
    "record_sweep",
    "step_span",
]
