"""sweep_reminders: the timer's pass over pending guests. Schedules due reminders, expires (and
optionally deletes) guests pending too long, marks redeemed and removed guests.

Memory stays flat in the number of pending guests: the directory is streamed page by page and
only a compact index of tracked ledger rows is held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from guest_onboarding.domain.addresses import mask_address, normalize_address
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import (
    REMINDABLE,
    Adopted,
    Deleted,
    Expired,
    GuestStatus,
    LedgerEntry,
    Redeemed,
    ReminderScheduled,
    Removed,
    apply,
)
from guest_onboarding.domain.policy import Policy
from guest_onboarding.domain.schedule import is_expired, reminder_due
from guest_onboarding.errors import InvalidMessage, NotFound
from guest_onboarding.handlers.retention import forget_finished_guests
from guest_onboarding.messages import ReminderRequest
from guest_onboarding.ports import Directory, Ledger, Outbox

log = logging.getLogger("guest_onboarding")


@dataclass(kw_only=True)
class SweepPolicy:
    reminder_days: tuple[int, ...]
    pending_expiry_days: int
    delete_expired_guests: bool
    max_deletions_per_run: int
    resend_untracked: bool
    retention_days: int
    #: The allow-lists: an adopted guest must pass the domain lists as an HR message would.
    policy: Policy


@dataclass(frozen=True, slots=True)
class Redemption:
    """A guest the sweep found redeemed: whom (for the entrypoint to mask or hash, never to
    log as is) and how long after the first invitation (or adoption), if known."""

    email: str
    after_seconds: float | None


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
    not_adopted: int = 0
    retired: int = 0
    #: One per guest marked redeemed (telemetry: time to redeem); not one of the counts.
    redemptions: list[Redemption] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


@dataclass(slots=True)
class _Tracked:
    """The few fields of a ledger row the sweep keeps in memory while it streams the directory."""

    status: GuestStatus
    user_id: str | None
    first_sent_at: datetime | None
    reminders_scheduled: int
    send_message: bool
    etag: str | None
    seen: bool = False

    @classmethod
    def of(cls, entry: LedgerEntry, *, seen: bool = False) -> _Tracked:
        return cls(
            status=entry.status,
            user_id=entry.user_id,
            first_sent_at=entry.first_sent_at,
            reminders_scheduled=entry.reminders_scheduled,
            send_message=entry.invitation is None or entry.invitation.send_message,
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
            await _consider_pending_guest(run, email, guest.id, row)
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
    del tracked
    try:
        run.summary.retired = await forget_finished_guests(
            ledger=ledger, now=now, retention_days=policy.retention_days
        )
    except Exception:
        run.summary.errors += 1
        log.exception("sweep: retiring finished rows failed")
    return run.summary


async def _consider_pending_guest(
    run: _SweepRun, email: str, user_id: str, row: _Tracked | None
) -> None:
    policy, summary = run.policy, run.summary
    if row is None or row.status == GuestStatus.EXISTING:
        if not policy.resend_untracked:
            return
        row = await _adopt_untracked(run, email, user_id, row)
        if row is None:
            return
    if row.status == GuestStatus.EXPIRED:
        await _maybe_delete(run, email, user_id)
        return
    first = row.first_sent_at
    if first is None:
        return
    # Nobody expires before their whole reminder schedule went out (after an outage the last
    # reminder is scheduled first, and the guest expires at a later sweep).
    schedule_done = not row.send_message or row.reminders_scheduled >= len(policy.reminder_days)
    expired = is_expired(
        first_sent_at=first, pending_expiry_days=policy.pending_expiry_days, now=run.now
    )
    if expired and schedule_done:
        if await run.ledger.update(email, Expired(expired_at=run.now), etag=row.etag):
            summary.expired += 1
            await _maybe_delete(run, email, user_id)
        return
    if not row.send_message:
        return  # the guest asked for no invitation email: no reminders either
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
    if await run.ledger.update(email, ReminderScheduled(reminders_scheduled=number), etag=row.etag):
        await run.outbox.queue_reminder(ReminderRequest(email=email, number=number))
        summary.scheduled += 1


async def _adopt_untracked(
    run: _SweepRun, email: str, user_id: str, row: _Tracked | None
) -> _Tracked | None:
    """Start tracking a pending guest this system did not invite (RESEND_UNTRACKED), if the
    domain lists allow them. Their schedule counts from adoption: however long they have been
    pending, they get every reminder before they can expire."""
    try:
        run.policy.policy.check_guest_domain(email)
    except InvalidMessage:
        run.summary.not_adopted += 1
        return None
    adopted = Adopted(
        user_id=user_id,
        first_sent_at=run.now,
        invitation=Invitation(redirect_url=run.policy.policy.default_redirect_url),
    )
    if row is None:
        entry = LedgerEntry(email=email, status=GuestStatus.UNTRACKED, created_at=run.now)
        if not await run.ledger.claim(apply(entry, adopted)):
            return None
    elif not await run.ledger.update(email, adopted, etag=row.etag):
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
    await run.ledger.update(email, Deleted(deleted_at=run.now))
    run.summary.deleted += 1


async def _settle_no_longer_pending(run: _SweepRun, email: str, row: _Tracked) -> None:
    """A tracked guest missing from the pending list has redeemed, or is gone."""
    assert row.user_id is not None
    user = await run.directory.get_user(row.user_id)
    if user is None:
        await run.ledger.update(email, Removed(), etag=row.etag)
        run.summary.removed += 1
    elif user.external_user_state and user.external_user_state != "PendingAcceptance":
        redeemed_at = user.state_changed_at or run.now
        if await run.ledger.update(email, Redeemed(redeemed_at=redeemed_at), etag=row.etag):
            run.summary.redeemed += 1
            first = row.first_sent_at
            waited = (redeemed_at - first).total_seconds() if first is not None else None
            run.summary.redemptions.append(Redemption(email=email, after_seconds=waited))
