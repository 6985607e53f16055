"""The outbox on Azure Queues: assignments, reminders, deferrals and ``<queue>-poison``."""

from __future__ import annotations

import json

from azure.storage.queue.aio import QueueClient, QueueServiceClient

from guest_onboarding.adapters.storage.clients import service_client
from guest_onboarding.adapters.storage.failures import storage_call
from guest_onboarding.config import StorageSettings
from guest_onboarding.internal_messages import AssignmentStep, ReminderRequest
from guest_onboarding.wire import rejection_envelope


class QueueOutbox:
    """The ``Outbox`` port on existing queues (the deployment creates them)."""

    def __init__(
        self, service: QueueServiceClient, *, invitations_queue: str, assignments_queue: str
    ) -> None:
        self._service = service
        self._invitations = invitations_queue
        self._assignments = assignments_queue
        self._clients: dict[str, QueueClient] = {}

    @classmethod
    def create(
        cls, storage: StorageSettings, *, invitations_queue: str, assignments_queue: str
    ) -> QueueOutbox:
        """An outbox on the configured account (connection string or managed identity)."""
        service = service_client(QueueServiceClient, storage, storage.queue_service_uri, "queue")
        return cls(
            service, invitations_queue=invitations_queue, assignments_queue=assignments_queue
        )

    def _queue(self, name: str) -> QueueClient:
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self._service.get_queue_client(name)
        return client

    async def _send(
        self, queue: str, text: str, delay_seconds: float = 0, *, forever: bool = False
    ) -> None:
        # Visibility delays are whole seconds on the service; round up so a Retry-After is honoured.
        delay = int(-(-delay_seconds // 1)) if delay_seconds > 0 else None
        # -1: never expires (the service's default is 7 days).
        ttl = -1 if forever else None
        await self._queue(queue).send_message(text, visibility_timeout=delay, time_to_live=ttl)

    @storage_call("queue an assignment step")
    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None:
        await self._send(self._assignments, step.model_dump_json(exclude_none=True), delay_seconds)

    @storage_call("queue a reminder")
    async def queue_reminder(self, reminder: ReminderRequest) -> None:
        body = {"reminder": reminder.model_dump(exclude_none=True)}
        await self._send(self._invitations, json.dumps(body))

    @storage_call("put an invitation message back")
    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
        await self._send(self._invitations, body, delay_seconds)

    @storage_call("move a message to poison")
    async def reject(
        self,
        *,
        queue: str,
        original: str,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        envelope = rejection_envelope(
            original=original, code=code, message=message, details=details
        )
        # Poison messages never expire: bad input never vanishes.
        await self._send(f"{queue}-poison", envelope, forever=True)

    @storage_call("close the outbox's connections")
    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()
