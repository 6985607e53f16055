"""sweep_reminders: the timer's pass over pending guests. Schedules due reminders, expires guests
pending too long (then disables or deletes them as ``EXPIRED_GUEST_ACTION`` says), marks
redeemed and removed guests, adopts untracked pending guests (``RESEND_UNTRACKED``) and retires
old finished rows.

Memory stays flat in the number of guests: three streams, and between them only two sets of
64-bit hashes (the tracked addresses, then the pending ones), a few megabytes at 100,000.

1. the ledger's tracked rows -> the set of their addresses' hashes;
2. the directory's pending guests, page by page -> the set of (address, user id) hashes; an
   untracked one is adopted on the spot;
3. the tracked rows again, each decided with the row in hand: pending ones get reminders, expiry
   and removal; the others have redeemed or are gone.

Every write is etag-checked against the row as the sweep read it, so a concurrent sweep (or an
HR message for the same guest) makes the write fail and nothing is done twice. Disables and
deletions together are bounded per sweep (``MAX_DELETIONS_PER_RUN``) and only ever touch guests
this system invited, or adopted and sent their whole reminder schedule to. One failing guest
never stops the sweep.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guest_onboarding.domain import changes, schedule
from guest_onboarding.domain.addresses import mask_address, normalize_address
from guest_onboarding.domain.changes import Adopted, Expired, Redeemed, ReminderScheduled, Removed
from guest_onboarding.domain.ledger import (
    REMINDABLE,
    GuestStatus,
    LedgerEntry,
    invited_recently,
    retired_record,
)
from guest_onboarding.domain.offboarding import holds_access
from guest_onboarding.domain.policy import Policy
from guest_onboarding.domain.schedule import ExpiredGuestAction, Removal
from guest_onboarding.errors import InvalidMessage, NotFound, logged_error
from guest_onboarding.internal_messages import ReminderRequest
from guest_onboarding.ports import Directory, Ledger, Outbox

log = logging.getLogger("guest_onboarding")

#: Rows retired per sweep at most (the rest wait for the next run).
MAX_RETIRED_PER_RUN = 1000


@dataclass(frozen=True, kw_only=True)
class SweepSettings:
    """The settings the sweep decides with."""

    reminder_days: tuple[int, ...]
    pending_expiry_days: int
    expired_guest_action: ExpiredGuestAction
    delete_grace_days: int
    #: Disables and deletions together, per sweep.
    max_removals_per_run: int
    resend_untracked: bool
    #: Finished rows untouched this long lose their personal fields (``LEDGER_RETENTION_DAYS``).
    retention_days: int
    #: A guest invited this recently may not show in the directory yet: not "gone".
    replication_wait: timedelta
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
    disabled: int = 0
    deleted: int = 0
    errors: int = 0
    skipped_removals: int = 0
    adopted: int = 0
    not_adopted: int = 0
    retired: int = 0
    #: One per guest marked redeemed (telemetry: time to redeem); not one of the counts.
    redemptions: list[Redemption] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


async def sweep_reminders(
    *,
    settings: SweepSettings,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> SweepSummary:
    """One sweep (see the module docstring)."""
    run = _Sweep(settings=settings, directory=directory, ledger=ledger, outbox=outbox, now=now)
    summary = run.summary
    tracked = {hash(entry.email) async for entry in ledger.tracked_entries()}
    pending: set[int] = set()
    async for guest in directory.pending_guests():
        summary.scanned += 1
        if not guest.mail:
            continue
        email = normalize_address(guest.mail)
        # A row and a pending guest meet only on the same address AND the same user: a guest
        # re-invited by someone else under a new object id is not the row's user.
        pending.add(hash((email, guest.id.lower())))
        if hash(email) not in tracked and settings.resend_untracked:
            await run.guarded(email, _adopt(run, email, guest.id, None))
    del tracked
    async for entry in ledger.tracked_entries():
        if hash((entry.email, (entry.user_id or "").lower())) in pending:
            await run.guarded(entry.email, _still_pending(run, entry))
        elif entry.user_id and entry.status != GuestStatus.EXISTING:
            await run.guarded(entry.email, _no_longer_pending(run, entry, entry.user_id))
    await run.guarded("finished rows", _forget_finished_guests(run))
    return summary


@dataclass(kw_only=True)
class _Sweep:
    """One sweep's inputs and running counts."""

    settings: SweepSettings
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    now: datetime
    summary: SweepSummary = field(default_factory=SweepSummary)

    async def guarded(self, what: str, step: Awaitable[None]) -> None:
        """Run one guest's step; a failure is counted and logged, and the sweep goes on."""
        try:
            await step
        except Exception as exc:  # its code, type and request id: never its text
            self.summary.errors += 1
            who = mask_address(what) if "@" in what else what
            log.error("sweep: %s failed: %s", who, json.dumps(logged_error(exc)))


async def _adopt(run: _Sweep, email: str, user_id: str, row: LedgerEntry | None) -> None:
    """Start tracking a pending guest this system did not invite (RESEND_UNTRACKED), if the
    domain lists allow them. Their schedule counts from adoption: however long they have been
    pending, they get every reminder before they can expire."""
    try:
        run.settings.policy.check_guest_domain(email)
    except InvalidMessage:
        run.summary.not_adopted += 1
        return
    kept = row.invitation if row is not None else None
    default = run.settings.policy.default_redirect_url
    adopted = Adopted.tracking(user_id, kept, default_redirect_url=default, now=run.now)
    if row is None:
        fresh = LedgerEntry(email=email, status=GuestStatus.UNTRACKED, created_at=run.now)
        done = await run.ledger.claim(changes.apply(fresh, adopted))
    else:
        done = await run.ledger.update(email, adopted, etag=row.etag)
    if done:
        run.summary.adopted += 1


async def _still_pending(run: _Sweep, row: LedgerEntry) -> None:
    """A tracked guest the directory still lists as pending."""
    settings = run.settings
    if row.status == GuestStatus.EXISTING:
        if settings.resend_untracked and row.user_id:
            await _adopt(run, row.email, row.user_id, row)
        return
    if row.status in (GuestStatus.EXPIRED, GuestStatus.DISABLED):
        await _remove_if_due(run, row)
        return
    if row.status not in REMINDABLE or row.first_sent_at is None:
        return
    sends_email = row.invitation is None or row.invitation.send_message
    if schedule.expires_now(
        row,
        reminder_days=settings.reminder_days,
        pending_expiry_days=settings.pending_expiry_days,
        sends_email=sends_email,
        now=run.now,
    ):
        if await run.ledger.update(
            row.email, Expired(expired_at=run.now, at=run.now), etag=row.etag
        ):
            run.summary.expired += 1
            expired = await run.ledger.get(row.email)  # its new etag guards the removal
            if expired is not None and expired.status == GuestStatus.EXPIRED:
                await _remove_if_due(run, expired)
        return
    if not sends_email:
        return  # the guest asked for no invitation email: no reminders either
    number = schedule.reminder_due(
        first_sent_at=row.first_sent_at,
        reminders_scheduled=row.reminders_scheduled,
        reminder_days=settings.reminder_days,
        now=run.now,
    )
    if number is None:
        return
    run.summary.due += 1
    # Recorded before queueing, etag-checked: a concurrent or repeated sweep cannot schedule it too.
    scheduled = ReminderScheduled(reminders_scheduled=number)
    if await run.ledger.update(row.email, scheduled, etag=row.etag):
        await run.outbox.queue_reminder(ReminderRequest(email=row.email, number=number))
        run.summary.scheduled += 1


async def _remove_if_due(run: _Sweep, row: LedgerEntry) -> None:
    """Disable or delete an expired guest when ``EXPIRED_GUEST_ACTION`` says so, within the
    per-sweep bound. The decision is written first, etag-checked against the row as read (an
    HR message that brought the person back meanwhile wins, and nothing is done to them); Graph
    is called only by the sweep that won; if Graph fails, the row goes back to what it was."""
    settings, summary = run.settings, run.summary
    removal = schedule.removal_due(
        row,
        action=settings.expired_guest_action,
        delete_grace_days=settings.delete_grace_days,
        reminder_days=settings.reminder_days,
        pending_expiry_days=settings.pending_expiry_days,
        now=run.now,
    )
    if removal is None or row.user_id is None:
        return
    if summary.disabled + summary.deleted >= settings.max_removals_per_run:
        summary.skipped_removals += 1
        return
    if not await run.ledger.update(row.email, removal.decided(run.now), etag=row.etag):
        return  # the row changed since it was read: someone else decided
    try:
        if removal == Removal.DISABLE:
            await run.directory.set_account_enabled(row.user_id, enabled=False)
        else:
            try:
                await run.directory.delete_user(row.user_id)
            except NotFound:
                pass  # already gone: the ledger says so now
    except Exception:
        await run.ledger.update(row.email, schedule.removal_undone(row, run.now))
        raise
    if removal == Removal.DISABLE:
        summary.disabled += 1
    else:
        summary.deleted += 1


async def _no_longer_pending(run: _Sweep, row: LedgerEntry, user_id: str) -> None:
    """A tracked guest missing from the pending list has redeemed, or is gone."""
    user = await run.directory.get_user(user_id)
    if user is None:
        if invited_recently(row, now=run.now, wait=run.settings.replication_wait):
            return  # invited moments ago: not replicated yet, not gone
        if await run.ledger.update(row.email, Removed(at=run.now), etag=row.etag):
            run.summary.removed += 1
        return
    if not user.has_redeemed:
        return
    redeemed_at = user.state_changed_at or run.now
    first = row.first_sent_at
    redeemed = Redeemed(
        redeemed_at=redeemed_at,
        redeemed_after_reminder=row.reminders_sent,
        seconds_to_redeem=int((redeemed_at - first).total_seconds()) if first else None,
        at=run.now,
    )
    if await run.ledger.update(row.email, redeemed, etag=row.etag):
        run.summary.redeemed += 1
        waited = redeemed.seconds_to_redeem
        run.summary.redemptions.append(
            Redemption(email=row.email, after_seconds=None if waited is None else float(waited))
        )


async def _forget_finished_guests(run: _Sweep) -> None:
    """The ledger keeps personal data no longer than it needs to: rows in any status not written
    for ``LEDGER_RETENTION_DAYS`` are replaced by a record without personal fields, keyed by a
    hash of the address (``domain.ledger.retired_record``): reports still count them, and a
    person who comes back is onboarded afresh. Never a row an offboarding needs
    (``domain.offboarding.holds_access``)."""
    cutoff = run.now - timedelta(days=run.settings.retention_days)
    async for entry in run.ledger.stale_entries(updated_before=cutoff):
        if run.summary.retired >= MAX_RETIRED_PER_RUN:
            break
        if not holds_access(entry) and await run.ledger.retire(entry, retired_record(entry)):
            run.summary.retired += 1
