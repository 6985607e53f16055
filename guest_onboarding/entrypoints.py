"""What the function triggers call: decode, call one handler, turn outcomes into queue actions,
each delivery in its span (the child of the step that queued it).

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures are retried by the queue and, on the last
delivery ``host.json`` allows, moved there by us with the last error (:mod:`.delivery`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from guest_onboarding.bootstrap import Runtime, runtime
from guest_onboarding.delivery import (
    Delivery,
    log_step,
    parse_or_poison,
    pseudonym,
)
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.domain.outcomes import Outcome
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
from guest_onboarding.retry import RetryPolicy
from guest_onboarding.telemetry import TracingOutbox, delivery_span, record_sweep, step_span

#: Assignment steps carry their attempt count; after this many the step goes to poison.
MAX_ASSIGNMENT_ATTEMPTS = 8

__all__ = [
    "MAX_ASSIGNMENT_ATTEMPTS",
    "handle_assignment_message",
    "handle_invitation_message",
    "log_step",
    "run_reminder_sweep",
]


def _traced(rt: Runtime) -> Runtime:
    """``rt`` whose outbox stamps what it queues with the active span's trace context."""
    return dataclasses.replace(rt, outbox=TracingOutbox(rt.outbox))


def _gate(rt: Runtime) -> InvitationGate:
    return InvitationGate(
        directory=rt.directory,
        health=rt.health,
        probe_interval=timedelta(seconds=rt.settings.tenant_stop_probe_seconds),
    )


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
        return await _invite(body, message_id, dequeue_count, _traced(rt))


async def _invite(body: bytes | str, message_id: str, dequeue_count: int, rt: Runtime) -> Outcome:
    queue = rt.settings.invitations_queue
    delivery = Delivery.of(rt, queue, "invite", body, message_id, dequeue_count)
    allow_lists = rt.settings.policy
    parsed = await parse_or_poison(
        delivery, lambda: parse_invitation_queue_message(body, allow_lists)
    )
    if isinstance(parsed, Outcome):
        return parsed
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
        return await _assign(body, message_id, dequeue_count, _traced(rt))


async def _assign(body: bytes | str, message_id: str, dequeue_count: int, rt: Runtime) -> Outcome:
    queue = rt.settings.assignments_queue
    delivery = Delivery.of(rt, queue, "assign", body, message_id, dequeue_count)
    parsed = await parse_or_poison(delivery, lambda: parse_assignment_message(body))
    if isinstance(parsed, Outcome):
        return parsed
    step: AssignmentStep = parsed
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
                step,
                policy=rt.settings.policy,
                link_sponsors=rt.settings.add_sponsors_to_existing_users,
                directory=rt.directory,
                ledger=rt.ledger,
            )
        )
    except Exception as exc:
        outcome = await delivery.fail(exc, policy=policy, attempt=step.attempt, requeue=requeue)
        if outcome == Outcome.POISONED:
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
    log_step("sweep", Outcome.FINISHED, past_due=past_due, **summary.as_dict())
    return summary
