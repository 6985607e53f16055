"""What the function triggers call: decode, call one handler, turn outcomes into queue actions.

Every message ends done or in ``<queue>-poison`` with its reason: rejected input and permanent
Graph refusals go there at once; transient failures are retried by the queue and, on the last
delivery ``host.json`` allows, moved there by us with the last error.
"""

from __future__ import annotations

import json
import logging
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


async def _fail_or_retry(
    rt: Runtime,
    *,
    queue: str,
    original: str,
    exc: Exception,
    dequeue_count: int,
    step: str,
    message_id: str,
) -> str:
    """Poison with the error on the last allowed delivery; otherwise let the queue retry."""
    if dequeue_count < rt.max_dequeue_count:
        log_step(step, "retry", message_id=message_id, error=str(exc), delivery=dequeue_count)
        raise exc
    if isinstance(exc, DirectoryError):
        reason = exc.as_reason()
    else:
        reason = {"code": "RetriesExhausted", "message": f"{type(exc).__name__}: {exc}"}
    code, message = reason.pop("code"), reason.pop("message")
    await rt.outbox.reject(
        queue=queue, original=original, code=code, message=message, details=reason or None
    )
    log_step(step, "poisoned", message_id=message_id, error=code)
    return "poisoned"


async def handle_invitation_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """invite_fn's work for one message: an HR message or a reminder resend."""
    rt = rt or runtime()
    queue = rt.settings.invitations_queue
    text = _as_text(body)
    try:
        parsed = parse_invitation_queue_message(body, rt.settings)
    except InvalidMessage as exc:
        await rt.outbox.reject(queue=queue, original=text, code=exc.code, message=exc.message)
        log_step("invite", "rejected", message_id=message_id, error=exc.code)
        return "rejected"

    is_reminder = isinstance(parsed, ReminderRequest)
    step = "reminder" if is_reminder else "invite"
    guest = mask_address(parsed.email)
    external_id = None if isinstance(parsed, ReminderRequest) else parsed.external_id
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
                raw_body=text,
                directory=rt.directory,
                ledger=rt.ledger,
                outbox=rt.outbox,
                now=rt.clock(),
            )
            outcome = result.result
    except Throttled as exc:
        await rt.outbox.requeue_invitation(text, delay_seconds=exc.retry_after)
        log_step(
            step,
            "throttled",
            message_id=message_id,
            external_id=external_id,
            guest=guest,
            retry_after=exc.retry_after,
        )
        return "throttled"
    except PermanentDirectoryError as exc:
        reason = exc.as_reason()
        await rt.outbox.reject(
            queue=queue,
            original=text,
            code=reason.pop("code"),
            message=reason.pop("message"),
            details=reason or None,
        )
        log_step(
            step,
            "poisoned",
            message_id=message_id,
            external_id=external_id,
            guest=guest,
            error=exc.code,
        )
        return "poisoned"
    except Exception as exc:
        return await _fail_or_retry(
            rt,
            queue=queue,
            original=text,
            exc=exc,
            dequeue_count=dequeue_count,
            step=step,
            message_id=message_id,
        )
    log_step(step, outcome, message_id=message_id, external_id=external_id, guest=guest)
    return outcome


async def handle_assignment_message(
    *, body: bytes | str, message_id: str, dequeue_count: int = 1, rt: Runtime | None = None
) -> str:
    """assign_fn's work for one assignment step."""
    rt = rt or runtime()
    queue = rt.settings.assignments_queue
    text = _as_text(body)
    try:
        step = parse_assignment_message(body)
    except InvalidMessage as exc:
        await rt.outbox.reject(queue=queue, original=text, code=exc.code, message=exc.message)
        log_step("assign", "rejected", message_id=message_id, error=exc.code)
        return "rejected"
    fields = {
        "message_id": message_id,
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
        reason = exc.as_reason()
        await rt.outbox.reject(
            queue=queue,
            original=text,
            code=reason.pop("code"),
            message=reason.pop("message"),
            details=reason or None,
        )
        log_step("assign", "poisoned", error=exc.code, **fields)
        return "poisoned"
    except Exception as exc:
        return await _fail_or_retry(
            rt,
            queue=queue,
            original=text,
            exc=exc,
            dequeue_count=dequeue_count,
            step="assign",
            message_id=message_id,
        )
    log_step("assign", outcome, **fields)
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
