"""Put HR messages on the invitations queue, the way an HR system would."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from pathlib import Path

from azure.storage.queue import QueueClient

from local_functions_host.settings import load_local_settings
from local_functions_host.storage import expand_development_storage

DEFAULT_SETTINGS = Path("local.settings.json")


def local_setting(name: str, default: str, settings_file: Path = DEFAULT_SETTINGS) -> str:
    """A setting as the functions would see it: the environment, else local.settings.json."""
    return os.environ.get(name) or load_local_settings(settings_file).get(name) or default


def read_messages(*, text: str | None = None, file: Path | None = None) -> list[str]:
    """Messages from a JSON string, or a file of JSON lines (blank lines skipped). Lines are
    sent as they are, so a file may hold deliberately bad input too."""
    if text is not None:
        return [text]
    assert file is not None
    lines = file.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def enqueue_messages(
    messages: Iterable[str], *, connection_string: str, queue_name: str, as_base64: bool = False
) -> int:
    """Send each message (base64-encoded when asked, as Logic Apps and some SDKs do); returns
    how many were sent. The queue must exist (``devstack.provision`` creates it)."""
    client = QueueClient.from_connection_string(
        expand_development_storage(connection_string), queue_name
    )
    count = 0
    with client:
        for message in messages:
            body = base64.b64encode(message.encode()).decode() if as_base64 else message
            client.send_message(body)
            count += 1
    return count
