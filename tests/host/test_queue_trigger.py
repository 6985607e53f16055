"""The queue trigger through a real Azurite, with the host running in this process."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.azurite import AzuriteEndpoint
from tests.host.conftest import StartHost
from tests.host.support import (
    APPS,
    eventually,
    peek_texts,
    queue_client,
    read_records,
    wait_for_records,
)

pytestmark = pytest.mark.integration


def recorder_environ(
    azurite: AzuriteEndpoint, record_file: Path, work: str, sync: str
) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": work,
        "SYNC_QUEUE": sync,
    }


async def test_message_failing_every_time_goes_to_poison_after_max_dequeue_count(
    azurite: AzuriteEndpoint,
    record_file: Path,
    start_host: StartHost,
    unique_queue_name: Callable[[str], str],
) -> None:
    work, sync = unique_queue_name("work"), unique_queue_name("sync")
    queue = queue_client(azurite.connection_string, work)
    poison = queue_client(azurite.connection_string, f"{work}-poison")
    queue.send_message("fail: always")

    await start_host(APPS / "recorder", recorder_environ(azurite, record_file, work, sync))
    moved = await eventually(lambda: peek_texts(poison), what="the poison message")

    attempts = read_records(record_file, "on_message")
    # recorder/host.json: maxDequeueCount 3; the function saw each delivery, counted 1..3.
    assert [a["dequeue_count"] for a in attempts] == [1, 2, 3]
    assert len({a["id"] for a in attempts}) == 1
    assert moved == ["fail: always"]  # copied as is
    assert peek_texts(queue) == []  # the original is deleted


async def test_failures_and_sync_functions_never_take_the_host_down(
    azurite: AzuriteEndpoint,
    record_file: Path,
    start_host: StartHost,
    unique_queue_name: Callable[[str], str],
) -> None:
    work, sync = unique_queue_name("work"), unique_queue_name("sync")
    environ = recorder_environ(azurite, record_file, work, sync)
    host = await start_host(APPS / "recorder", environ)
    sync_queue = queue_client(azurite.connection_string, sync)
    sync_queue.send_message("fail: sync")
    await wait_for_records(record_file, 3, "on_sync_message")
    sync_queue.send_message("slow and fine")
    queue_client(azurite.connection_string, work).send_message("fine")

    def finished() -> list[dict[str, Any]] | None:
        done = [r for r in read_records(record_file) if r.get("state") == "done"]
        return done if len(done) == 2 else None

    done = await eventually(finished, what="the next messages of both functions")
    assert sorted(base64.b64decode(str(r["body_b64"])) for r in done) == [b"fine", b"slow and fine"]
    assert host.state == "Running"


async def test_plain_text_passes_through_untouched_with_encoding_none(
    azurite: AzuriteEndpoint,
    record_file: Path,
    start_host: StartHost,
    unique_queue_name: Callable[[str], str],
) -> None:
    work, sync = unique_queue_name("work"), unique_queue_name("sync")
    queue = queue_client(azurite.connection_string, work)
    texts = ['{"email": "ada@fabrikam.example"}', "AP8=", "ünïcødé"]
    for text in texts:
        queue.send_message(text)

    await start_host(APPS / "recorder", recorder_environ(azurite, record_file, work, sync))
    seen = await wait_for_records(record_file, 3, "on_message")
    # "AP8=" is valid base64 but messageEncoding none must not decode it.
    assert sorted(base64.b64decode(r["body_b64"]) for r in seen) == sorted(
        t.encode() for t in texts
    )
    first = seen[0]
    assert first["dequeue_count"] == 1
    assert first["pop_receipt"] and first["id"]
    assert first["insertion_time"] != "None" and first["expiration_time"] != "None"


async def test_base64_encoding_decodes_and_refuses_what_is_not_base64(
    azurite: AzuriteEndpoint,
    record_file: Path,
    start_host: StartHost,
    unique_queue_name: Callable[[str], str],
) -> None:
    work = unique_queue_name("b64")
    queue = queue_client(azurite.connection_string, work)
    poison = queue_client(azurite.connection_string, f"{work}-poison")
    raw = b"\x00\xff binary \x80"
    queue.send_message(base64.b64encode(raw).decode())
    queue.send_message(base64.b64encode(b'{"email": "x@y.example"}').decode())
    queue.send_message("{not base64}")

    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": work,
    }
    await start_host(APPS / "base64_app", environ)
    moved = await eventually(lambda: peek_texts(poison), what="the undecodable message in poison")
    seen = await wait_for_records(record_file, 2)

    assert sorted(base64.b64decode(r["body_b64"]) for r in seen) == sorted(
        [raw, b'{"email": "x@y.example"}']
    )
    # Not valid base64: poisoned at once, without invoking the function, text unchanged.
    assert moved == ["{not base64}"]


async def test_batch_size_bounds_concurrency(
    azurite: AzuriteEndpoint,
    record_file: Path,
    start_host: StartHost,
    unique_queue_name: Callable[[str], str],
) -> None:
    work = unique_queue_name("batch")
    queue = queue_client(azurite.connection_string, work)
    for index in range(20):
        queue.send_message(f"item {index}")
    environ = {
        "AzureWebJobsStorage": azurite.connection_string,
        "RECORD_FILE": str(record_file),
        "WORK_QUEUE": work,
    }
    host = await start_host(APPS / "batching", environ)
    seen = await wait_for_records(record_file, 20)
    most = max(r["running"] for r in seen)
    # batching/host.json: batchSize 4 + newBatchThreshold 2.
    assert 2 <= most <= 6
    assert host.queue_listeners["on_batch_item"].max_in_flight_seen <= 6
    assert sorted(r["body"] for r in seen) == sorted(f"item {i}" for i in range(20))
