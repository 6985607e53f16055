"""The console's storage adapters: HR messages sent in bulk, poison read and replayed, the ledger
read (through the app's own ``TableLedger``), every Storage SDK error turned into a
``StorageError`` that names the queue or table, the account, and the data role an identity needs
there. The only console module that imports the Storage SDKs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from guest_console.storage.ports import (
    PoisonMessage,
    ReplayOutcome,
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    StorageUnreachable,
    read_envelope,
)
from guest_onboarding.adapters.storage.clients import service_client
from guest_onboarding.adapters.storage.ledger import TableLedger
from guest_onboarding.config import StorageSettings
from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry

#: The built-in data roles each operation needs (docs: "Operating it").
QUEUE_SENDER = "Storage Queue Data Message Sender"
QUEUE_PROCESSOR = "Storage Queue Data Message Processor"
TABLE_READER = "Storage Table Data Reader"
#: ``release`` writes the brake's record, a row of the ledger's table.
TABLE_WRITER = "Storage Table Data Contributor"
#: How long a poison scan hides the messages it reads; they are released at once afterwards
#: when the identity may update messages, else they reappear after this.
POISON_LEASE_SECONDS = 30


def storage_error(
    exc: Exception, *, doing: str, kind: str, name: str, account: str, role: str
) -> StorageError:
    """``exc`` (a Storage SDK or azure-identity error) as the operator should read it."""
    where = f"{kind} '{name}' of {account}"
    status = getattr(exc, "status_code", None)
    error_code = getattr(exc, "error_code", None)
    code = str(getattr(error_code, "value", error_code) or "")
    if status == 403 and code != "AuthenticationFailed":
        return StorageAccessDenied(
            f"not allowed to {doing} {where} ({code or 'HTTP 403'}): give your identity the "
            f"'{role}' role on that {kind} (or on the storage account)",
            role=role,
        )
    if status == 404 or isinstance(exc, ResourceNotFoundError):
        return StorageNotFound(
            f"{kind} '{name}' does not exist in {account} ({code or 'HTTP 404'}): check the "
            "settings naming it, or provision the storage (azd provision; locally make run)"
        )
    if isinstance(exc, ClientAuthenticationError):
        return StorageUnreachable(
            f"could not sign in to {account}: {exc.message}. Sign in with `az login` (or set "
            "AZURE_CLIENT_ID for a managed identity); the console never uses account keys"
        )
    if isinstance(exc, ServiceRequestError):
        return StorageUnreachable(
            f"cannot reach {account}: {exc.message}. Locally, start Azurite "
            "(`make run`, or `.venv/bin/python -m devstack.azurite`)"
        )
    message = exc.message if isinstance(exc, AzureError) else str(exc)
    return StorageError(f"could not {doing} {where}: {code or type(exc).__name__}: {message}")


def _without_query(url: str) -> str:
    """An endpoint fit for messages: a SAS in the query string is a secret."""
    return url.split("?", 1)[0].rstrip("/")


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


class QueueOperator:
    """The ``OperatorQueues`` port on existing queues (the deployment creates them)."""

    def __init__(self, service: QueueServiceClient) -> None:
        self._service = service
        self._account = _without_query(service.url)
        self._clients: dict[str, QueueClient] = {}

    @classmethod
    def create(cls, storage: StorageSettings) -> QueueOperator:
        """On the configured account: a connection string, or the queue service URI with
        ``DefaultAzureCredential``."""
        return cls(service_client(QueueServiceClient, storage, storage.queue_service_uri, "queue"))

    def _queue(self, name: str) -> QueueClient:
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self._service.get_queue_client(name)
        return client

    @contextmanager
    def _refusals(self, doing: str, queue: str, role: str) -> Iterator[None]:
        try:
            yield
        except (AzureError, BaseExceptionGroup) as exc:
            first = _first(exc)
            if not isinstance(first, AzureError):
                raise
            raise storage_error(
                first, doing=doing, kind="queue", name=queue, account=self._account, role=role
            ) from first

    async def send_many(
        self,
        queue: str,
        bodies: Sequence[str],
        *,
        concurrency: int,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        client = self._queue(queue)
        pending = iter(bodies)

        async def sender() -> None:
            for body in pending:  # shared by every sender: each body is taken once
                await client.send_message(body)
                if on_sent is not None:
                    on_sent(1)

        with self._refusals("send messages to", queue, QUEUE_SENDER):
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, min(concurrency, len(bodies)))):
                    group.create_task(sender())

    async def _leased(self, poison_queue: str) -> list[QueueMessage]:
        """Every visible message, received with a short lease (peek stops at 32)."""
        client = self._queue(poison_queue)
        found: dict[str, QueueMessage] = {}
        with self._refusals("read messages of", poison_queue, QUEUE_PROCESSOR):
            pages = client.receive_messages(
                messages_per_page=32, visibility_timeout=POISON_LEASE_SECONDS
            ).by_page()
            async for page in pages:
                batch = [message async for message in page]
                if batch and all(message.id in found for message in batch):
                    break  # the lease ran out on a long scan: these came round again
                found.update((message.id, message) for message in batch)
        return sorted(
            found.values(), key=lambda m: m.inserted_on or datetime.min.replace(tzinfo=UTC)
        )

    async def _release(self, poison_queue: str, messages: Collection[QueueMessage]) -> None:
        client = self._queue(poison_queue)

        async def release(message: QueueMessage) -> None:
            try:
                await client.update_message(message, visibility_timeout=0)
            except AzureError:
                pass  # no update right (Message Processor): visible again after the lease

        for start in range(0, len(messages), 64):
            await asyncio.gather(*(release(m) for m in list(messages)[start : start + 64]))

    async def poison(self, queue: str) -> list[PoisonMessage]:
        poison_queue = f"{queue}-poison"
        leased = await self._leased(poison_queue)
        await self._release(poison_queue, leased)
        return [
            PoisonMessage(
                id=m.id,
                queue=queue,
                content=str(m.content),
                inserted_at=m.inserted_on,
                dequeue_count=m.dequeue_count or 0,
            )
            for m in leased
        ]

    async def replay(self, queue: str, ids: Collection[str]) -> ReplayOutcome:
        poison_queue = f"{queue}-poison"
        leased = await self._leased(poison_queue)
        chosen = [m for m in leased if m.id in ids]
        not_kept = [m for m in chosen if not read_envelope(str(m.content)).kept]
        refused = tuple(m.id for m in not_kept)
        chosen = [m for m in chosen if m.id not in refused]
        sent = {m.id for m in chosen}
        try:
            for message in chosen:
                original = read_envelope(str(message.content)).original
                with self._refusals("send messages to", queue, QUEUE_SENDER):
                    await self._queue(queue).send_message(original)
                with self._refusals("delete messages of", poison_queue, QUEUE_PROCESSOR):
                    await self._queue(poison_queue).delete_message(message)
        finally:  # the rest, those not kept whole included, stay on the poison queue
            await self._release(poison_queue, [m for m in leased if m.id not in sent])
        replayed = tuple(m.id for m in chosen)
        return ReplayOutcome(
            replayed=replayed,
            not_found=tuple(i for i in ids if i not in {*replayed, *refused}),
            not_kept=refused,
        )

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()


class CheckedLedgerReader:
    """The ledger's read side with Storage errors turned into ``StorageError``s."""

    def __init__(self, table: TableClient, service: TableServiceClient) -> None:
        self._ledger = TableLedger(table, service)
        self._client = table
        self._table = table.table_name
        self._account = _without_query(service.url)

    @classmethod
    def create(cls, storage: StorageSettings, table: str) -> CheckedLedgerReader:
        service = service_client(TableServiceClient, storage, storage.table_service_uri, "table")
        return cls(service.get_table_client(table), service)

    def _error(self, exc: Exception, *, writing: bool = False) -> Exception:
        """``exc`` as the operator reads it, when the Storage SDK's error is behind it (raised
        as is, or translated by the app's ledger adapter, ``raise ... from``)."""
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, AzureError):
            cause = cause.__cause__
        if cause is None:
            return exc
        return storage_error(
            cause,
            doing="write" if writing else "read",
            kind="table",
            name=self._table,
            account=self._account,
            role=TABLE_WRITER if writing else TABLE_READER,
        )

    async def get(self, email: str) -> LedgerEntry | None:
        try:
            entry = await self._ledger.get(email)
            if entry is None:
                # "no such row" and "no such table" look alike to ``get``: one row of the
                # table tells them apart (and raises for a missing table).
                async for _ in self._client.list_entities(results_per_page=1, select=["RowKey"]):
                    break
        except Exception as exc:
            raise self._error(exc) from exc
        return entry

    async def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]:
        try:
            async for entry in self._ledger.entries(statuses=statuses):
                yield entry
        except Exception as exc:
            raise self._error(exc) from exc

    async def brake(self) -> BrakeState:
        try:
            return await self._ledger.brake()
        except Exception as exc:
            raise self._error(exc) from exc

    async def write_brake(self, state: BrakeState) -> bool:
        try:
            return await self._ledger.write_brake(state)
        except Exception as exc:
            raise self._error(exc, writing=True) from exc

    async def close(self) -> None:
        await self._ledger.close()
