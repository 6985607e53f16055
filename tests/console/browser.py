"""Debian's chromium, headless, driven over the DevTools protocol: load a page, collect every
console error, exception and failed load, read values from the DOM, take a screenshot.

Under ``CI=true`` a missing chromium fails the test (``make setup`` installs it as root);
elsewhere the test is skipped with the command that installs it."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

#: Debian's chromium; ``CHROMIUM`` names another Chromium build (GitHub's runners have Chrome).
CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
VISIT_SECONDS = 60
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
    "--window-size=1280,1800",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium() -> Path:
    """The browser, or a skip (a failure under CI, which must have it)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: make setup installs it as root (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageVisit:
    """What a person would have seen, and what the console said."""

    errors: list[str] = field(default_factory=list)
    dom: Any = None
    screenshot: bytes = b""


def _error_of(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        thrown = details.get("exception", {}).get("description", "")
        return f"exception: {details.get('text')} {thrown}".strip()
    if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
        return "console.error: " + " ".join(str(a.get("value")) for a in params.get("args", []))
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
    return None


async def visit(url: str, profile: Path, *, evaluate: str) -> PageVisit:
    """Load ``url`` in headless chromium; ``evaluate`` is a JS expression whose JSON value is
    returned as ``dom`` once the page has loaded (within ``VISIT_SECONDS``)."""
    process = await asyncio.create_subprocess_exec(
        str(chromium()),
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(VISIT_SECONDS):
            return await _drive(url, profile, process, evaluate)
    finally:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def _drive(
    url: str, profile: Path, process: asyncio.subprocess.Process, evaluate: str
) -> PageVisit:
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists():
        if process.returncode is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before listening")
        await asyncio.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    result = PageVisit()
    ids = itertools.count(1)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        target = next(t for t in targets if t["type"] == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:

            async def call(method: str, **params: Any) -> dict[str, Any]:
                number = next(ids)
                await ws.send_json({"id": number, "method": method, "params": params})
                while True:
                    message = json.loads((await ws.receive()).data)
                    if message.get("id") == number:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        return dict(message.get("result", {}))
                    error = _error_of(message)
                    if error:
                        result.errors.append(error)
                    if message.get("method") == "Page.loadEventFired":
                        loaded.set()

            loaded = asyncio.Event()
            for domain in ("Runtime", "Log", "Page"):
                await call(f"{domain}.enable")
            await call("Page.navigate", url=url)
            while not loaded.is_set():
                await call("Runtime.evaluate", expression="1")  # pumps events
            settle = time.monotonic() + 0.5
            while time.monotonic() < settle:
                await call("Runtime.evaluate", expression="1")
                await asyncio.sleep(0.05)
            value = await call(
                "Runtime.evaluate", expression=f"JSON.stringify({evaluate})", returnByValue=True
            )
            result.dom = json.loads(value["result"]["value"])
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            result.screenshot = base64.b64decode(shot["data"])
    return result
