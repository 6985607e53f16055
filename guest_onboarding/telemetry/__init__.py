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
    record_message_age,
    record_outcome,
    record_sweep,
)
from guest_onboarding.telemetry.names import (
    DELIVERY_COUNT,
    ERROR_RETRIES,
    ERROR_TYPE,
    EXTERNAL_REF,
    FAILED_OUTCOMES,
    GRAPH_RETRY_AFTER,
    GRAPH_THROTTLED,
    GUEST,
    GUEST_REF,
    INVITATIONS,
    MESSAGE_AGE,
    MESSAGE_AGE_BUCKETS,
    MESSAGE_ID,
    OUTCOME,
    POISONED,
    QUEUE,
    REDEEMED_EVENT,
    REDEMPTIONS,
    REMINDER_NUMBER,
    REMINDERS,
    RESULT,
    RETRIED_OUTCOMES,
    RETRY_AFTER_BUCKETS,
    SCOPE,
    SKIPPED_OUTCOMES,
    STEP,
    STEP_KIND,
    STEPS,
    TARGET,
    TIME_TO_REDEEM,
    TIME_TO_REDEEM_ATTRIBUTE,
    TIME_TO_REDEEM_BUCKETS,
    result_of,
)
from guest_onboarding.telemetry.redaction import (
    REDACTED,
    URL_ATTRIBUTES,
    redact_url,
    redacting_span_processor,
)
from guest_onboarding.telemetry.setup import (
    KIOTA_SCOPES,
    build_providers,
    configure,
    enable_azure_sdk_spans,
    exporters_for,
    instrument_sdks,
    silence_kiota,
    views,
)
from guest_onboarding.telemetry.spans import (
    TracingOutbox,
    current_traceparent,
    delivery_span,
    message_traceparent,
    step_span,
    with_trace_context,
)

__all__ = [
    "DELIVERY_COUNT",
    "ERROR_RETRIES",
    "ERROR_TYPE",
    "EXTERNAL_REF",
    "FAILED_OUTCOMES",
    "GRAPH_RETRY_AFTER",
    "GRAPH_THROTTLED",
    "GUEST",
    "GUEST_REF",
    "INVITATIONS",
    "KIOTA_SCOPES",
    "MESSAGE_AGE",
    "MESSAGE_AGE_BUCKETS",
    "MESSAGE_ID",
    "OUTCOME",
    "POISONED",
    "QUEUE",
    "REDACTED",
    "REDEEMED_EVENT",
    "REDEMPTIONS",
    "REMINDERS",
    "REMINDER_NUMBER",
    "RESULT",
    "RETRIED_OUTCOMES",
    "RETRY_AFTER_BUCKETS",
    "SCOPE",
    "SKIPPED_OUTCOMES",
    "STEP",
    "STEPS",
    "STEP_KIND",
    "TARGET",
    "TIME_TO_REDEEM",
    "TIME_TO_REDEEM_ATTRIBUTE",
    "TIME_TO_REDEEM_BUCKETS",
    "URL_ATTRIBUTES",
    "TracingOutbox",
    "build_providers",
    "configure",
    "current_traceparent",
    "delivery_span",
    "enable_azure_sdk_spans",
    "exporters_for",
    "instrument_sdks",
    "message_traceparent",
    "record_graph_throttled",
    "record_message_age",
    "record_outcome",
    "record_sweep",
    "redact_url",
    "redacting_span_processor",
    "result_of",
    "silence_kiota",
    "step_span",
    "views",
    "with_trace_context",
]
