"""One queue message being handled: its log lines, its telemetry, and what becomes of it when
its handler does not finish it (poison with the reason, a re-queued copy, or the queue's own
redelivery, as :mod:`guest_onboarding.retry` decides)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.errors import (
    DirectoryError,
    InvalidMessage,
    InvitationsStopped,
    NeedsOperator,
)
from guest_onboarding.retry import Action, RetryPolicy
from guest_onboarding.telemetry import record_outcome
from guest_onboarding.wire import as_received

log = logging.getLogger("guest_onboarding")
T = TypeVar("T")


def log_step(step: str, outcome: Outcome, **fields: Any) -> None:
    """One structured line per step; addresses must already be masked. A tenant-wide stop is
    an error line (once per stop and probe interval, whichever instance met it)."""
    record = {
        "step": step,
        "outcome": outcome.value,
        **{k: v for k, v in fields.items() if v is not None},
    }
    level = logging.ERROR if outcome == Outcome.TENANT_STOP else logging.INFO
    log.log(level, json.dumps(record, sort_keys=True, default=str))


def pseudonym(value: str | None) -> str | None:
    """A stable stand-in for an identifier in logs (HR's external id is personal data): the
    same id always gives the same 12 hex digits, which correlate lines without revealing it."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def unreadable(exc: Exception) -> InvalidMessage:
    """A body no rule names that still broke the parser: rejected, never retried."""
    return InvalidMessage("InvalidJson", f"message cannot be read ({type(exc).__name__})")


def _reason(exc: BaseException) -> dict[str, str]:
    """The poison envelope's ``error`` for ``exc``: our rule or Graph's error, else its type."""
    if isinstance(exc, InvalidMessage | NeedsOperator):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, DirectoryError):
        return exc.as_reason()
    return {"code": "RetriesExhausted", "message": f"{type(exc).__name__}: {exc}"}


@dataclass(kw_only=True)
class Delivery:
    """One queue message being handled: what every log line and poison envelope needs."""

    rt: Runtime
    queue: str
    step: str
    text: str
    message_id: str
    dequeue_count: int
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        rt: Runtime,
        queue: str,
        step: str,
        body: bytes | str,
        message_id: str,
        dequeue_count: int,
    ) -> Delivery:
        return cls(
            rt=rt,
            queue=queue,
            step=step,
            text=as_received(body),
            message_id=message_id,
            dequeue_count=dequeue_count,
        )

    def done(self, outcome: Outcome, **extra: Any) -> Outcome:
        log_step(self.step, outcome, message_id=self.message_id, **self.fields, **extra)
        record_outcome(self.step, outcome, {**self.fields, **extra})
        return outcome

    async def poison(self, exc: BaseException) -> Outcome:
        """To ``<queue>-poison`` with the reason, now."""
        reason = _reason(exc)
        code, message = reason.pop("code"), reason.pop("message")
        await self.rt.outbox.reject(
            queue=self.queue, original=self.text, code=code, message=message, details=reason or None
        )
        outcome = Outcome.REJECTED if isinstance(exc, InvalidMessage) else Outcome.POISONED
        self.done(outcome, error=code)
        return outcome

    async def fail(
        self,
        exc: Exception,
        *,
        policy: RetryPolicy,
        attempt: int,
        requeue: Callable[[float, bool], Awaitable[None]],
    ) -> Outcome:
        """Apply the retry policy: poison, re-queue a copy (``requeue(delay, counts)``), or
        raise so the queue redelivers this message."""
        decision = policy.decide(exc, attempt=attempt, dequeue_count=self.dequeue_count)
        if decision.action == Action.POISON:
            return await self.poison(exc)
        if decision.action == Action.REQUEUE:
            await requeue(decision.delay, decision.counts_as_attempt)
            if decision.counts_as_attempt:
                outcome = Outcome.RETRYING
            elif isinstance(exc, InvitationsStopped) and exc.recorded:
                outcome = Outcome.TENANT_STOP
            else:
                outcome = Outcome.THROTTLED
            self.done(outcome, retry_after=decision.delay, error=_reason(exc)["code"])
            return outcome
        self.done(Outcome.RETRY, error=str(exc), delivery=self.dequeue_count)
        raise exc


async def parse_or_poison(delivery: Delivery, parse: Callable[[], T]) -> T | Outcome:
    """The parsed message, or (rejected) the poisoning's outcome."""
    try:
        return parse()
    except InvalidMessage as exc:
        return await delivery.poison(exc)
    except Exception as exc:  # whatever else a hostile body can do to a parser
        return await delivery.poison(unreadable(exc))
