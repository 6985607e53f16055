"""CPU time per onboarding in our process, the emulator excluded.

The entrypoints run in this process with the real adapters (msgraph-sdk against a zero-latency
Graph emulator in its own process, Tables and Queues on Azurite), driven by a minimal loop that
plays the host: receive, call the entrypoint, delete. ``time.process_time`` is summed around the
entrypoint calls only (the handler's own work: validation, ledger, outbox, Graph adapter), and
separately for the whole loop (the driver's queue receives and deletes included).

With ``telemetry``, the process first configures OpenTelemetry as a deployment does (the Azure
Monitor distro, ``guest_onboarding.telemetry.configure``), exporting to a local stand-in for the
ingestion endpoint (``bench/ingestion_sink.py``, another process): spans, the Azure SDK's and
kiota's spans, metrics, redaction and the exporter's serialization all count. OpenTelemetry has
one global provider per process, so the run without telemetry must come first.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.storage.queue.aio import QueueClient

from bench.common import REPO_ROOT, app_pacing, environment, guest_address, hr_message
from devstack.stack import LocalStack


@contextmanager
def ingestion_sink() -> Iterator[str]:
    """``bench/ingestion_sink.py`` running; its connection string."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        sink = subprocess.Popen(
            [sys.executable, "-m", "bench.ingestion_sink", str(port_file)], cwd=REPO_ROOT
        )
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise RuntimeError("the ingestion sink did not start")
                time.sleep(0.05)
            endpoint = f"http://127.0.0.1:{port_file.read_text()}/"
            yield (
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                f"IngestionEndpoint={endpoint};LiveEndpoint={endpoint}"
            )
        finally:
            sink.terminate()
            sink.wait(timeout=10)


def _configure_telemetry(connection_string: str) -> str:
    from guest_onboarding.config import TelemetrySettings
    from guest_onboarding.telemetry.setup import configure

    return configure(TelemetrySettings(connection_string=connection_string))


def _flush_telemetry(*, shutdown: bool = False) -> None:
    from opentelemetry import _logs, metrics, trace

    providers = [trace.get_tracer_provider(), metrics.get_meter_provider()]
    if shutdown:
        providers.append(_logs.get_logger_provider())
    for provider in providers:
        method = getattr(provider, "shutdown" if shutdown else "force_flush", None)
        if method is not None:
            method()


async def _drive(
    stack: LocalStack,
    settings: dict[str, str],
    n: int,
    warmup: int,
    run: str,
    after_warmup: Callable[[], object] | None = None,
) -> dict[str, Any]:
    from guest_onboarding.bootstrap import build_runtime
    from guest_onboarding.config import Settings
    from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message

    rt = build_runtime(Settings.from_env(settings))
    connection = stack.azurite.connection_string
    invitations = QueueClient.from_connection_string(connection, stack.invitations_queue)
    assignments = QueueClient.from_connection_string(connection, stack.assignments_queue)
    outcomes: dict[str, int] = {}

    async def drain(queue: QueueClient, handler: Any) -> float:
        """Deliver every message on ``queue``; handler CPU seconds."""
        spent = 0.0
        while True:
            batch = [
                m async for m in queue.receive_messages(max_messages=32, visibility_timeout=60)
            ]
            if not batch:
                return spent
            for message in batch:
                start = time.process_time()
                outcome = await handler(
                    body=message.content,
                    message_id=message.id,
                    dequeue_count=message.dequeue_count,
                    rt=rt,
                )
                spent += time.process_time() - start
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                await queue.delete_message(message)

    async def onboard(run: str, count: int) -> tuple[float, float, float]:
        for i in range(count):
            await invitations.send_message(json.dumps(hr_message(guest_address(run, i))))
        total = time.process_time()
        wall = time.perf_counter()
        handler = await drain(invitations, handle_invitation_message)
        handler += await drain(assignments, handle_assignment_message)
        return handler, time.process_time() - total, time.perf_counter() - wall

    # Addresses of their own per run: a second run on the same stack must not find the first
    # run's rows (their users are gone from the reset emulator, which the app takes for look-up
    # lag and waits out, as it should).
    await onboard(f"{run}-warmup", warmup)  # imports, token, connections
    outcomes.clear()
    if after_warmup is not None:
        after_warmup()
    handler, total, wall = await onboard(run, n)
    flushed = time.process_time()
    _flush_telemetry()  # what the batch exporter still holds counts too
    total += time.process_time() - flushed
    await rt.aclose()
    await invitations.close()
    await assignments.close()
    return {
        "onboardings": n,
        "outcomes": outcomes,
        "handler_cpu_ms_per_onboarding": handler * 1000 / n,
        "loop_cpu_ms_per_onboarding": total * 1000 / n,
        "wall_ms_per_onboarding": wall * 1000 / n,
    }


#: Keeps the exporter from calling anything but the sink (no statsbeat, no remote settings) and
#: from sending its own usage counters to the sink at exit, when the sink is gone.
_EXPORTER_OFFLINE = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
}


def measure(
    stack: LocalStack, *, n: int = 200, warmup: int = 10, telemetry: bool = False
) -> dict[str, Any]:
    """Onboard ``n`` guests (2 groups + 1 app role each) in process; CPU per onboarding, with
    or without telemetry exported (see the module docstring)."""
    control = stack.emulator.control
    control.reset()
    control.set_faults(latency_ms=0)
    control.set_limits(throttling=False)
    settings = stack.settings | app_pacing(1000.0)
    if not telemetry:
        with environment(settings):
            result = asyncio.run(_drive(stack, settings, n, warmup, "cpu-off"))
        return result | {"telemetry": "none"}
    with ingestion_sink() as connection_string, environment(settings | _EXPORTER_OFFLINE):
        destination = _configure_telemetry(connection_string)
        result = asyncio.run(_drive(stack, settings, n, warmup, "cpu-on"))
        _flush_telemetry(shutdown=True)  # while the sink still answers
    return result | {"telemetry": destination}
