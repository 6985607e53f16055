"""The admin endpoint Core Tools exposes, on 127.0.0.1 only.

- ``GET /admin/host/status``: ``{"id", "state", "version", "functions"}``; state ``Running``
  once every trigger listens.
- ``GET /admin/functions``: the indexed functions and their triggers.
- ``POST /admin/functions/{name}`` with ``{"input": "..."}``: runs a non-HTTP function now
  (a timer with ``past_due`` false; a queue function with the input as the message body),
  answering 202 once it has run, 500 with the exception text if it raised, 404 if unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from local_functions_host.indexing import IndexedFunction, QueueTriggerBinding
from local_functions_host.invocation import InvocationOutcome


class AdminTarget(Protocol):
    """What the admin endpoint needs from a host (``LocalFunctionsHost`` provides it)."""

    @property
    def host_id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def functions(self) -> Mapping[str, IndexedFunction]: ...

    async def invoke_now(self, name: str, input_text: str) -> InvocationOutcome: ...


HOST_KEY: web.AppKey[AdminTarget] = web.AppKey("host")


async def host_status(request: web.Request) -> web.Response:
    """Report whether the host is running (readiness probe)."""
    host = request.app[HOST_KEY]
    return web.json_response(
        {
            "id": host.host_id,
            "state": host.state,
            "version": "local",
            "functions": sorted(host.functions),
        }
    )


async def list_functions(request: web.Request) -> web.Response:
    """List the functions with their trigger type and resolved target."""
    host = request.app[HOST_KEY]
    listing = []
    for name, function in sorted(host.functions.items()):
        trigger = function.trigger
        if isinstance(trigger, QueueTriggerBinding):
            listing.append({"name": name, "trigger": "queueTrigger", "queue": trigger.queue_name})
        else:
            listing.append({"name": name, "trigger": "timerTrigger", "schedule": trigger.schedule})
    return web.json_response(listing)


async def invoke_function(request: web.Request) -> web.Response:
    """Run the named function now with the request's ``input``."""
    host = request.app[HOST_KEY]
    name = request.match_info["name"]
    if name not in host.functions:
        return web.json_response({"error": f"function {name!r} not found"}, status=404)
    raw = await request.read()
    try:
        payload = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as error:
        return web.json_response({"error": f"body is not JSON: {error}"}, status=400)
    if not isinstance(payload, dict):
        return web.json_response({"error": 'body must be {"input": "..."}'}, status=400)
    value = payload.get("input", "")
    text = value if isinstance(value, str) else json.dumps(value)
    outcome = await host.invoke_now(name, text)
    if outcome.succeeded:
        return web.Response(status=202)
    failure = outcome.error
    return web.json_response(
        {"error": f"{type(failure).__name__}: {failure}", "invocationId": outcome.invocation_id},
        status=500,
    )


def build_admin_app(host: AdminTarget) -> web.Application:
    """Return the aiohttp application serving the admin routes for ``host``."""
    app = web.Application()
    app[HOST_KEY] = host
    app.router.add_get("/admin/host/status", host_status)
    app.router.add_get("/admin/functions", list_functions)
    app.router.add_post("/admin/functions/{name}", invoke_function)
    return app
