"""What the function triggers call: decode, call one handler, turn outcomes into queue actions.

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures are retried by the queue and, on the last
delivery ``host.json`` allows, moved there by us with the last error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

from guest_onboarding.bootstrap import Runtime, runtime
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.errors import DirectoryError, InvalidMessage, NeedsOperator
from guest_onboarding.handlers.assign import perform_assignment, record_step_failed
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.handlers.invite import invite_guest
from guest_onboarding.handlers.remind import send_reminder
from guest_onboarding.handlers.sweep import SweepPolicy, SweepSummary, sweep_reminders
from guest_onboarding.internal_messages import (
    AssignmentStep,
    ReminderRequest,
    next_attempt,
    parse_assignment_message,
)
from guest_onboarding.messages import parse_invitation_queue_message
from guest_onboarding.retry import Action, RetryPolicy
from guest_onboarding.wire import as_received

log = logging.getLogger("guest_onboarding")
T = TypeVar("T")

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
class _Delivery:
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
        cls, rt: Runtime, queue: str, step: str, body: bytes | str, message_id: str
    ) -> _Delivery:
        return cls(
            rt=rt,
            queue=queue,
            step=step,
            text=as_received(body),
            message_id=message_id,
            dequeue_count=1,
        )

    def done(self, outcome: str, **extra: Any) -> str:
        log_step(self.step, outcome, message_id=self.message_id, **self.fields, **extra)
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


def _gate(rt: Runtime) -> InvitationGate:
    return InvitationGate(
        directory=rt.directory,
        health=rt.health,
        probe_interval=timedelta(seconds=rt.settings.tenant_stop_probe_seconds),
    )


async def _parse(delivery: _Delivery, parse: Callable[[], T]) -> T | DeliveryResult:
    """The parsed message, or (rejected) the poisoning's outcome."""
    try:
        return parse()
    except InvalidMessage as exc:
        return await delivery.poison(exc)
    except Exception as exc:  # whatever else a hostile body can do to a parser
        return await delivery.poison(unreadable(exc))


async def handle_invitation_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """invite_fn's work for one message: an HR message or a reminder resend."""
    rt = rt or runtime()
    delivery = _Delivery.of(rt, rt.settings.invitations_queue, "invite", body, message_id)
    delivery.dequeue_count = dequeue_count
    parsed = await _parse(
        delivery, lambda: parse_invitation_queue_message(body, rt.settings.policy)
    )
    if isinstance(parsed, DeliveryResult):
        return parsed

    delivery.fields["guest"] = mask_address(parsed.email)
    policy = RetryPolicy(max_dequeue_count=rt.max_dequeue_count)

    async def requeue(delay: float, _counts: bool) -> None:
        await rt.outbox.requeue_invitation(delivery.text, delay_seconds=delay)

    try:
        if isinstance(parsed, ReminderRequest):
            delivery.step = "reminder"
            return delivery.done(
                await send_reminder(
                    parsed,
                    reminder_days=rt.settings.reminder_days,
                    sponsor_cc_from=rt.settings.sponsor_cc_from_reminder,
                    policy=rt.settings.policy,
                    gate=_gate(rt),
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
            gate=_gate(rt),
            link_sponsors=rt.settings.add_sponsors_to_existing_users,
        )
        return delivery.done(result.result, steps_queued=result.steps_queued)
    except Exception as exc:
        return await delivery.fail(exc, policy=policy, attempt=0, requeue=requeue)


async def handle_assignment_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """assign_fn's work for one assignment step."""
    rt = rt or runtime()
    delivery = _Delivery.of(rt, rt.settings.assignments_queue, "assign", body, message_id)
    delivery.dequeue_count = dequeue_count
    parsed = await _parse(delivery, lambda: parse_assignment_message(body))
    if isinstance(parsed, DeliveryResult):
        return parsed
    step: AssignmentStep = parsed
    delivery.fields |= {
        "external_ref": pseudonym(step.externalId),
        "guest": mask_address(step.email),
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
                step,
                policy=rt.settings.policy,
                link_sponsors=rt.settings.add_sponsors_to_existing_users,
                directory=rt.directory,
                ledger=rt.ledger,
            )
        )
    except Exception as exc:
        outcome = await delivery.fail(exc, policy=policy, attempt=step.attempt, requeue=requeue)
        if outcome == DeliveryResult.POISONED:
            await record_step_failed(step, ledger=rt.ledger)
        return outcome


async def run_reminder_sweep(*, past_due: bool = False, rt: Runtime | None = None) -> SweepSummary:
    """resend_timer_fn's work: one sweep. A late (past-due) or repeated firing is safe: the
    ledger records each scheduled reminder before it is queued."""
    rt = rt or runtime()
    s = rt.settings
    policy = SweepPolicy(
        reminder_days=s.reminder_days,
        pending_expiry_days=s.pending_expiry_days,
        expired_guest_action=s.expired_guest_action,
        delete_grace_days=s.delete_grace_days,
        max_removals_per_run=s.max_deletions_per_run,
        resend_untracked=s.resend_untracked,
        retention_days=s.ledger_retention_days,
        replication_wait=timedelta(seconds=s.invite_replication_wait_seconds),
        policy=s.policy,
    )
    summary = await sweep_reminders(
        policy=policy, directory=rt.directory, ledger=rt.ledger, outbox=rt.outbox, now=rt.clock()
    )
    log_step("sweep", "finished", past_due=past_due, **summary.as_dict())
    return summary
