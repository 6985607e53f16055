"""Test app: an async and a sync queue function that record what they receive.

A body starting with ``fail`` raises; ``hang-once`` blocks on its first delivery (so a test
can kill the host mid-invocation) and succeeds on the next.
"""

import asyncio
import time

import azure.functions as func

from tests.host.apps.recording import message_fields, record

app = func.FunctionApp()


@app.function_name("on_message")
@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
async def on_message(msg: func.QueueMessage) -> None:
    body = msg.get_body()
    if body == b"hang-once" and msg.dequeue_count == 1:
        record("on_message", state="hanging", **message_fields(msg))
        await asyncio.sleep(3600)
    if body.startswith(b"fail"):
        record("on_message", state="failing", **message_fields(msg))
        raise RuntimeError(f"refusing {body!r}")
    record("on_message", state="done", **message_fields(msg))


@app.function_name("on_sync_message")
@app.queue_trigger(arg_name="msg", queue_name="%SYNC_QUEUE%", connection="AzureWebJobsStorage")
def on_sync_message(msg: func.QueueMessage) -> None:
    body = msg.get_body()
    if body.startswith(b"slow"):
        time.sleep(0.5)
    if body.startswith(b"fail"):
        record("on_sync_message", state="failing", **message_fields(msg))
        raise ValueError(f"refusing {body!r}")
    record("on_sync_message", state="done", **message_fields(msg))
