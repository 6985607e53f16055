"""``configure`` with Application Insights: the real distro and exporter, in a child process
(one global provider per process), exporting to a local ingestion sink on 127.0.0.1 (nothing
leaves the machine: statsbeat and the control plane are switched off for the child)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from guest_onboarding.config import TelemetrySettings
from guest_onboarding.telemetry.names import INVITATIONS
from guest_onboarding.telemetry.setup import exporters_for

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import logging
    from opentelemetry import metrics, trace
    from guest_onboarding import telemetry
    from guest_onboarding.domain.outcomes import Outcome

    print(telemetry.configure())
    print(telemetry.configure())  # once per process
    with telemetry.step_span("invite", queue="guest-invitations", message_id="m-1"):
        kind = trace.SpanKind.CLIENT  # an HTTP dependency: its URL is exported
        with trace.get_tracer("sdk").start_as_current_span("GET", kind=kind) as call:
            call.set_attribute("http.request.method", "GET")
            call.set_attribute("url.full", "https://g/v1.0/users?$filter=mail eq 'ada@x.example'")
        logging.getLogger("guest_onboarding").warning("a log line, not exported by the app")
        telemetry.record_outcome("invite", Outcome.INVITED, {"guest": "a***@x.example"})
    trace.get_tracer_provider().force_flush()
    metrics.get_meter_provider().force_flush()
    from azure.core.settings import settings
    print(getattr(settings.tracing_implementation(), "__name__", None))
    """
)


class _Sink(BaseHTTPRequestHandler):
    bodies: list[str] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        self.bodies.append(raw.decode("utf-8"))
        answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def sink() -> Iterator[tuple[str, list[str]]]:
    _Sink.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", _Sink.bodies
    server.shutdown()
    server.server_close()


def test_application_insights_gets_redacted_spans_and_metrics_and_no_logs(
    sink: tuple[str, list[str]], tmp_path: Path
) -> None:
    endpoint, bodies = sink
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "TMPDIR": str(tmp_path),  # the exporter's offline storage
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint={endpoint};LiveEndpoint={endpoint}"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["azure_monitor", "azure_monitor", "OpenTelemetrySpan"]

    envelopes = [e for body in bodies for e in _items(body)]
    names = {e["data"]["baseType"] for e in envelopes}  # type: ignore[index]
    assert {"RequestData", "RemoteDependencyData", "MetricData"} <= names
    assert "MessageData" not in names  # logs stay with the Functions host
    everything = "\n".join(bodies)
    assert "ada@x.example" not in everything and "ada%40x.example" not in everything
    assert "$filter={redacted}" in everything
    assert INVITATIONS in everything and "a***@x.example" in everything


def _items(body: str) -> list[dict[str, object]]:
    text = body.strip()
    if text.startswith("["):
        items: list[dict[str, object]] = json.loads(text)
        return items
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_without_a_destination_nothing_is_configured() -> None:
    assert exporters_for(TelemetrySettings()) is None
    console = exporters_for(TelemetrySettings(console=True))
    assert console is not None and type(console[0]).__name__ == "ConsoleSpanExporter"
    otlp = exporters_for(TelemetrySettings(console=True, otlp_endpoint="http://127.0.0.1:4318"))
    assert otlp is not None and type(otlp[0]).__name__ == "OTLPSpanExporter"


def test_the_first_invocation_configures_telemetry_and_indexing_does_not() -> None:
    script = textwrap.dedent(
        """
        import sys
        import function_app
        function_app.app.get_functions()
        indexed = "opentelemetry.sdk" in sys.modules
        from opentelemetry import trace
        from guest_onboarding import entrypoints
        entrypoints.runtime()  # what the first invocation does
        print(indexed, type(trace.get_tracer_provider()).__name__)
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "OTEL_TRACES_EXPORTER": "console",
    }
    child = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["False", "TracerProvider"]


def test_host_json_tells_the_functions_host_to_use_opentelemetry() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"
