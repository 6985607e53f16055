"""CPU time per onboarding in our process, the emulator excluded.

The entrypoints run in this process with the real adapters (msgraph-sdk against a zero-latency
Graph emulator in its own process, Tables and Queues on Azurite), driven by a minimal loop that
plays the host: receive, call the entrypoint, delete. ``time.process_time`` is summed around the
entrypoint calls only (the handler's own work: validation, ledger, outbox, Graph adapter), and
separately for the whole loop (the driver's queue receives and deletes included).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from azure.storage.queue.aio import QueueClient

from bench.common import guest_address, hr_message
from devstack.stack import LocalStack


async def _drive(
    stack: LocalStack, settings: dict[str, str], n: int, warmup: int
) -> dict[str, Any]:
    from guest_onboarding.adapters.graph import GraphDirectory
    from guest_onboarding.adapters.storage import QueueOutbox, TableLedger
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

    await onboard("cpu-warmup", warmup)  # imports, token, connections
    outcomes.clear()
    handler, total, wall = await onboard("cpu", n)
    assert isinstance(rt.directory, GraphDirectory)
    assert isinstance(rt.ledger, TableLedger) and isinstance(rt.outbox, QueueOutbox)
    await rt.directory.aclose()
    await rt.ledger.close()
    await rt.outbox.close()
    await invitations.close()
    await assignments.close()
    return {
        "onboardings": n,
        "outcomes": outcomes,
        "handler_cpu_ms_per_onboarding": handler * 1000 / n,
        "loop_cpu_ms_per_onboarding": total * 1000 / n,
        "wall_ms_per_onboarding": wall * 1000 / n,
    }


def measure(stack: LocalStack, *, n: int = 200, warmup: int = 10) -> dict[str, Any]:
    """Onboard ``n`` guests (2 groups + 1 app role each) in process; CPU per onboarding.

    Graph calls go through the shared Graph budget (its table on Azurite), paced far above what
    one process sends here: the figure includes the pacing's own cost, not waiting for slots."""
    from bench.common import app_pacing, environment

    control = stack.emulator.control
    control.reset()
    control.set_faults(latency_ms=0)
    control.set_limits(throttling=False)
    settings = stack.settings | app_pacing(1000.0)
    with environment(settings):
        return asyncio.run(_drive(stack, settings, n, warmup))
