"""The real adapters (Graph emulator over msgraph-sdk, Azurite queues and tables) wired into a
Runtime, plus a small in-test driver that drains the queues through the entrypoints."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from azure.storage.queue import QueueServiceClient

from guest_onboarding import bootstrap
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from tests.fixtures.graph_emulator import GraphEmulator
from tests.support import SETTINGS_ENV


def stack_settings(connection_string: str, graph_base_url: str, **extra: str) -> dict[str, str]:
    """App settings for one isolated test: unique queue and table names."""
    suffix = uuid.uuid4().hex[:10]
    return {
        **SETTINGS_ENV,
        "AzureWebJobsStorage": connection_string,
        "GRAPH_BASE_URL": graph_base_url,
        "INVITATIONS_QUEUE": f"inv-{suffix}",
        "ASSIGNMENTS_QUEUE": f"asg-{suffix}",
        "GUEST_LEDGER_TABLE": f"ledger{suffix}",
        "GRAPH_BUDGET_TABLE": f"budget{suffix}",
        **extra,
    }


@dataclass
class Stack:
    rt: Runtime
    graph: GraphEmulator
    queues: QueueServiceClient

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    def send(self, message: str | dict[str, Any], queue: str | None = None) -> None:
        body = message if isinstance(message, str) else json.dumps(message)
        client = self.queues.get_queue_client(queue or self.settings.invitations_queue)
        try:
            client.create_queue()
        except Exception:
            pass
        client.send_message(body)

    def peek_all(self, queue: str) -> list[str]:
        client = self.queues.get_queue_client(queue)
        try:
            return [m.content for m in client.peek_messages(max_messages=32)]
        except Exception:
            return []

    def poison(self, queue: str) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.peek_all(f"{queue}-poison")]

    async def drain(self, *, rounds: int = 20) -> list[str]:
        """Deliver every visible message on both queues to its entrypoint until both are empty;
        a failing delivery is left for the queue (visible again after 1 s)."""
        outcomes: list[str] = []
        for _ in range(rounds):
            delivered = 0
            for queue, handler in (
                (self.settings.invitations_queue, handle_invitation_message),
                (self.settings.assignments_queue, handle_assignment_message),
            ):
                client = self.queues.get_queue_client(queue)
                try:
                    batch = list(client.receive_messages(max_messages=32, visibility_timeout=30))
                except Exception:
                    continue
                for message in batch:
                    delivered += 1
                    try:
                        outcome = await handler(
                            body=message.content,
                            message_id=message.id,
                            dequeue_count=message.dequeue_count,
                            rt=self.rt,
                        )
                    except Exception:
                        client.update_message(message, visibility_timeout=1)
                        outcomes.append("error")
                        continue
                    client.delete_message(message)
                    outcomes.append(outcome)
            if delivered == 0:
                return outcomes
        return outcomes


def build_runtime(settings: Settings) -> Runtime:
    """The app's own composition root, on these settings."""
    return bootstrap.build_runtime(settings)
