"""LocalFunctionsHost: run a v2-model app's queue and timer functions without Core Tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from local_functions_host.admin import build_admin_app
from local_functions_host.host_config import HostConfig, load_host_config
from local_functions_host.indexing import (
    IndexedFunction,
    QueueTriggerBinding,
    import_function_app,
    index_functions,
)
from local_functions_host.invocation import InvocationOutcome, Invoker
from local_functions_host.queue_listener import QueueListener, to_function_message_from_input
from local_functions_host.settings import load_local_settings, merge_settings
from local_functions_host.storage import storage_connection_string
from local_functions_host.timer_trigger import ScheduleMonitor, TimerListener

logger = logging.getLogger("local_functions_host")

# How long a received message stays invisible while it is processed (renewed at half of it);
# the Storage extension uses 10 minutes.
DEFAULT_MESSAGE_LEASE = timedelta(minutes=10)
DEFAULT_SHUTDOWN_GRACE = timedelta(seconds=10)
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"


class HostStartError(RuntimeError):
    """The app could not be loaded or a trigger could not be set up."""


def _default_host_id(app_dir: Path) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", app_dir.resolve().name.lower()).strip("-")
    return (name or "functions")[:32]


class LocalFunctionsHost:
    """Runs the queue and timer functions of one app directory in this process.

    ``start()`` loads local.settings.json ``Values`` into ``os.environ`` (variables already
    set, and those in ``environ``, win), reads host.json, imports ``function_app`` and starts
    one listener per function plus, if ``admin_port`` is given (0 picks a free one), the admin
    endpoint. ``stop()`` stops polling, lets in-flight invocations finish for
    ``shutdown_grace`` and abandons the rest, then restores ``os.environ``. One host per
    process at a time, since functions read ``os.environ``.
    """

    def __init__(
        self,
        app_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        settings_file: Path | None = None,
        admin_port: int | None = None,
        message_lease: timedelta = DEFAULT_MESSAGE_LEASE,
        shutdown_grace: timedelta = DEFAULT_SHUTDOWN_GRACE,
    ) -> None:
        self.app_dir = app_dir.resolve()
        self._environ = dict(environ or {})
        self._settings_file = settings_file or self.app_dir / "local.settings.json"
        self._admin_port = admin_port
        self._message_lease = message_lease
        self._shutdown_grace = shutdown_grace.total_seconds()
        self.state = "Initialized"
        self.host_id = _default_host_id(self.app_dir)
        self.settings: dict[str, str] = {}
        self.config: HostConfig | None = None
        self.functions: dict[str, IndexedFunction] = {}
        self.queue_listeners: dict[str, QueueListener] = {}
        self.timer_listeners: dict[str, TimerListener] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._saved_environ: dict[str, str | None] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._invoker: Invoker | None = None
        self._runner: web.AppRunner | None = None
        self.admin_url: str | None = None

    async def start(self) -> None:
        """Load the app and start every trigger; raise HostStartError if the app cannot run."""
        if self.state != "Initialized":
            raise HostStartError(f"host is {self.state}; create a new one to start again")
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        self.state = "Running"
        logger.info(
            "Host started (%s): %d function(s): %s",
            self.app_dir,
            len(self.functions),
            ", ".join(sorted(self.functions)) or "none",
        )

    async def _start(self) -> None:
        local_values = load_local_settings(self._settings_file)
        self.settings = merge_settings(local_values, os.environ, self._environ)
        self._apply_environment(self.settings)
        self.host_id = self.settings.get(HOST_ID_SETTING) or self.host_id
        self.config = load_host_config(self.app_dir / "host.json")
        app = import_function_app(self.app_dir)
        indexed, skipped = index_functions(app, self.settings)
        for skip in skipped:
            logger.warning("Function %s is not run by the local host: %s", skip.name, skip.reason)
        threads = int(self.settings.get("PYTHON_THREADPOOL_THREAD_COUNT", "0") or 0) or None
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="function")
        self._invoker = Invoker(
            executor=self._executor, function_timeout=self.config.function_timeout
        )
        for function in indexed:
            self.functions[function.name] = function
            if isinstance(function.trigger, QueueTriggerBinding):
                listener = QueueListener(
                    function=function,
                    connection_string=storage_connection_string(
                        function.trigger.connection, self.settings
                    ),
                    options=self.config.queues,
                    invoker=self._invoker,
                    message_lease=self._message_lease,
                )
                self.queue_listeners[function.name] = listener
                await listener.prepare()
            else:
                self.timer_listeners[function.name] = TimerListener(
                    function=function,
                    invoker=self._invoker,
                    monitor_factory=self._monitor_factory(),
                )
        for name, queue_listener in self.queue_listeners.items():
            self._tasks.append(self._supervise(name, queue_listener.run()))
        for name, timer_listener in self.timer_listeners.items():
            self._tasks.append(self._supervise(name, timer_listener.run()))
        if self._admin_port is not None:
            await self._start_admin(self._admin_port)

    def _monitor_factory(self) -> Callable[[], ScheduleMonitor] | None:
        try:
            connection = storage_connection_string("AzureWebJobsStorage", self.settings)
        except ValueError as error:
            logger.warning("Timer schedule monitor disabled: %s", error)
            return None
        host_id = self.host_id
        return lambda: ScheduleMonitor(connection, host_id)

    def _supervise(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("The listener of %s stopped unexpectedly", name)

        return asyncio.create_task(guarded(), name=f"listener:{name}")

    async def _start_admin(self, port: int) -> None:
        self._runner = web.AppRunner(build_admin_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.admin_url = f"http://127.0.0.1:{bound_port}"
        logger.info("Admin endpoint listening on %s", self.admin_url)

    def _apply_environment(self, settings: Mapping[str, str]) -> None:
        for key, value in settings.items():
            if os.environ.get(key) != value:
                self._saved_environ.setdefault(key, os.environ.get(key))
                os.environ[key] = value

    def _restore_environment(self) -> None:
        for key, previous in self._saved_environ.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
        self._saved_environ.clear()

    async def invoke_now(self, name: str, input_text: str) -> InvocationOutcome:
        """Run function ``name`` once now (the admin endpoint's semantics)."""
        if self._invoker is None:
            raise HostStartError("host is not started")
        function = self.functions[name]
        if isinstance(function.trigger, QueueTriggerBinding):
            message = to_function_message_from_input(input_text)
            argument: object = message
            if function.trigger.argument_kind == "str":
                argument = input_text
            elif function.trigger.argument_kind == "bytes":
                argument = message.get_body()
            return await self._invoker.invoke(
                function,
                argument,
                reason="Invoked through the admin endpoint",
                message_id=message.id,
            )
        timer = self.timer_listeners[name]
        return await timer.fire_now()

    async def stop(self) -> None:
        """Stop polling, wait for in-flight invocations up to the grace period, release all."""
        if self.state == "Stopped":
            return
        self.state = "Stopping"
        for queue_listener in self.queue_listeners.values():
            queue_listener.stop()
        for timer_listener in self.timer_listeners.values():
            timer_listener.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self._shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        await asyncio.gather(
            *(listener.drain(self._shutdown_grace) for listener in self.queue_listeners.values())
        )
        listeners: list[QueueListener | TimerListener] = [
            *self.queue_listeners.values(),
            *self.timer_listeners.values(),
        ]
        for listener in listeners:
            with contextlib.suppress(Exception):
                await listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            # Synchronous functions cannot be interrupted; abandoned ones finish in the background.
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._restore_environment()
        with contextlib.suppress(ValueError):
            sys.path.remove(str(self.app_dir))
        self.state = "Stopped"
        logger.info("Host stopped")

    async def __aenter__(self) -> LocalFunctionsHost:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


__all__ = ["DEFAULT_MESSAGE_LEASE", "HostStartError", "LocalFunctionsHost"]
