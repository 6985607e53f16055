"""What the sweep decides for one guest, with the ledger row in hand: reminders, expiry, disable
before delete, redemption and removal, adoption.

Every write is etag-checked against the row as the sweep read it, so a concurrent sweep (or an
HR message for the same guest) makes the write fail and nothing is done twice. Disables and
deletions together are bounded per sweep (``MAX_DELETIONS_PER_RUN``) and only ever touch guests
this system invited, or adopted and sent their whole reminder schedule to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guest_onboarding.domain.changes import (
    Adopted,
    Change,
    Deleted,
    Disabled,
    Expired,
    Redeemed,
    ReminderScheduled,
    Removed,
    apply,
)
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import REMINDABLE, GuestStatus, LedgerEntry
from guest_onboarding.domain.policy import Policy
from guest_onboarding.domain.schedule import (
    ExpiredGuestAction,
    is_expired,
    reminder_due,
    removal_due,
)
from guest_onboarding.errors import InvalidMessage, NotFound
from guest_onboarding.internal_messages import ReminderRequest
from guest_onboarding.ports import Directory, Ledger, Outbox

#: The directory's word for a guest who has not redeemed.
PENDING = "PendingAcceptance"


@dataclass(kw_only=True)
class SweepPolicy:
    reminder_days: tuple[int, ...]
    pending_expiry_days: int
    expired_guest_action: ExpiredGuestAction
    delete_grace_days: int
    #: Disables and deletions together, per sweep.
    max_removals_per_run: int
    resend_untracked: bool
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


@dataclass(kw_only=True)
class SweepRun:
    """One sweep's inputs and running counts (what the lifecycle steps share)."""

    policy: SweepPolicy
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    now: datetime
    summary: SweepSummary = field(default_factory=SweepSummary)

    @property
    def removals_left(self) -> bool:
        return self.summary.disabled + self.summary.deleted < self.policy.max_removals_per_run


async def adopt(run: SweepRun, email: str, user_id: str, row: LedgerEntry | None) -> None:
    """Start tracking a pending guest this system did not invite (RESEND_UNTRACKED), if the
    domain lists allow them. Their schedule counts from adoption: however long they have been
    pending, they get every reminder before they can expire."""
    try:
        run.policy.policy.check_guest_domain(email)
    except InvalidMessage:
        run.summary.not_adopted += 1
        return
    adopted = Adopted(
        user_id=user_id,
        first_sent_at=run.now,
        # an existing user's row keeps what its HR message said (redirect, sponsors)
        invitation=(row.invitation if row is not None and row.invitation else None)
        or Invitation(redirect_url=run.policy.policy.default_redirect_url),
        at=run.now,
    )
    if row is None:
        fresh = LedgerEntry(email=email, status=GuestStatus.UNTRACKED, created_at=run.now)
        done = await run.ledger.claim(apply(fresh, adopted))
    else:
        done = await run.ledger.update(email, adopted, etag=row.etag)
    if done:
        run.summary.adopted += 1


async def still_pending(run: SweepRun, row: LedgerEntry) -> None:
    """A tracked guest the directory still lists as pending."""
    if row.status == GuestStatus.EXISTING:
        if run.policy.resend_untracked and row.user_id:
            await adopt(run, row.email, row.user_id, row)
        return
    if row.status in (GuestStatus.EXPIRED, GuestStatus.DISABLED):
        await _remove_if_due(run, row)
        return
    if row.status not in REMINDABLE or row.first_sent_at is None:
        return
    policy = run.policy
    sends_email = row.invitation is None or row.invitation.send_message
    if _schedule_done(row, policy, run.now, sends_email=sends_email) and is_expired(
        first_sent_at=row.first_sent_at, pending_expiry_days=policy.pending_expiry_days, now=run.now
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
    number = reminder_due(
        first_sent_at=row.first_sent_at,
        reminders_scheduled=row.reminders_scheduled,
        reminder_days=policy.reminder_days,
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


#: A reminder that could not be sent in this long after expiry (refused, paused) does not hold
#: the guest's expiry back any longer.
UNSENT_REMINDER_GRACE_DAYS = 7


def _schedule_done(
    row: LedgerEntry, policy: SweepPolicy, now: datetime, *, sends_email: bool
) -> bool:
    """Nobody expires before their whole reminder schedule was sent (after an outage the last
    reminder is scheduled first, and the guest expires at a later sweep; during a tenant-wide
    stop reminders wait, and so does expiry), unless a reminder scheduled long ago never could."""
    wanted = len(policy.reminder_days)
    if not sends_email or row.reminders_sent >= wanted:
        return True
    overdue = policy.pending_expiry_days + UNSENT_REMINDER_GRACE_DAYS
    return (
        row.reminders_scheduled >= wanted
        and row.first_sent_at is not None
        and policy.pending_expiry_days > 0
        and is_expired(first_sent_at=row.first_sent_at, pending_expiry_days=overdue, now=now)
    )


async def _remove_if_due(run: SweepRun, row: LedgerEntry) -> None:
    """Disable or delete an expired guest when ``EXPIRED_GUEST_ACTION`` says so, within the
    per-sweep bound. The decision is written first, etag-checked against the row as read (an
    HR message that brought the person back meanwhile wins, and nothing is done to them); Graph
    is called only by the sweep that won; if Graph fails, the row goes back to what it was."""
    step = removal_due(
        action=run.policy.expired_guest_action,
        disabled_at=row.disabled_at if row.status == GuestStatus.DISABLED else None,
        delete_grace_days=run.policy.delete_grace_days,
        now=run.now,
    )
    if step is None or row.user_id is None:
        return
    if not run.removals_left:
        run.summary.skipped_removals += 1
        return
    decided: Change = (
        Disabled(disabled_at=run.now, at=run.now)
        if step == "disable"
        else Deleted(deleted_at=run.now, at=run.now)
    )
    if not await run.ledger.update(row.email, decided, etag=row.etag):
        return  # the row changed since it was read: someone else decided
    try:
        if step == "disable":
            await run.directory.set_account_enabled(row.user_id, enabled=False)
        else:
            await _delete(run, row.user_id)
    except Exception:
        await run.ledger.update(row.email, _undo(row, run.now))
        raise
    if step == "disable":
        run.summary.disabled += 1
    else:
        run.summary.deleted += 1


async def _delete(run: SweepRun, user_id: str) -> None:
    try:
        await run.directory.delete_user(user_id)
    except NotFound:
        pass  # already gone: the ledger says so now


def _undo(row: LedgerEntry, now: datetime) -> Change:
    """The transition back to where ``row`` was, when Graph failed to do what was decided."""
    if row.status == GuestStatus.DISABLED and row.disabled_at is not None:
        return Disabled(disabled_at=row.disabled_at, at=now)
    return Expired(expired_at=row.expired_at or now, at=now)


async def no_longer_pending(run: SweepRun, row: LedgerEntry) -> None:
    """A tracked guest missing from the pending list has redeemed, or is gone."""
    assert row.user_id is not None
    user = await run.directory.get_user(row.user_id)
    if user is None:
        since = row.first_sent_at or row.created_at
        if since is not None and run.now - since < run.policy.replication_wait:
            return  # invited moments ago: not replicated yet, not gone
        if await run.ledger.update(row.email, Removed(at=run.now), etag=row.etag):
            run.summary.removed += 1
        return
    if not user.external_user_state or user.external_user_state == PENDING:
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
