"""`python -m devstack enqueue`: the documented way to put HR messages on the queue."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from azure.storage.queue import QueueClient
from typer.testing import CliRunner

from devstack.cli import app
from tests.fixtures.azurite import AzuriteEndpoint


def received(connection_string: str, queue: str) -> list[str]:
    client = QueueClient.from_connection_string(connection_string, queue)
    return [m.content for m in client.receive_messages(max_messages=32)]


def test_enqueue_a_json_string_plain(azurite: AzuriteEndpoint) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    result = CliRunner().invoke(
        app,
        [
            "enqueue",
            '{"email": "ada@fabrikam.example"}',
            "--queue",
            queue,
            "--connection",
            azurite.connection_string,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "queued 1 message" in result.output
    assert received(azurite.connection_string, queue) == ['{"email": "ada@fabrikam.example"}']


def test_enqueue_a_file_of_json_lines_as_base64(azurite: AzuriteEndpoint, tmp_path: Path) -> None:
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    lines = ['{"email": "a@fabrikam.example"}', "", '{"email": "b@fabrikam.example"}']
    path = tmp_path / "messages.jsonl"
    path.write_text("\n".join(lines))
    result = CliRunner().invoke(
        app,
        [
            "enqueue",
            "--file",
            str(path),
            "--base64",
            "--queue",
            queue,
            "--connection",
            azurite.connection_string,
        ],
    )
    assert result.exit_code == 0, result.output
    bodies = [base64.b64decode(b).decode() for b in received(azurite.connection_string, queue)]
    assert sorted(bodies) == ['{"email": "a@fabrikam.example"}', '{"email": "b@fabrikam.example"}']


def test_enqueue_needs_exactly_one_source() -> None:
    result = CliRunner().invoke(app, ["enqueue"])
    assert result.exit_code != 0
