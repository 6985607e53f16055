"""``make run`` exports telemetry to the console, or to an OTLP endpoint the developer set."""

from __future__ import annotations

from devstack.demo import RUN_TELEMETRY
from guest_onboarding.config import TelemetrySettings
from guest_onboarding.telemetry.setup import exporters_for


def test_make_run_exports_to_the_console_unless_an_otlp_endpoint_is_set() -> None:
    console = TelemetrySettings.from_env(RUN_TELEMETRY)
    exporters = exporters_for(console)
    assert exporters is not None and type(exporters[0]).__name__ == "ConsoleSpanExporter"

    with_otlp = TelemetrySettings.from_env(
        {**RUN_TELEMETRY, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    exporters = exporters_for(with_otlp)
    assert exporters is not None and type(exporters[0]).__name__ == "OTLPSpanExporter"
