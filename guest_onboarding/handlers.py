"""Handlers: one small function per step, talking only to ports. Each is safe to run twice.

Idempotency rests on the ledger: a row is claimed before an invitation is sent, step statuses
are recorded as steps finish, and the reminder sweep records "reminder n scheduled" (with an
etag check) before it queues anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guest_onboarding.domain import (
    REMINDABLE,
    GuestStatus,
    LedgerEntry,
    StepStatus,
    is_expired,
    mask_address,
    reminder_due,
)
from guest_onboarding.errors import (
    AlreadyDone,
    NotFound,
    PermanentDirectoryError,
    Throttled,
    TransientDirectoryError,
)
from guest_onboarding.messages import (
    AssignmentStep,
    InvitationCommand,
    ReminderRequest,
    normalize_address,
)
from guest_onboarding.ports import Directory, InvitationRequest, Ledger, Outbox

log = logging.getLogger("guest_onboarding")

#: How long a claim on a ledger row keeps concurrent deliveries of the same guest waiting.
CLAIM_LEASE = timedelta(seconds=30)
#: Assignment retries for transient errors before the step goes to poison.
MAX_ASSIGNMENT_ATTEMPTS = 8


class RetryLater(Exception):
    """The handler could not finish now and did not re-queue: let the queue redeliver."""


@dataclass(frozen=True, kw_only=True)
class InviteOutcome:
    """What ``invite_guest`` did: invited, existing, already_onboarded or deferred."""

    result: str
    user_id: str | None = None
    steps_queued: int = 0


def _invitation_request(cmd: InvitationCommand) -> InvitationRequest:
    return InvitationRequest(
        email=cmd.email,
        redirect_url=cmd.redirect_url,
        display_name=cmd.display_name,
        send_message=cmd.send_message,
        message_body=cmd.message_body,
        message_language=cmd.message_language,
        cc_recipient=cmd.cc_recipient,
    )


def _claim_entry(cmd: InvitationCommand, *, token: str, now: datetime) -> LedgerEntry:
    return LedgerEntry(
        email=cmd.email,
        status=GuestStatus.INVITING,
        claim_token=token,
        claimed_at=now,
        external_id=cmd.external_id,
        display_name=cmd.display_name,
        redirect_url=cmd.redirect_url,
        message_body=cmd.message_body,
        message_language=cmd.message_language,
        cc_recipient=cmd.cc_recipient,
        created_at=now,
    )


_ONBOARDED = frozenset(
    {
        GuestStatus.INVITED,
        GuestStatus.EXISTING,
        GuestStatus.UNTRACKED,
        GuestStatus.REDEEMED,
        GuestStatus.EXPIRED,
    }
)


async def invite_guest(
    cmd: InvitationCommand,
    *,
    token: str,
    raw_body: str,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> InviteOutcome:
    """Make sure the guest exists (inviting only when no user has the address) and queue one
    assignment step per group and app role not yet done. ``token`` identifies this delivery
    (the queue message id, which a redelivery keeps)."""
    for _ in range(3):
        entry = await ledger.get(cmd.email)
        if entry is not None and entry.user_id and entry.status in _ONBOARDED:
            queued = await _fan_out(cmd, entry.user_id, entry, ledger=ledger, outbox=outbox)
            return InviteOutcome(
                result="already_onboarded", user_id=entry.user_id, steps_queued=queued
            )

        if entry is not None and _claim_held_by_other(entry, token=token, now=now):
            # Another delivery is inviting this guest right now: come back when it is done.
            assert entry.claimed_at is not None
            wait = (entry.claimed_at + CLAIM_LEASE - now).total_seconds()
            # Re-check soon: the holder usually finishes within a second or two.
            await outbox.requeue_invitation(raw_body, delay_seconds=min(max(wait, 1.0), 3.0))
            return InviteOutcome(result="deferred")

        user = await directory.find_user(cmd.email)
        if user is not None:
            ours = entry is not None and entry.status == GuestStatus.INVITING
            changes: dict[str, object] = {
                "status": GuestStatus.INVITED if ours else GuestStatus.EXISTING,
                "user_id": user.id,
                "claim_token": None,
            }
            if ours and entry is not None:
                # A delivery crashed after the invitation went out: it is ours, sent at claim time.
                changes |= {
                    "first_sent_at": entry.claimed_at,
                    "last_sent_at": entry.claimed_at,
                    "send_count": max(entry.send_count, 1),
                }
            if entry is None:
                fresh = _claim_entry(cmd, token=token, now=now)
                fresh.status, fresh.user_id, fresh.claim_token = GuestStatus.EXISTING, user.id, None
                if not await ledger.claim(fresh):
                    continue  # a concurrent delivery wrote the row first: look again
            await ledger.update(cmd.email, changes)
            # The update above left the step statuses as they were when read.
            queued = await _fan_out(cmd, user.id, entry, ledger=ledger, outbox=outbox)
            return InviteOutcome(
                result="invited" if ours else "existing", user_id=user.id, steps_queued=queued
            )

        claim = _claim_entry(cmd, token=token, now=now)
        if entry is None:
            if not await ledger.claim(claim):
                continue  # a concurrent delivery claimed it first: look again
        elif entry.etag is None or not await ledger.take_over(claim, etag=entry.etag):
            continue

        return await _send_invitation(
            cmd, token=token, directory=directory, ledger=ledger, outbox=outbox, now=now
        )
    raise RetryLater(f"ledger row for {mask_address(cmd.email)} kept changing")


def _claim_held_by_other(entry: LedgerEntry, *, token: str, now: datetime) -> bool:
    return (
        entry.status == GuestStatus.INVITING
        and entry.claim_token is not None
        and entry.claim_token != token
        and entry.claimed_at is not None
        and now - entry.claimed_at < CLAIM_LEASE
    )


async def _send_invitation(
    cmd: InvitationCommand,
    *,
    token: str,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> InviteOutcome:
    try:
        result = await directory.invite(_invitation_request(cmd))
    except Throttled:
        # 429 means Graph did nothing: release the claim so the re-queued copy may take it.
        await ledger.update(cmd.email, {"claim_token": None})
        raise
    except PermanentDirectoryError as exc:
        await ledger.update(
            cmd.email,
            {
                "status": GuestStatus.FAILED,
                "claim_token": None,
                "last_error": f"{exc.code}: {exc.message}",
            },
        )
        raise
    sent = now if cmd.send_message else None
    await ledger.update(
        cmd.email,
        {
            "status": GuestStatus.INVITED,
            "user_id": result.user_id,
            "claim_token": None,
            "first_sent_at": now,
            "last_sent_at": sent,
            "send_count": 1 if cmd.send_message else 0,
        },
    )
    # The claim replaced the whole row, so no step has a status yet: nothing to read back.
    queued = await _fan_out(cmd, result.user_id, None, ledger=ledger, outbox=outbox)
    return InviteOutcome(result="invited", user_id=result.user_id, steps_queued=queued)


def assignment_steps(cmd: InvitationCommand, user_id: str) -> list[AssignmentStep]:
    """One step per group and per app role the command asks for."""
    steps = [
        AssignmentStep(
            kind="group", email=cmd.email, userId=user_id, groupId=group, externalId=cmd.external_id
        )
        for group in cmd.groups
    ]
    steps += [
        AssignmentStep(
            kind="appRole",
            email=cmd.email,
            userId=user_id,
            resourceId=resource,
            appRoleId=role,
            externalId=cmd.external_id,
        )
        for resource, role in cmd.app_roles
    ]
    return steps


async def _fan_out(
    cmd: InvitationCommand,
    user_id: str,
    entry: LedgerEntry | None,
    *,
    ledger: Ledger,
    outbox: Outbox,
) -> int:
    done = entry.steps if entry is not None else {}
    steps = [s for s in assignment_steps(cmd, user_id) if done.get(s.step_key) != StepStatus.DONE]
    new = {s.step_key: StepStatus.QUEUED.value for s in steps if s.step_key not in done}
    if new:
        await ledger.update(cmd.email, {"steps": new})
    for step in steps:
        await outbox.queue_assignment(step)
    return len(steps)


def backoff_seconds(attempt: int) -> float:
    """Delay before retry ``attempt`` + 1 of a transient failure: 1, 2, 4 ... capped at 60 s."""
    return float(min(2**attempt, 60))


async def perform_assignment(
    step: AssignmentStep,
    *,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
) -> str:
    """Carry out one assignment step; "already there" is success. Returns ``done``,
    ``already_done``, ``throttled`` or ``retrying``; raises the Graph error when the step can
    never succeed (or ran out of attempts)."""
    key = step.step_key
    entry = await ledger.get(step.email)
    if entry is not None and entry.steps.get(key) == StepStatus.DONE:
        return "already_done"
    try:
        if step.kind == "group":
            assert step.groupId is not None
            await directory.add_group_member(group_id=step.groupId, user_id=step.userId)
        else:
            assert step.resourceId is not None and step.appRoleId is not None
            await directory.assign_app_role(
                user_id=step.userId, resource_id=step.resourceId, app_role_id=step.appRoleId
            )
        result = "done"
    except AlreadyDone:
        result = "already_done"
    except Throttled as exc:
        # Throttling never counts as a failure: the step comes back after Retry-After.
        await outbox.queue_assignment(step, delay_seconds=exc.retry_after)
        return "throttled"
    except TransientDirectoryError:
        if step.attempt + 1 >= MAX_ASSIGNMENT_ATTEMPTS:
            await ledger.update(step.email, {"steps": {key: StepStatus.FAILED.value}})
            raise
        retry = step.model_copy(update={"attempt": step.attempt + 1})
        await outbox.queue_assignment(retry, delay_seconds=backoff_seconds(step.attempt))
        return "retrying"
    except PermanentDirectoryError:
        await ledger.update(step.email, {"steps": {key: StepStatus.FAILED.value}})
        raise
    await ledger.update(step.email, {"steps": {key: StepStatus.DONE.value}})
    return result


async def send_reminder(
    reminder: ReminderRequest,
    *,
    default_redirect_url: str,
    directory: Directory,
    ledger: Ledger,
    now: datetime,
) -> str:
    """Re-send the invitation for reminder ``number`` with the guest's original redirect URL,
    message and language. Returns ``sent``, ``already_sent`` or ``skipped``."""
    email = normalize_address(reminder.email)
    entry = await ledger.get(email)
    if entry is None or entry.status not in REMINDABLE:
        return "skipped"
    if entry.reminders_sent >= reminder.number:
        return "already_sent"
    await directory.invite(
        InvitationRequest(
            email=email,
            redirect_url=entry.redirect_url or default_redirect_url,
            display_name=entry.display_name,
            send_message=True,
            message_body=entry.message_body,
            message_language=entry.message_language,
            cc_recipient=entry.cc_recipient,
        )
    )
    await ledger.update(
        email,
        {
            "reminders_sent": reminder.number,
            "send_count": entry.send_count + 1,
            "last_sent_at": now,
        },
    )
    return "sent"


@dataclass(kw_only=True)
class SweepPolicy:
    reminder_days: tuple[int, ...]
    pending_expiry_days: int
    delete_expired_guests: bool
    max_deletions_per_run: int
    resend_untracked: bool
    default_redirect_url: str


@dataclass(kw_only=True)
class SweepSummary:
    scanned: int = 0
    due: int = 0
    scheduled: int = 0
    redeemed: int = 0
    removed: int = 0
    expired: int = 0
    deleted: int = 0
    errors: int = 0
    skipped_deletions: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(slots=True)
class _Tracked:
    """The few fields of a ledger row the sweep keeps in memory while it streams the directory."""

    status: GuestStatus
    user_id: str | None
    first_sent_at: datetime | None
    reminders_scheduled: int
    etag: str | None
    seen: bool = False

    @classmethod
    def of(cls, entry: LedgerEntry, *, seen: bool = False) -> _Tracked:
        return cls(
            status=entry.status,
            user_id=entry.user_id,
            first_sent_at=entry.first_sent_at,
            reminders_scheduled=entry.reminders_scheduled,
            etag=entry.etag,
            seen=seen,
        )


@dataclass(kw_only=True)
class _SweepRun:
    policy: SweepPolicy
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    now: datetime
    summary: SweepSummary = field(default_factory=SweepSummary)


async def sweep_reminders(
    *,
    policy: SweepPolicy,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> SweepSummary:
    """One reminder sweep: schedule due reminders, expire (and optionally delete) guests pending
    too long, mark redeemed and removed guests. One failing guest never stops the sweep; a
    second sweep at the same instant schedules nothing twice (etag-checked ledger writes)."""
    run = _SweepRun(policy=policy, directory=directory, ledger=ledger, outbox=outbox, now=now)
    tracked: dict[str, _Tracked] = {}
    async for entry in ledger.tracked_entries():
        tracked[entry.email] = _Tracked.of(entry)
    async for guest in directory.pending_guests():
        run.summary.scanned += 1
        if not guest.mail:
            continue
        email = normalize_address(guest.mail)
        row = tracked.get(email)
        if row is not None:
            row.seen = True
        try:
            await _consider_pending_guest(
                run, email, guest.id, guest.state_changed_at or guest.created_at, row
            )
        except Exception:
            run.summary.errors += 1
            log.exception("sweep: guest %s failed", mask_address(email))
    for email, row in tracked.items():
        if row.seen or row.status not in REMINDABLE or not row.user_id:
            continue
        try:
            await _settle_no_longer_pending(run, email, row)
        except Exception:
            run.summary.errors += 1
            log.exception("sweep: guest %s failed", mask_address(email))
    return run.summary


async def _consider_pending_guest(
    run: _SweepRun, email: str, user_id: str, pending_since: datetime | None, row: _Tracked | None
) -> None:
    policy, summary = run.policy, run.summary
    if row is None or row.status == GuestStatus.EXISTING:
        if not policy.resend_untracked or pending_since is None:
            return
        row = await _adopt_untracked(run, email, user_id, pending_since, row)
        if row is None:
            return
    if row.status == GuestStatus.EXPIRED:
        await _maybe_delete(run, email, user_id)
        return
    first = row.first_sent_at
    if first is None:
        return
    if is_expired(first_sent_at=first, pending_expiry_days=policy.pending_expiry_days, now=run.now):
        if await run.ledger.update(
            email, {"status": GuestStatus.EXPIRED, "expired_at": run.now}, etag=row.etag
        ):
            summary.expired += 1
            await _maybe_delete(run, email, user_id)
        return
    number = reminder_due(
        first_sent_at=first,
        reminders_scheduled=row.reminders_scheduled,
        reminder_days=policy.reminder_days,
        now=run.now,
    )
    if number is None:
        return
    summary.due += 1
    # Recorded before queueing, etag-checked: a concurrent or repeated sweep cannot schedule it too.
    if await run.ledger.update(email, {"reminders_scheduled": number}, etag=row.etag):
        await run.outbox.queue_reminder(ReminderRequest(email=email, number=number))
        summary.scheduled += 1


async def _adopt_untracked(
    run: _SweepRun, email: str, user_id: str, pending_since: datetime, row: _Tracked | None
) -> _Tracked | None:
    """Start tracking a pending guest this system did not invite (RESEND_UNTRACKED)."""
    changes: dict[str, object] = {
        "status": GuestStatus.UNTRACKED,
        "user_id": user_id,
        "first_sent_at": pending_since,
        "redirect_url": run.policy.default_redirect_url,
    }
    if row is None:
        entry = LedgerEntry(email=email, created_at=run.now, **changes)  # type: ignore[arg-type]
        if not await run.ledger.claim(entry):
            return None
    elif not await run.ledger.update(email, changes, etag=row.etag):
        return None
    fresh = await run.ledger.get(email)
    if fresh is None:
        return None
    return _Tracked.of(fresh, seen=True)


async def _maybe_delete(run: _SweepRun, email: str, user_id: str) -> None:
    if not run.policy.delete_expired_guests:
        return
    if run.summary.deleted >= run.policy.max_deletions_per_run:
        run.summary.skipped_deletions += 1
        return
    try:
        await run.directory.delete_user(user_id)
    except NotFound:
        pass
    await run.ledger.update(email, {"status": GuestStatus.DELETED, "deleted_at": run.now})
    run.summary.deleted += 1


async def _settle_no_longer_pending(run: _SweepRun, email: str, row: _Tracked) -> None:
    """A tracked guest missing from the pending list has redeemed, or is gone."""
    assert row.user_id is not None
    user = await run.directory.get_user(row.user_id)
    if user is None:
        await run.ledger.update(email, {"status": GuestStatus.REMOVED}, etag=row.etag)
        run.summary.removed += 1
    elif user.external_user_state and user.external_user_state != "PendingAcceptance":
        redeemed_at = user.state_changed_at or run.now
        if await run.ledger.update(
            email, {"status": GuestStatus.REDEEMED, "redeemed_at": redeemed_at}, etag=row.etag
        ):
            run.summary.redeemed += 1
