"""The queue trigger: poll a Storage queue the way the Storage extension's QueueListener does.

- Fetch up to ``batchSize`` messages; start them all; fetch the next batch once no more than
  ``newBatchThreshold`` are still running (so at most batchSize + newBatchThreshold at once).
- While the queue is empty, wait with randomized exponential back-off from 100 ms up to
  ``maxPollingInterval``; a non-empty fetch resets it.
- Received messages are leased (invisible) for ``message_lease`` seconds, renewed at half of it
  while the function runs; a host that dies simply lets the lease run out, and the message
  reappears (at-least-once delivery).
- Success deletes the message. Failure with ``dequeue_count >= maxDequeueCount`` copies the
  message text unchanged to ``<queue>-poison`` and deletes the original; any other failure
  makes it visible again after ``visibilityTimeout``.
- With ``messageEncoding: base64`` a message that is not valid base64 goes to the poison queue
  at once without invoking the function (Storage extension 5.x does the same).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueMessage as StorageQueueMessage
from azure.storage.queue.aio import QueueClient

from local_functions_host.host_config import MIN_POLLING_INTERVAL, QueueOptions
from local_functions_host.indexing import IndexedFunction, QueueTriggerBinding
from local_functions_host.invocation import Invoker

logger = logging.getLogger("local_functions_host")

POISON_SUFFIX = "-poison"
# The Storage extension's back-off randomization (RandomizedExponentialBackoffStrategy).
_RANDOMIZATION_FACTOR = 0.2


class PollingBackoff:
    """Randomized exponential back-off between ``minimum`` and ``maximum``."""

    def __init__(self, minimum: timedelta, maximum: timedelta) -> None:
        self._minimum = min(minimum, maximum).total_seconds()
        self._maximum = maximum.total_seconds()
        self._current = self._minimum
        self._exponent = 1

    def next_delay(self, *, found_messages: bool) -> float:
        """Return the seconds to wait before the next poll."""
        if found_messages:
            self._current = self._minimum
            self._exponent = 1
        elif self._current < self._maximum:
            factor = random.uniform(1 - _RANDOMIZATION_FACTOR, 1 + _RANDOMIZATION_FACTOR)
            candidate = self._minimum + factor * 2 ** (self._exponent - 1) * self._minimum
            if candidate < self._maximum:
                self._current = candidate
                self._exponent += 1
            else:
                self._current = self._maximum
        return self._current


def decode_body(text: str, encoding: str) -> bytes:
    """Turn the stored message text into the body the function sees.

    ``base64``: the decoded bytes (binascii.Error if the text is not strict base64);
    ``none``: the text's UTF-8 bytes, untouched.
    """
    if encoding == "base64":
        return base64.b64decode(text.encode("ascii"), validate=True)
    return text.encode("utf-8")


def to_function_message(message: StorageQueueMessage, body: bytes) -> FunctionQueueMessage:
    """Build the ``azure.functions.QueueMessage`` the worker would pass for ``message``.

    ``azure.functions.queue.QueueMessage`` is the subclass the worker itself builds: unlike
    the base class it carries the dequeue count and the insertion and expiration times.
    """
    # azure-functions leaves this constructor unannotated.
    return FunctionQueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        expiration_time=message.expires_on,
        insertion_time=message.inserted_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


def to_function_message_from_input(text: str) -> FunctionQueueMessage:
    """Build the message a queue function gets when invoked through the admin endpoint."""
    now = datetime.now(UTC)
    # azure-functions leaves this constructor unannotated.
    return FunctionQueueMessage(  # type: ignore[no-untyped-call]
        id=str(uuid.uuid4()),
        body=text.encode("utf-8"),
        dequeue_count=1,
        expiration_time=now + timedelta(days=7),
        insertion_time=now,
        time_next_visible=now,
        pop_receipt=None,
    )


@dataclass
class _Lease:
    """The current pop receipt of a message this host holds."""

    message_id: str
    pop_receipt: str
    lost: bool = False
    # Set when the invocation ends; the renewer finishes any update in progress and exits,
    # so the pop receipt used to complete the message is always the latest one.
    released: asyncio.Event = field(default_factory=asyncio.Event)


class QueueListener:
    """Runs one queue-triggered function against its queue until ``stop()``."""

    def __init__(
        self,
        *,
        function: IndexedFunction,
        connection_string: str,
        options: QueueOptions,
        invoker: Invoker,
        message_lease: timedelta,
    ) -> None:
        assert isinstance(function.trigger, QueueTriggerBinding)
        self.function = function
        self.binding: QueueTriggerBinding = function.trigger
        self.queue_name = function.trigger.queue_name
        self.poison_queue_name = self.queue_name + POISON_SUFFIX
        self._options = options
        self._invoker = invoker
        self._lease_seconds = max(1, math.ceil(message_lease.total_seconds()))
        self._queue = QueueClient.from_connection_string(connection_string, self.queue_name)
        self._poison = QueueClient.from_connection_string(connection_string, self.poison_queue_name)
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.max_in_flight_seen = 0

    async def prepare(self) -> None:
        """Create the queue if it is missing (so a fresh Azurite works at once)."""
        with contextlib.suppress(ResourceExistsError):
            await self._queue.create_queue()

    async def run(self) -> None:
        """Poll until ``stop()``; storage errors are logged and retried with back-off."""
        backoff = PollingBackoff(MIN_POLLING_INTERVAL, self._options.max_polling_interval)
        while not self._stopping.is_set():
            found = False
            try:
                messages = await self._receive_batch()
            except Exception as error:
                logger.warning("Polling queue '%s' failed: %r", self.queue_name, error)
                if isinstance(error, ResourceNotFoundError):
                    with contextlib.suppress(Exception):
                        await self.prepare()
                messages = []
            for message in messages:
                found = True
                task = asyncio.create_task(self._process(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            self.max_in_flight_seen = max(self.max_in_flight_seen, len(self._in_flight))
            await self._wait_for_capacity()
            await self._sleep(backoff.next_delay(found_messages=found))

    async def _receive_batch(self) -> list[StorageQueueMessage]:
        pages = self._queue.receive_messages(
            messages_per_page=self._options.batch_size,
            visibility_timeout=self._lease_seconds,
        ).by_page()
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            return []
        return [message async for message in page]

    async def _wait_for_capacity(self) -> None:
        stop_waiter = asyncio.ensure_future(self._stopping.wait())
        try:
            while len(self._in_flight) > self._options.new_batch_threshold:
                if self._stopping.is_set():
                    return
                await asyncio.wait(
                    {*self._in_flight, stop_waiter}, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            stop_waiter.cancel()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _process(self, message: StorageQueueMessage) -> None:
        lease = _Lease(message.id, message.pop_receipt or "")
        text = message.content if isinstance(message.content, str) else str(message.content)
        try:
            body = decode_body(text, self._options.message_encoding)
        except (binascii.Error, ValueError) as error:
            logger.error(
                "Message %s on '%s' is not valid base64 (messageEncoding is base64): %s; "
                "moving it to '%s'",
                message.id,
                self.queue_name,
                error,
                self.poison_queue_name,
            )
            await self._move_to_poison(lease, text)
            return
        argument: object = to_function_message(message, body)
        if self.binding.argument_kind == "str":
            argument = body.decode("utf-8")
        elif self.binding.argument_kind == "bytes":
            argument = body
        renewal = asyncio.create_task(self._keep_leased(lease))
        try:
            outcome = await self._invoker.invoke(
                self.function,
                argument,
                reason=f"New queue message detected on '{self.queue_name}'.",
                message_id=message.id,
            )
        except asyncio.CancelledError:
            renewal.cancel()
            raise
        lease.released.set()
        await renewal
        if lease.lost:
            logger.warning(
                "Lost the lease on message %s of '%s'; it will be delivered again",
                message.id,
                self.queue_name,
            )
            return
        try:
            if outcome.succeeded:
                await self._queue.delete_message(lease.message_id, lease.pop_receipt)
            elif (message.dequeue_count or 0) >= self._options.max_dequeue_count:
                # The Storage extension's own words (QueueProcessor.CopyMessageToPoisonQueueAsync,
                # Azure/azure-sdk-for-net sdk/storage/Microsoft.Azure.WebJobs.Extensions.Storage.
                # Common/src/Shared/Queues/QueueProcessor.cs): the poisoned-messages alert of
                # infra/app/alerts.bicep finds this line in `traces`.
                logger.warning(
                    "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                    self._options.max_dequeue_count,
                    self.poison_queue_name,
                )
                await self._move_to_poison(lease, text)
            else:
                await self._queue.update_message(
                    lease.message_id,
                    lease.pop_receipt,
                    visibility_timeout=math.ceil(self._options.visibility_timeout.total_seconds()),
                )
        except Exception as error:
            # The lease ran out or storage failed: the message reappears and is retried.
            logger.warning(
                "Completing message %s of '%s' failed: %r", message.id, self.queue_name, error
            )

    async def _keep_leased(self, lease: _Lease) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lease.released.wait(), timeout=self._lease_seconds / 2)
            if lease.released.is_set():
                return
            try:
                renewed = await self._queue.update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=self._lease_seconds
                )
            except Exception as error:
                logger.warning("Renewing the lease on %s failed: %r", lease.message_id, error)
                lease.lost = True
                return
            lease.pop_receipt = renewed.pop_receipt or lease.pop_receipt

    async def _move_to_poison(self, lease: _Lease, text: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._poison.create_queue()
        await self._poison.send_message(text)
        await self._queue.delete_message(lease.message_id, lease.pop_receipt)

    def stop(self) -> None:
        """Stop fetching messages (in-flight invocations are left to ``drain``)."""
        self._stopping.set()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for in-flight invocations, then abandon the rest.

        Abandoned messages keep their lease and reappear when it runs out.
        """
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    async def close(self) -> None:
        """Close the Storage clients."""
        await self._queue.close()
        await self._poison.close()
