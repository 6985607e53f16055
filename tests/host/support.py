"""Helpers for the host tests: app locations, records, and waiting with a deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from azure.storage.queue import QueueClient

APPS = Path(__file__).parent / "apps"
T = TypeVar("T")

# Deadline for anything the tests wait for; reached only when the behaviour is broken.
DEADLINE = 30.0


def read_records(path: Path, function: str | None = None) -> list[dict[str, Any]]:
    """The observations the test apps appended to ``path`` (optionally for one function)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if function is None or r["function"] == function]


async def eventually_async(
    probe: Callable[[], Awaitable[T | None]], *, what: str, deadline: float = DEADLINE
) -> T:
    """Poll ``probe`` until it returns something truthy and return it; fail after ``deadline``."""
    give_up = time.monotonic() + deadline
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def eventually(probe: Callable[[], T | None], *, what: str, deadline: float = DEADLINE) -> T:
    """Like ``eventually_async`` for a plain function."""

    async def wrapped() -> T | None:
        return probe()

    return await eventually_async(wrapped, what=what, deadline=deadline)


async def wait_for_records(
    path: Path, count: int, function: str | None = None
) -> list[dict[str, Any]]:
    """Wait until at least ``count`` observations (of ``function``) exist; return them all."""

    def enough() -> list[dict[str, Any]] | None:
        records = read_records(path, function)
        return records if len(records) >= count else None

    return await eventually(enough, what=f"{count} record(s) of {function or 'any function'}")


def queue_client(connection_string: str, name: str) -> QueueClient:
    """A plain-text (no encoding) client for queue ``name``, creating the queue if needed."""
    client = QueueClient.from_connection_string(connection_string, name)
    try:
        client.create_queue()
    except Exception:  # already exists
        pass
    return client


def peek_texts(client: QueueClient) -> list[str]:
    """The texts of the messages currently visible on the queue (up to 32)."""
    return [str(m.content) for m in client.peek_messages(max_messages=32)]
