"""What the function triggers call: decode, call one handler, and turn what it did (or raised)
into the message's fate, each delivery in its span (the child of the step that queued it).

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures come back as :mod:`.retry` decides (a copy
after a back-off or ``Retry-After``, or the queue's own redelivery) and, on the last delivery
``host.json`` allows, are moved there by us with the last error. One log line and one
``record_outcome`` per delivery, with its :class:`~.domain.outcomes.Outcome`.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from guest_onboarding import telemetry
from guest_onboarding.bootstrap import Runtime, build_runtime, sweep_settings
from guest_onboarding.domain.addresses import mask_address, pseudonym
from guest_onboarding.domain.invitation import OffboardCommand
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.errors import (
    InvalidMessage,
    InvitationsStopped,
    Paused,
    logged_error,
    poison_reason,
    without_text,
)
from guest_onboarding.handlers.assign import perform_step, record_step_failed
from guest_onboarding.handlers.invite import invite_guest
from guest_onboarding.handlers.leavers import sweep_leavers
from guest_onboarding.handlers.offboard import offboard_message
from guest_onboarding.handlers.remind import send_reminder
from guest_onboarding.handlers.sweep import SweepSummary, sweep_reminders
from guest_onboarding.internal_messages import (
    HeldOffboarding,
    ReminderRequest,
    next_attempt,
    parse_assignment_message,
)
from guest_onboarding.messages import parse_invitation_queue_message
from guest_onboarding.retry import Action, RetryRules
from guest_onboarding.telemetry import delivery_span
from guest_onboarding.wire import as_received, check_kept_whole

log = logging.getLogger("guest_onboarding")
T = TypeVar("T")

#: Assignment steps carry their attempt count; after this many the step goes to poison.
MAX_ASSIGNMENT_ATTEMPTS = 8

_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The process-wide runtime the triggers share, built on first use (never at import:
    indexing the app stays cheap), telemetry configured with it."""
    global _runtime
    if _runtime is None:
        telemetry.configure()
        _runtime = build_runtime()
    return _runtime


def set_runtime(value: Runtime | None) -> None:
    """Replace the process-wide runtime (tests; None rebuilds from settings on next use)."""
    global _runtime
    _runtime = value


async def handle_invitation_message(
    *,
    body: bytes | str,
    message_id: str,
    dequeue_count: int = 1,
    inserted_at: datetime | None = None,
    rt: Runtime | None = None,
) -> Outcome:
    """invite_fn's work for one message (an HR message or a reminder resend), in its span."""
    rt = rt or runtime()
    queue, now = rt.settings.invitations_queue, rt.clock()
    with delivery_span("invite", queue, body, message_id, dequeue_count, inserted_at, now):
        rt = _traced(rt)
        delivery = _Delivery(rt=rt, queue=queue, step="invite", body=body, message_id=message_id)
        delivery.dequeue_count = dequeue_count
        settings = rt.settings
        parsed = await delivery.parse(lambda: parse_invitation_queue_message(body, settings.policy))
        if isinstance(parsed, Outcome):
            return parsed
        delivery.fields |= {
            "guest": mask_address(parsed.email),
            "guest_ref": pseudonym(parsed.email),
        }

        async def requeue(delay: float, _counts: bool) -> None:
            await rt.outbox.requeue_invitation(delivery.text, delay_seconds=delay)

        try:
            if isinstance(parsed, ReminderRequest):
                delivery.step = "reminder"
                delivery.fields["reminder"] = parsed.number
                sent = await send_reminder(
                    parsed,
                    reminder_days=settings.reminder_days,
                    sponsor_cc_from=settings.sponsor_cc_from_reminder,
                    policy=settings.policy,
                    gate=rt.gate,
                    ledger=rt.ledger,
                    now=rt.clock(),
                )
                return delivery.done(sent)
            if isinstance(parsed, OffboardCommand | HeldOffboarding):
                delivery.step = "offboard"
                left = await offboard_message(parsed, raw_body=delivery.text, run=rt.leavers())
                return delivery.done(left.outcome, steps_queued=left.steps_queued, **left.fields)
            delivery.fields["external_ref"] = pseudonym(parsed.external_id)
            invited = await invite_guest(
                await rt.grantable(parsed),  # dynamic groups refused
                token=message_id,
                raw_body=delivery.text,
                directory=rt.directory,
                gate=rt.gate,
                ledger=rt.ledger,
                outbox=rt.outbox,
                clock=rt.clock,
                replication_wait=timedelta(seconds=settings.invite_replication_wait_seconds),
                link_sponsors=settings.add_sponsors_to_existing_users,
                lifecycle=rt.lifecycle,
                allow_members=settings.allow_members,
            )
            return delivery.done(invited.outcome, steps_queued=invited.steps_queued)
        except Exception as exc:
            rules = RetryRules(max_dequeue_count=rt.max_dequeue_count)
            return await delivery.fail(exc, rules=rules, attempt=0, requeue=requeue)


async def handle_assignment_message(
    *,
    body: bytes | str,
    message_id: str,
    dequeue_count: int = 1,
    inserted_at: datetime | None = None,
    rt: Runtime | None = None,
) -> Outcome:
    """assign_fn's work for one assignment step, in its span (the child of the invitation's)."""
    rt = rt or runtime()
    queue, now = rt.settings.assignments_queue, rt.clock()
    with delivery_span("assign", queue, body, message_id, dequeue_count, inserted_at, now):
        rt = _traced(rt)
        delivery = _Delivery(rt=rt, queue=queue, step="assign", body=body, message_id=message_id)
        delivery.dequeue_count = dequeue_count
        step = await delivery.parse(lambda: parse_assignment_message(body))
        if isinstance(step, Outcome):
            return step
        delivery.fields |= {
            "external_ref": pseudonym(step.externalId),
            "guest": mask_address(step.email),
            "guest_ref": pseudonym(step.email),
            "kind": step.kind,
            "target": step.target,
        }

        async def requeue(delay: float, counts: bool) -> None:
            again = next_attempt(step) if counts else step.model_copy(update={"requeued": True})
            await rt.outbox.queue_assignment(again, delay_seconds=delay)

        try:
            done = await perform_step(
                step,
                policy=await rt.policy_for(step),
                link_sponsors=rt.settings.add_sponsors_to_existing_users,
                directory=rt.directory,
                ledger=rt.ledger,
                outbox=rt.outbox,
                first_try=not step.requeued and dequeue_count == 1,
                now=rt.clock(),
            )
            return delivery.done(done)
        except Exception as exc:
            rules = RetryRules(
                max_dequeue_count=rt.max_dequeue_count, max_attempts=MAX_ASSIGNMENT_ATTEMPTS
            )
            outcome = await delivery.fail(exc, rules=rules, attempt=step.attempt, requeue=requeue)
            if outcome == Outcome.POISONED:
                await record_step_failed(step, ledger=rt.ledger)
            return outcome


async def run_reminder_sweep(*, past_due: bool = False, rt: Runtime | None = None) -> SweepSummary:
    """resend_timer_fn's work: one sweep, in one span (the reminders' parent). A late (past-due)
    or repeated firing is safe: the ledger records each scheduled reminder before it is queued."""
    rt = rt or runtime()
    settings, now = sweep_settings(rt.settings), rt.clock()
    with telemetry.step_span("sweep"):
        rt = _traced(rt)
        summary = await sweep_reminders(
            settings=settings, directory=rt.directory, ledger=rt.ledger, outbox=rt.outbox, now=now
        )
        leavers = await sweep_leavers(rt.leavers(now), settings=settings, after=summary)
        counts = summary.as_dict() | leavers.counts()
        log_step("sweep", Outcome.FINISHED, past_due=past_due, **counts)
        redeemed = [
            (mask_address(r.email), pseudonym(r.email) or "", r.after_seconds)
            for r in summary.redemptions
        ]
        telemetry.record_sweep(counts, redeemed, offboardings=leavers.outcomes)
        return summary


def _traced(rt: Runtime) -> Runtime:
    """``rt`` whose outbox stamps what it queues with the active span's trace context."""
    traced = copy.copy(rt)
    traced.outbox = telemetry.TracingOutbox(rt.outbox)
    return traced


def log_step(step: str, outcome: Outcome, **fields: Any) -> None:
    """One structured line per step; addresses must already be masked. A tenant-wide stop is
    an error line (once per stop and probe interval, whichever instance met it)."""
    record = {"step": step, "outcome": outcome.value}
    record |= {k: v for k, v in fields.items() if v is not None}
    level = logging.ERROR if outcome == Outcome.TENANT_STOP else logging.INFO
    log.log(level, json.dumps(record, sort_keys=True, default=str))


@dataclass(kw_only=True)
class _Delivery:
    """One queue message being handled: what its log line, its telemetry and its poison
    envelope need, and what becomes of it when its handler does not finish it."""

    rt: Runtime
    queue: str
    step: str
    body: bytes | str
    message_id: str
    dequeue_count: int = 1
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The message as received, for poison envelopes and re-queued copies."""
        return as_received(self.body)

    def done(self, outcome: Outcome, **extra: Any) -> Outcome:
        log_step(self.step, outcome, message_id=self.message_id, **self.fields, **extra)
        telemetry.record_outcome(self.step, outcome, {**self.fields, **extra})
        return outcome

    async def parse(self, parse: Callable[[], T]) -> T | Outcome:
        """The parsed message, or (rejected) the poisoning's outcome. A message too large to
        keep whole for replay is refused before anything reads it (``MessageTooLarge``)."""
        try:
            check_kept_whole(self.text)
            return parse()
        except InvalidMessage as exc:
            return await self.poison(exc)
        except Exception as exc:  # whatever else a hostile body can do to a parser
            reason = f"message cannot be read ({type(exc).__name__})"
            return await self.poison(InvalidMessage("InvalidJson", reason))

    async def poison(self, exc: BaseException) -> Outcome:
        """To ``<queue>-poison`` with the reason, now."""
        reason = poison_reason(exc)
        code, message = reason.pop("code"), reason.pop("message")
        await self.rt.outbox.reject(
            queue=self.queue, original=self.text, code=code, message=message, details=reason or None
        )
        rejected = isinstance(exc, InvalidMessage) and exc.rejected
        return self.done(Outcome.REJECTED if rejected else Outcome.POISONED, error=code)

    async def fail(
        self,
        exc: Exception,
        *,
        rules: RetryRules,
        attempt: int,
        requeue: Callable[[float, bool], Awaitable[None]],
    ) -> Outcome:
        """Apply the retry rules: poison, re-queue a copy (``requeue(delay, counts)``), or
        raise so the queue redelivers this message."""
        decision = rules.decide(exc, attempt=attempt, dequeue_count=self.dequeue_count)
        if decision.action == Action.POISON:
            return await self.poison(exc)
        if decision.action == Action.REQUEUE:
            await requeue(decision.delay, decision.counts_as_attempt)
            if isinstance(exc, InvitationsStopped) and exc.recorded:
                outcome = Outcome.TENANT_STOP
            elif isinstance(exc, Paused):
                outcome = Outcome.THROTTLED  # Graph asked to wait
            else:
                outcome = Outcome.RETRYING  # a back-off, or a Storage outage
            return self.done(outcome, retry_after=decision.delay, error=poison_reason(exc)["code"])
        self.done(Outcome.RETRY, **logged_error(exc), delivery=self.dequeue_count)
        raise without_text(exc) from None
