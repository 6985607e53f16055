"""A proxy in front of Azurite's Table and Queue endpoints that counts the requests it forwards
and injects Storage faults at set rates: ``make chaos``'s storage faults, ``make bench``'s
Storage round trips and the storage-fault tests.

Each service has a port of its own, forwarding to Azurite's: the path, query, headers and body
go through unchanged (Shared Key signatures still hold), and so does the answer. A rule, picked
per request with its rate from a seeded generator (a run repeats), replaces that with a fault:

- ``status``: Storage's own error answer (``x-ms-error-code`` and the JSON (Tables) or XML
  (Queues) error body): 503 ``ServerBusy`` (Storage's throttling), 500 ``InternalError``,
  500 ``OperationTimedOut``, 429, and the permanent 403 and 404; before the request reaches
  Azurite, or (``afterApply``) after Azurite applied it, in place of its answer;
- ``timeout``: no answer for ``delayMs`` (longer than the client's read timeout), then the
  connection is dropped; ``afterApply``: Azurite applied it first;
- ``reset``: the connection dropped without an answer (``afterApply``: after Azurite applied it);
- ``slow``: Azurite's answer, ``delayMs`` late.

Rules select requests by ``service`` (``table``, ``queue``), ``method`` and ``resource`` (the
table or queue name, a glob), and may stop after ``count`` faults: the chaos run aims at the
app's own traffic (the ledger and budget tables, messages it sends) and leaves the host's
receives alone. The counters name the service, method and resource of every request, never a
row key or message id (row keys are addresses).

``python -m devstack.storage_proxy --table-target 10002 --queue-target 10001`` runs it; control
API under ``/_proxy/`` on either port (``StorageProxyControl``); ``start_storage_proxy`` starts
it as a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import random
import signal
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from childproc import (
    ChildProcess,
    StopsOnExit,
    free_ports,
    http_get,
    python_command,
    python_environment,
    start_child,
)
from local_functions_host.storage import DEV_ACCOUNT_NAME, DEV_HOST, connection_string_for

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("table", "queue")
FAULT_KINDS = ("status", "timeout", "reset", "slow")
#: Storage's error codes and messages for the statuses the proxy answers (Storage's "Common
#: REST API error codes"; 429 is what a throttled Table answers in front of some gateways). The
#: 403 and 404 are a deployment's mistakes (a data role missing, a table not provisioned).
STORAGE_ERRORS: dict[str, tuple[int, str]] = {
    "ServerBusy": (503, "The server is currently unable to receive requests. Please retry."),
    "InternalError": (500, "The server encountered an internal error. Please retry."),
    "OperationTimedOut": (500, "The operation could not be completed within the permitted time."),
    "TooManyRequests": (429, "Too many requests. Please retry."),
    "AuthorizationPermissionMismatch": (403, "This request is not authorized to perform this."),
    "ResourceNotFound": (404, "The specified resource does not exist."),
}
#: Headers that describe one connection, not the message: never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


class ProxyConfigError(ValueError):
    """A fault rule the proxy cannot apply."""


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """Fault requests of ``service`` / ``method`` / ``resource`` (globs) at ``rate``."""

    service: str = "*"
    method: str = "*"
    resource: str = "*"
    rate: float = 1.0
    kind: str = "status"
    code: str = "ServerBusy"
    delay_ms: int = 0
    after_apply: bool = False
    #: Fault this many matching requests at most (None: no limit).
    count: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        kind = str(data.get("kind", "status"))
        if kind not in FAULT_KINDS:
            raise ProxyConfigError(f"kind must be one of {FAULT_KINDS}, not {kind!r}")
        code = str(data.get("code", "ServerBusy"))
        if kind == "status" and code not in STORAGE_ERRORS:
            raise ProxyConfigError(f"code must be one of {sorted(STORAGE_ERRORS)}, not {code!r}")
        rate = float(data.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ProxyConfigError("rate must be between 0 and 1")
        return cls(
            service=str(data.get("service", "*")),
            method=str(data.get("method", "*")).upper(),
            resource=str(data.get("resource", "*")),
            rate=rate,
            kind=kind,
            code=code,
            delay_ms=int(data.get("delayMs", 0)),
            after_apply=bool(data.get("afterApply", False)),
            count=int(data["count"]) if data.get("count") is not None else None,
        )

    def matches(self, service: str, method: str, resource: str) -> bool:
        return (
            fnmatch.fnmatchcase(service, self.service)
            and fnmatch.fnmatchcase(method, self.method)
            and fnmatch.fnmatchcase(resource, self.resource)
        )

    def label(self) -> str:
        what = f"{self.kind} {self.code}" if self.kind == "status" else self.kind
        return f"{what} after apply" if self.after_apply else what


def resource_of(service: str, path: str) -> str:
    """The table or queue a request names (``Tables`` for the table list, ``-`` for the
    account): ``/account/ledger(PartitionKey='x',RowKey='y')`` -> ``ledger``."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == DEV_ACCOUNT_NAME:
        parts = parts[1:]
    if not parts:
        return "-"
    name = parts[0].split("(", 1)[0].split("?", 1)[0]
    return name or "-"


class StorageProxy:
    """The proxy's state: targets, rules, the seeded generator and the counters."""

    def __init__(self, targets: dict[str, int], *, target_host: str = DEV_HOST) -> None:
        self.targets = targets
        self.target_host = target_host
        self.rules: list[FaultRule] = []
        self.remaining: dict[int, int] = {}
        self.rng = random.Random(0)
        self.requests: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def configure(self, data: dict[str, Any]) -> None:
        rules = [FaultRule.from_json(rule) for rule in data.get("rules", [])]
        self.rules = rules
        self.remaining = {i: r.count for i, r in enumerate(rules) if r.count is not None}
        self.rng = random.Random(data.get("seed", 0))

    def pick(self, service: str, method: str, resource: str) -> FaultRule | None:
        """The first matching rule whose draw comes up; one draw per matching rule."""
        for index, rule in enumerate(self.rules):
            if self.remaining.get(index, 1) <= 0 or not rule.matches(service, method, resource):
                continue
            if self.rng.random() < rule.rate:
                if index in self.remaining:
                    self.remaining[index] -= 1
                return rule
        return None

    def counters(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "total": sum(self.requests.values()),
            "faults": dict(sorted(self.faults.items())),
        }


def _error_answer(service: str, code: str) -> tuple[int, dict[str, str], bytes]:
    status, message = STORAGE_ERRORS[code]
    request_id = str(uuid.uuid4())
    text = f"{message}\nRequestId:{request_id}\nTime:{datetime.now(UTC).isoformat()}"
    headers = {"x-ms-error-code": code, "x-ms-request-id": request_id}
    if service == "table":
        headers["Content-Type"] = "application/json;odata=minimalmetadata;charset=utf-8"
        body = json.dumps(
            {"odata.error": {"code": code, "message": {"lang": "en-US", "value": text}}}
        ).encode()
    else:
        headers["Content-Type"] = "application/xml"
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{code}</Code><Message>{text}</Message></Error>"
        ).encode()
    return status, headers, body


def build_app(proxy: StorageProxy, service: str) -> Any:
    """The aiohttp application of one service's port."""
    import aiohttp
    from aiohttp import web
    from yarl import URL  # aiohttp's own URL type

    session: aiohttp.ClientSession | None = None

    async def upstream() -> aiohttp.ClientSession:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
                timeout=aiohttp.ClientTimeout(total=None, sock_read=120),
            )
        return session

    async def close(_: web.Application) -> None:
        if session is not None:
            await session.close()

    def drop(request: web.Request) -> None:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError

    async def forward(request: web.Request) -> web.Response:
        method = request.method.upper()
        resource = resource_of(service, request.path)
        proxy.requests[f"{service} {method} {resource}"] += 1
        fault = proxy.pick(service, method, resource)
        if fault is not None:
            proxy.faults[f"{service} {fault.label()}"] += 1
        if fault is not None and not fault.after_apply:
            if fault.kind == "status":
                status, headers, body = _error_answer(service, fault.code)
                return web.Response(status=status, headers=headers, body=body)
            if fault.kind == "timeout":
                await asyncio.sleep(fault.delay_ms / 1000)
                drop(request)
            if fault.kind == "reset":
                drop(request)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = f"http://{proxy.target_host}:{proxy.targets[service]}"
        url = URL(target + request.raw_path, encoded=True)
        client = await upstream()
        async with client.request(
            method, url, headers=headers, data=body, allow_redirects=False
        ) as answer:
            content = await answer.read()
            answer_headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            status = answer.status
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
            elif fault.kind == "status":  # after apply: Azurite's answer is lost
                status, answer_headers, content = _error_answer(service, fault.code)
            elif fault.kind == "timeout":
                await asyncio.sleep(fault.delay_ms / 1000)
                drop(request)
            else:
                drop(request)
        return web.Response(status=status, headers=answer_headers, body=content)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": service})

    async def faults(request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                proxy.configure(await request.json())
            except (ProxyConfigError, ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"rules": [vars(rule) for rule in proxy.rules]})

    async def counters(request: web.Request) -> web.Response:
        if request.method == "POST":
            proxy.requests.clear()
            proxy.faults.clear()
        return web.json_response(proxy.counters())

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/_proxy/health", health)
    app.router.add_route("*", "/_proxy/faults", faults)
    app.router.add_route("*", "/_proxy/counters", counters)
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


async def serve(ports: dict[str, int], targets: dict[str, int]) -> None:
    """Serve each service's port until SIGTERM or SIGINT."""
    from aiohttp import web

    proxy = StorageProxy(targets)
    runners = []
    for service in SERVICES:
        runner = web.AppRunner(build_app(proxy, service), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, DEV_HOST, ports[service]).start()
        runners.append(runner)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"storage proxy: table {ports['table']} -> {targets['table']}, queue "
        f"{ports['queue']} -> {targets['queue']}",
        flush=True,
    )
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


class StorageProxyControl:
    """A synchronous client of the proxy's control API (either port)."""

    def __init__(self, port: int, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(base_url=f"http://{DEV_HOST}:{port}/_proxy", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def set_faults(self, rules: list[dict[str, Any]], *, seed: int = 0) -> None:
        """Replace the fault rules (an empty list: every request forwarded as it is)."""
        self._http.post("/faults", json={"rules": rules, "seed": seed}).raise_for_status()

    def counters(self) -> dict[str, Any]:
        """``requests`` per ``"<service> <METHOD> <resource>"``, their ``total``, and
        ``faults`` per ``"<service> <kind>"``."""
        response = self._http.get("/counters")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset_counters(self) -> None:
        self._http.post("/counters").raise_for_status()


class RunningStorageProxy(StopsOnExit):
    """A started proxy process: its ports, a control client, the connection string that sends
    Table and Queue traffic through it (blobs straight to Azurite), stop()."""

    def __init__(self, process: ChildProcess, ports: dict[str, int], blob_port: int) -> None:
        self.process = process
        self.ports = ports
        self.control = StorageProxyControl(ports["table"])
        self.connection_string = connection_string_for(blob_port, ports["queue"], ports["table"])

    def stop(self, timeout: float = 5.0) -> None:
        self.control.close()
        self.process.stop(timeout)


def endpoint_ports(connection_string: str) -> dict[str, int]:
    """The blob, queue and table ports a development-account connection string names."""
    ports: dict[str, int] = {}
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        service = key.strip().lower().removesuffix("endpoint")
        if service in ("blob", "queue", "table") and value:
            port = urlsplit(value.strip()).port
            if port is not None:
                ports[service] = port
    missing = {"blob", "queue", "table"} - ports.keys()
    if missing:
        raise ProxyConfigError(f"the connection string names no {sorted(missing)} endpoint")
    return ports


def start_storage_proxy(
    connection_string: str,
    *,
    log_path: Path | None = None,
    startup_timeout: float = 15.0,
) -> RunningStorageProxy:
    """Start ``python -m devstack.storage_proxy`` in front of the queue and table endpoints of
    ``connection_string`` (Azurite's), on free ports of its own; return once both answer."""
    azurite = endpoint_ports(connection_string)
    table, queue = free_ports(2)
    ports = {"table": table, "queue": queue}

    def ready() -> bool:
        return all(
            (answer := http_get(port, "/_proxy/health")) is not None and answer[0] == 200
            for port in ports.values()
        )

    args = [
        "--table-port",
        str(table),
        "--queue-port",
        str(queue),
        "--table-target",
        str(azurite["table"]),
        "--queue-target",
        str(azurite["queue"]),
    ]
    child = start_child(
        python_command("devstack.storage_proxy", *args),
        name="storage proxy",
        ready=ready,
        log_path=log_path,
        cwd=REPO_ROOT,
        env=python_environment(REPO_ROOT),
        startup_timeout=startup_timeout,
    )
    return RunningStorageProxy(child, ports, azurite["blob"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.storage_proxy")
    parser.add_argument("--table-port", type=int, required=True)
    parser.add_argument("--queue-port", type=int, required=True)
    parser.add_argument("--table-target", type=int, required=True, help="Azurite's table port")
    parser.add_argument("--queue-target", type=int, required=True, help="Azurite's queue port")
    args = parser.parse_args(argv)
    asyncio.run(
        serve(
            {"table": args.table_port, "queue": args.queue_port},
            {"table": args.table_target, "queue": args.queue_target},
        )
    )


if __name__ == "__main__":
    main()
