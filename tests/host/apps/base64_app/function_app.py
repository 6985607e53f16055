"""Test app: a queue function under the default base64 message encoding."""

import azure.functions as func

from tests.host.apps.recording import message_fields, record

app = func.FunctionApp()


@app.function_name("on_encoded")
@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def on_encoded(msg: func.QueueMessage) -> None:
    record("on_encoded", **message_fields(msg))
