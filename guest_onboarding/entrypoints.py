"""What the function triggers call: decode, call one handler, turn outcomes into queue actions.

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures are retried by the queue and, on the last
delivery ``host.json`` allows, moved there by us with the last error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from guest_onboarding.bootstrap import Runtime, runtime
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.errors import DirectoryError, InvalidMessage, NeedsOperator
from guest_onboarding.handlers.assign import perform_assignment, record_step_failed
from guest_onboarding.handlers.invite import invite_guest
from guest_onboarding.handlers.remind import send_reminder
from guest_onboarding.handlers.sweep import SweepPolicy, SweepSummary, sweep_reminders
from guest_onboarding.messages import (
    AssignmentStep,
    ReminderRequest,
    next_attempt,
    parse_assignment_message,
    parse_invitation_queue_message,
)
from guest_onboarding.retry import Action, RetryPolicy
from guest_onboarding.telemetry import (
    TracingOutbox,
    delivery_span,
    record_outcome,
    record_sweep,
    step_span,
)
from guest_onboarding.wire import as_received

log = logging.getLogger("guest_onboarding")

#: Assignment steps carry their attempt count; after this many the step goes to poison.
MAX_ASSIGNMENT_ATTEMPTS = 8


class DeliveryResult(StrEnum):
    """What became of a message whose handler did not finish it."""

    THROTTLED = "throttled"  # back on the queue after Retry-After
    RETRYING = "retrying"  # back on the queue after a back-off
    REJECTED = "rejected"  # invalid input, poisoned
    POISONED = "poisoned"  # Graph refused, or out of attempts


def log_step(step: str, outcome: str, **fields: Any) -> None:
    """One structured line per step; addresses must already be masked."""
    record = {
        "step": step,
        "outcome": outcome,
        **{k: v for k, v in fields.items() if v is not None},
    }
    log.info(json.dumps(record, sort_keys=True, default=str))


def pseudonym(value: str | None) -> str | None:
    """A stable stand-in for an identifier in logs (HR's external id is personal data): the
    same id always gives the same 12 hex digits, which correlate lines without revealing it."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def _reason(exc: BaseException) -> dict[str, str]:
    """The poison envelope's ``error`` for ``exc``: our rule or Graph's error, else its type."""
    if isinstance(exc, InvalidMessage | NeedsOperator):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, DirectoryError):
        return exc.as_reason()
    return {"code": "RetriesExhausted", "message": f"{type(exc).__name__}: {exc}"}


@dataclass(kw_only=True)
class _Delivery:
    """One queue message being handled: what every log line and poison envelope needs."""

    rt: Runtime
    queue: str
    step: str
    text: str
    message_id: str
    dequeue_count: int
    fields: dict[str, Any] = field(default_factory=dict)

    def done(self, outcome: str, **extra: Any) -> str:
        log_step(self.step, outcome, message_id=self.message_id, **self.fields, **extra)
        record_outcome(self.step, outcome, {**self.fields, **extra})
        return outcome

    async def poison(self, exc: BaseException) -> DeliveryResult:
        """To ``<queue>-poison`` with the reason, now."""
        reason = _reason(exc)
        code, message = reason.pop("code"), reason.pop("message")
        await self.rt.outbox.reject(
            queue=self.queue, original=self.text, code=code, message=message, details=reason or None
        )
        outcome = (
            DeliveryResult.REJECTED if isinstance(exc, InvalidMessage) else DeliveryResult.POISONED
        )
        self.done(outcome, error=code)
        return outcome

    async def fail(
        self,
        exc: Exception,
        *,
        policy: RetryPolicy,
        attempt: int,
        requeue: Callable[[float, bool], Awaitable[None]],
    ) -> DeliveryResult:
        """Apply the retry policy: poison, re-queue a copy (``requeue(delay, counts)``), or
        raise so the queue redelivers this message."""
        decision = policy.decide(exc, attempt=attempt, dequeue_count=self.dequeue_count)
        if decision.action == Action.POISON:
            return await self.poison(exc)
        if decision.action == Action.REQUEUE:
            await requeue(decision.delay, decision.counts_as_attempt)
            outcome = (
                DeliveryResult.RETRYING if decision.counts_as_attempt else DeliveryResult.THROTTLED
            )
            self.done(outcome, retry_after=decision.delay, error=_reason(exc)["code"])
            return outcome
        self.done("retry", error=str(exc), delivery=self.dequeue_count)
        raise exc


def _traced(rt: Runtime) -> Runtime:
    """``rt`` whose outbox stamps what it queues with the active span's trace context."""
    return dataclasses.replace(rt, outbox=TracingOutbox(rt.outbox))


async def handle_invitation_message(
    *,
    body: bytes | str,
    message_id: str,
    dequeue_count: int = 1,
    inserted_at: datetime | None = None,
    rt: Runtime | None = None,
) -> str:
    """invite_fn's work for one message (an HR message or a reminder resend), in its span."""
    rt = rt or runtime()
    queue, now = rt.settings.invitations_queue, rt.clock()
    with delivery_span("invite", queue, body, message_id, dequeue_count, inserted_at, now):
        return await _invite(body, message_id, dequeue_count, _traced(rt))


async def _invite(body: bytes | str, message_id: str, dequeue_count: int, rt: Runtime) -> str:
    delivery = _Delivery(
        rt=rt,
        queue=rt.settings.invitations_queue,
        step="invite",
        text=as_received(body),
        message_id=message_id,
        dequeue_count=dequeue_count,
    )
    try:
        parsed = parse_invitation_queue_message(body, rt.settings.policy)
    except InvalidMessage as exc:
        return await delivery.poison(exc)

    delivery.fields["guest"] = mask_address(parsed.email)
    delivery.fields["guest_ref"] = pseudonym(parsed.email)
    policy = RetryPolicy(max_dequeue_count=rt.max_dequeue_count)

    async def requeue(delay: float, _counts: bool) -> None:
        await rt.outbox.requeue_invitation(delivery.text, delay_seconds=delay)

    try:
        if isinstance(parsed, ReminderRequest):
            delivery.step = "reminder"
            delivery.fields["reminder"] = parsed.number
            return delivery.done(
                await send_reminder(
                    parsed,
                    default_redirect_url=rt.settings.policy.default_redirect_url,
                    reminder_days=rt.settings.reminder_days,
                    directory=rt.directory,
                    ledger=rt.ledger,
                    now=rt.clock(),
                )
            )
        delivery.fields["external_ref"] = pseudonym(parsed.external_id)
        result = await invite_guest(
            parsed,
            token=message_id,
            raw_body=delivery.text,
            directory=rt.directory,
            ledger=rt.ledger,
            outbox=rt.outbox,
            clock=rt.clock,
            replication_wait=timedelta(seconds=rt.settings.invite_replication_wait_seconds),
        )
        return delivery.done(result.result, steps_queued=result.steps_queued)
    except Exception as exc:
        return await delivery.fail(exc, policy=policy, attempt=0, requeue=requeue)


async def handle_assignment_message(
    *,
    body: bytes | str,
    message_id: str,
    dequeue_count: int = 1,
    inserted_at: datetime | None = None,
    rt: Runtime | None = None,
) -> str:
    """assign_fn's work for one assignment step, in its span (the child of the invitation's)."""
    rt = rt or runtime()
    queue, now = rt.settings.assignments_queue, rt.clock()
    with delivery_span("assign", queue, body, message_id, dequeue_count, inserted_at, now):
        return await _assign(body, message_id, dequeue_count, _traced(rt))


async def _assign(body: bytes | str, message_id: str, dequeue_count: int, rt: Runtime) -> str:
    delivery = _Delivery(
        rt=rt,
        queue=rt.settings.assignments_queue,
        step="assign",
        text=as_received(body),
        message_id=message_id,
        dequeue_count=dequeue_count,
    )
    try:
        step: AssignmentStep = parse_assignment_message(body)
    except InvalidMessage as exc:
        return await delivery.poison(exc)
    delivery.fields |= {
        "external_ref": pseudonym(step.externalId),
        "guest": mask_address(step.email),
        "guest_ref": pseudonym(step.email),
        "kind": step.kind,
        "target": step.target,
    }
    policy = RetryPolicy(
        max_dequeue_count=rt.max_dequeue_count, max_attempts=MAX_ASSIGNMENT_ATTEMPTS
    )

    async def requeue(delay: float, counts: bool) -> None:
        await rt.outbox.queue_assignment(
            next_attempt(step) if counts else step, delay_seconds=delay
        )

    try:
        return delivery.done(
            await perform_assignment(
                step, policy=rt.settings.policy, directory=rt.directory, ledger=rt.ledger
            )
        )
    except Exception as exc:
        outcome = await delivery.fail(exc, policy=policy, attempt=step.attempt, requeue=requeue)
        if outcome == DeliveryResult.POISONED:
            await record_step_failed(step, ledger=rt.ledger)
        return outcome


async def run_reminder_sweep(*, past_due: bool = False, rt: Runtime | None = None) -> SweepSummary:
    """resend_timer_fn's work: one sweep, in one span (the reminders' parent). A late (past-due)
    or repeated firing is safe: the ledger records each scheduled reminder before it is queued."""
    rt = rt or runtime()
    with step_span("sweep"):
        summary = await _reminder_sweep(past_due=past_due, rt=_traced(rt))
        redeemed = [
            (mask_address(r.email), pseudonym(r.email) or "", r.after_seconds)
            for r in summary.redemptions
        ]
        record_sweep(summary.as_dict(), redeemed)
        return summary


async def _reminder_sweep(*, past_due: bool, rt: Runtime) -> SweepSummary:
    s = rt.settings
    policy = SweepPolicy(
        reminder_days=s.reminder_days,
        pending_expiry_days=s.pending_expiry_days,
        delete_expired_guests=s.delete_expired_guests,
        max_deletions_per_run=s.max_deletions_per_run,
        resend_untracked=s.resend_untracked,
        retention_days=s.ledger_retention_days,
        policy=s.policy,
    )
    summary = await sweep_reminders(
        policy=policy, directory=rt.directory, ledger=rt.ledger, outbox=rt.outbox, now=rt.clock()
    )
    log_step("sweep", "finished", past_due=past_due, **summary.as_dict())
    return summary
