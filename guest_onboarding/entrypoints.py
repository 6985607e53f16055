"""What the function triggers call: decode, call one handler, turn outcomes into queue actions.

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures are retried by the queue and, on the last
delivery ``host.json`` allows, moved there by us with the last error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from guest_onboarding.bootstrap import Runtime, runtime
from guest_onboarding.domain import mask_address
from guest_onboarding.errors import (
    DirectoryError,
    InvalidMessage,
    PermanentDirectoryError,
    Throttled,
)
from guest_onboarding.handlers import (
    SweepPolicy,
    SweepSummary,
    invite_guest,
    perform_assignment,
    send_reminder,
    sweep_reminders,
)
from guest_onboarding.messages import (
    InvitationCommand,
    ReminderRequest,
    parse_assignment_message,
    parse_invitation_queue_message,
)

log = logging.getLogger("guest_onboarding")


def log_step(step: str, outcome: str, **fields: Any) -> None:
    """One structured line per step; addresses must already be masked."""
    record = {
        "step": step,
        "outcome": outcome,
        **{k: v for k, v in fields.items() if v is not None},
    }
    log.info(json.dumps(record, sort_keys=True, default=str))


def _as_text(body: bytes | str) -> str:
    """The message exactly as received (base64 stays base64; bytes that are not UTF-8 become
    U+FFFD), for poison envelopes and re-queued copies."""
    if isinstance(body, str):
        return body
    return body.decode("utf-8", errors="replace")


def _reason(exc: Exception) -> dict[str, str]:
    """The poison envelope's ``error`` for ``exc``: our rule or Graph's error, else its type."""
    if isinstance(exc, InvalidMessage):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, DirectoryError):
        return exc.as_reason()
    return {"code": "RetriesExhausted", "message": f"{type(exc).__name__}: {exc}"}


async def _poison(rt: Runtime, *, queue: str, original: str, exc: Exception) -> str:
    reason = _reason(exc)
    code, message = reason.pop("code"), reason.pop("message")
    await rt.outbox.reject(
        queue=queue, original=original, code=code, message=message, details=reason or None
    )
    return code


@dataclass(frozen=True)
class _Delivery:
    """One queue message being handled: what every log line and poison envelope needs."""

    rt: Runtime
    queue: str
    text: str
    message_id: str
    dequeue_count: int

    async def reject(self, step: str, exc: Exception, **fields: Any) -> str:
        """To ``<queue>-poison`` with the reason, now."""
        code = await _poison(self.rt, queue=self.queue, original=self.text, exc=exc)
        outcome = "rejected" if isinstance(exc, InvalidMessage) else "poisoned"
        log_step(step, outcome, message_id=self.message_id, error=code, **fields)
        return outcome

    async def retry_or_poison(self, step: str, exc: Exception, **fields: Any) -> str:
        """Let the queue redeliver; on the last delivery host.json allows, poison with the
        error instead (the host would move it there without a reason)."""
        if self.dequeue_count < self.rt.max_dequeue_count:
            log_step(
                step,
                "retry",
                message_id=self.message_id,
                error=str(exc),
                delivery=self.dequeue_count,
                **fields,
            )
            raise exc
        return await self.reject(step, exc, **fields)


async def handle_invitation_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """invite_fn's work for one message: an HR message or a reminder resend."""
    rt = rt or runtime()
    delivery = _Delivery(
        rt, rt.settings.invitations_queue, _as_text(body), message_id, dequeue_count
    )
    try:
        parsed = parse_invitation_queue_message(body, rt.settings)
    except InvalidMessage as exc:
        return await delivery.reject("invite", exc)

    step = "reminder" if isinstance(parsed, ReminderRequest) else "invite"
    fields: dict[str, Any] = {"guest": mask_address(parsed.email)}
    if isinstance(parsed, InvitationCommand):
        fields["external_id"] = parsed.external_id
    try:
        if isinstance(parsed, ReminderRequest):
            outcome = await send_reminder(
                parsed,
                default_redirect_url=rt.settings.invite_redirect_url,
                directory=rt.directory,
                ledger=rt.ledger,
                now=rt.clock(),
            )
        else:
            result = await invite_guest(
                parsed,
                token=message_id,
                raw_body=delivery.text,
                directory=rt.directory,
                ledger=rt.ledger,
                outbox=rt.outbox,
                now=rt.clock(),
            )
            outcome = result.result
    except Throttled as exc:
        # Throttling never counts as a failure: the message comes back after Retry-After.
        await rt.outbox.requeue_invitation(delivery.text, delay_seconds=exc.retry_after)
        outcome = "throttled"
        fields["retry_after"] = exc.retry_after
    except PermanentDirectoryError as exc:
        return await delivery.reject(step, exc, **fields)
    except Exception as exc:
        return await delivery.retry_or_poison(step, exc, **fields)
    log_step(step, outcome, message_id=message_id, **fields)
    return outcome


async def handle_assignment_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """assign_fn's work for one assignment step."""
    rt = rt or runtime()
    delivery = _Delivery(
        rt, rt.settings.assignments_queue, _as_text(body), message_id, dequeue_count
    )
    try:
        step = parse_assignment_message(body)
    except InvalidMessage as exc:
        return await delivery.reject("assign", exc)
    fields = {
        "external_id": step.externalId,
        "guest": mask_address(step.email),
        "kind": step.kind,
        "target": step.groupId or f"{step.resourceId}:{step.appRoleId}",
    }
    try:
        outcome = await perform_assignment(
            step, directory=rt.directory, ledger=rt.ledger, outbox=rt.outbox
        )
    except DirectoryError as exc:
        # perform_assignment re-queues what is worth retrying; what it raises is final.
        return await delivery.reject("assign", exc, **fields)
    except Exception as exc:
        return await delivery.retry_or_poison("assign", exc, **fields)
    log_step("assign", outcome, message_id=message_id, **fields)
    return outcome


async def run_reminder_sweep(*, past_due: bool = False, rt: Runtime | None = None) -> SweepSummary:
    """resend_timer_fn's work: one sweep. A late (past-due) or repeated firing is safe: the
    ledger records each scheduled reminder before it is queued."""
    rt = rt or runtime()
    s = rt.settings
    policy = SweepPolicy(
        reminder_days=s.reminder_days,
        pending_expiry_days=s.pending_expiry_days,
        delete_expired_guests=s.delete_expired_guests,
        max_deletions_per_run=s.max_deletions_per_run,
        resend_untracked=s.resend_untracked,
        default_redirect_url=s.invite_redirect_url,
    )
    summary = await sweep_reminders(
        policy=policy, directory=rt.directory, ledger=rt.ledger, outbox=rt.outbox, now=rt.clock()
    )
    log_step("sweep", "finished", past_due=past_due, **summary.as_dict())
    return summary
