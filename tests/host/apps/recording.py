"""What the test apps observed, appended as JSON lines to the file named by RECORD_FILE.

The apps run in the test process or in a host subprocess; a file works for both.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

import azure.functions as func

_lock = threading.Lock()


def record(function: str, **fields: Any) -> None:
    """Append one observation for ``function``."""
    line = json.dumps({"function": function, **fields}, default=str)
    with _lock, Path(os.environ["RECORD_FILE"]).open("a", encoding="utf-8") as sink:
        sink.write(line + "\n")


def message_fields(msg: func.QueueMessage) -> dict[str, Any]:
    """The parts of a queue message the tests check."""
    body = msg.get_body()
    return {
        "id": msg.id,
        "body_b64": base64.b64encode(body).decode("ascii"),
        "dequeue_count": msg.dequeue_count,
        "insertion_time": str(msg.insertion_time),
        "expiration_time": str(msg.expiration_time),
        "pop_receipt": msg.pop_receipt,
    }
