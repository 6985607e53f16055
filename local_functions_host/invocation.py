"""Run one function invocation the way the Python worker does, and log its result.

``async def`` functions run on the host's event loop; plain functions run in a thread pool,
so a slow synchronous function never stalls polling. An exception is an invocation failure,
never a host failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from local_functions_host.indexing import IndexedFunction

logger = logging.getLogger("local_functions_host")


class FunctionTimeoutError(TimeoutError):
    """The invocation ran longer than host.json ``functionTimeout``."""


@dataclass(frozen=True)
class InvocationOutcome:
    """What one invocation did: succeeded, or failed with ``error``."""

    invocation_id: str
    succeeded: bool
    error: BaseException | None
    duration_ms: float


class Invoker:
    """Calls user functions with their trigger argument; shared by all triggers of a host."""

    def __init__(self, *, executor: ThreadPoolExecutor, function_timeout: timedelta | None) -> None:
        self._executor = executor
        self._timeout = function_timeout.total_seconds() if function_timeout else None

    async def invoke(
        self,
        function: IndexedFunction,
        argument: object,
        *,
        reason: str,
        message_id: str | None = None,
    ) -> InvocationOutcome:
        """Invoke ``function`` with ``argument``; log one line with the result.

        Never raises for the function's own exceptions (they are returned in the outcome);
        only cancellation of the caller propagates, which abandons the invocation.
        """
        invocation_id = str(uuid.uuid4())
        context = f"'Functions.{function.name}' (Id={invocation_id}"
        if message_id is not None:
            context += f", MessageId={message_id}"
        logger.debug("Executing %s, Reason='%s')", context, reason)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await asyncio.wait_for(self._call(function, argument), timeout=self._timeout)
        except asyncio.CancelledError:
            logger.warning("Abandoned %s) on shutdown", context)
            raise
        except TimeoutError:
            error = FunctionTimeoutError(
                f"Timeout value of {timedelta(seconds=self._timeout or 0)} was exceeded"
            )
        except BaseException as raised:  # a function's SystemExit must not end the host either
            error = raised
        duration_ms = (time.perf_counter() - started) * 1000
        if error is None:
            logger.info("Executed %s, Succeeded, Duration=%.0fms)", context, duration_ms)
        else:
            logger.error(
                "Executed %s, Failed, Duration=%.0fms): %s: %s",
                context,
                duration_ms,
                type(error).__name__,
                error,
                exc_info=error,
            )
        return InvocationOutcome(invocation_id, error is None, error, duration_ms)

    async def _call(self, function: IndexedFunction, argument: object) -> object:
        kwargs = {function.trigger_argument: argument}
        if function.is_async:
            return await function.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, function.user_function, **kwargs)
        return await loop.run_in_executor(self._executor, call)
