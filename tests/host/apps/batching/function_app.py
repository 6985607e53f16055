"""Test app: records how many invocations of one queue function run at the same time."""

import asyncio

import azure.functions as func

from tests.host.apps.recording import record

app = func.FunctionApp()
_running = 0


@app.function_name("on_batch_item")
@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
async def on_batch_item(msg: func.QueueMessage) -> None:
    global _running
    _running += 1
    try:
        record("on_batch_item", running=_running, body=msg.get_body().decode())
        # Long enough that a host ignoring batchSize would start every queued message at once.
        await asyncio.sleep(0.2)
    finally:
        _running -= 1
