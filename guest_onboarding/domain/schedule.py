"""When a pending guest is due a reminder, when they expire, and what happens to them then."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from guest_onboarding.domain.changes import Change, Deleted, Disabled, Expired
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry

#: A reminder that could not be sent in this long after expiry (refused, paused) does not hold
#: the guest's expiry back any longer.
UNSENT_REMINDER_GRACE_DAYS = 7


def days_since(start: datetime, now: datetime) -> float:
    return (now - start) / timedelta(days=1)


def reminder_due(
    *,
    first_sent_at: datetime,
    reminders_scheduled: int,
    reminder_days: tuple[int, ...],
    now: datetime,
) -> int | None:
    """The reminder number to schedule now, or None.

    A guest is due when the days since the first invitation reach the next entry of
    ``reminder_days`` that has not been scheduled. After an outage several entries may be past:
    one reminder goes out, numbered as the last one passed, so a guest never gets a burst.
    """
    age = days_since(first_sent_at, now)
    passed = sum(1 for day in reminder_days if age >= day)
    return passed if passed > reminders_scheduled else None


def is_expired(*, first_sent_at: datetime, pending_expiry_days: int, now: datetime) -> bool:
    """Pending longer than ``pending_expiry_days`` (0 means never)."""
    return pending_expiry_days > 0 and days_since(first_sent_at, now) >= pending_expiry_days


def expires_now(
    row: LedgerEntry,
    *,
    reminder_days: tuple[int, ...],
    pending_expiry_days: int,
    sends_email: bool,
    now: datetime,
) -> bool:
    """A pending guest expires once pending ``pending_expiry_days`` and their whole reminder
    schedule was sent: after an outage the last reminder is scheduled first, and the guest
    expires at a later sweep; during a tenant-wide stop reminders wait, and so does expiry,
    unless a reminder scheduled long ago never could be sent (``UNSENT_REMINDER_GRACE_DAYS``).
    """
    first = row.first_sent_at
    if first is None or not is_expired(
        first_sent_at=first, pending_expiry_days=pending_expiry_days, now=now
    ):
        return False
    wanted = len(reminder_days)
    if not sends_email or row.reminders_sent >= wanted:
        return True
    overdue = pending_expiry_days + UNSENT_REMINDER_GRACE_DAYS
    return row.reminders_scheduled >= wanted and is_expired(
        first_sent_at=first, pending_expiry_days=overdue, now=now
    )


class ExpiredGuestAction(StrEnum):
    """What happens to a guest whose invitation expired (``EXPIRED_GUEST_ACTION``)."""

    NONE = "none"  # marked expired, no more reminders; the account stays as it is
    DISABLE = "disable"  # sign-in blocked; a new HR message re-enables and invites afresh
    DISABLE_THEN_DELETE = "disable-then-delete"  # deleted DELETE_GRACE_DAYS after disabling
    DELETE = "delete"  # deleted at once (restorable for 30 days in the directory)


class Removal(StrEnum):
    """What the sweep does to an expired guest's account now."""

    DISABLE = "disable"
    DELETE = "delete"

    def decided(self, now: datetime) -> Change:
        """The ledger's record of the decision, written before Graph is called."""
        if self == Removal.DISABLE:
            return Disabled(disabled_at=now, at=now)
        return Deleted(deleted_at=now, at=now)


def earliest_removal(
    row: LedgerEntry, *, reminder_days: tuple[int, ...], pending_expiry_days: int
) -> datetime | None:
    """The first moment the guest's account may be disabled or deleted: ``pending_expiry_days``
    after the first invitation, and never sooner after the last email sent (the invitation or
    a reminder) than the schedule leaves between its last reminder and expiry
    (``pending_expiry_days`` minus the last ``reminder_days`` entry). After an outage the
    overdue last reminder goes out late; the guest it asked to redeem keeps that whole time.
    None: no bound of its own (no first invitation, or ``pending_expiry_days`` 0: nobody
    expires, and a row expired under an earlier setting is removed as it was decided)."""
    if row.first_sent_at is None or pending_expiry_days <= 0:
        return None
    earliest = row.first_sent_at + timedelta(days=pending_expiry_days)
    if row.last_sent_at is not None:
        last_day = reminder_days[-1] if reminder_days else 0
        after_last = timedelta(days=max(pending_expiry_days - last_day, 0))
        earliest = max(earliest, row.last_sent_at + after_last)
    return earliest


def removal_due(
    row: LedgerEntry,
    *,
    action: ExpiredGuestAction,
    delete_grace_days: int,
    reminder_days: tuple[int, ...],
    pending_expiry_days: int,
    now: datetime,
) -> Removal | None:
    """For an expired (or disabled) guest: what to do to their account now, if anything. Not
    before :func:`earliest_removal`; a disabled guest is deleted only under
    ``disable-then-delete`` and after the grace period."""
    disabled_at = row.disabled_at if row.status == GuestStatus.DISABLED else None
    if disabled_at is None:
        earliest = earliest_removal(
            row, reminder_days=reminder_days, pending_expiry_days=pending_expiry_days
        )
        if earliest is not None and now < earliest:
            return None
        if action in (ExpiredGuestAction.DISABLE, ExpiredGuestAction.DISABLE_THEN_DELETE):
            return Removal.DISABLE
        return Removal.DELETE if action == ExpiredGuestAction.DELETE else None
    if action == ExpiredGuestAction.DISABLE_THEN_DELETE and days_since(disabled_at, now) >= (
        delete_grace_days
    ):
        return Removal.DELETE
    return None


def removal_undone(row: LedgerEntry, now: datetime) -> Change:
    """The transition back to where ``row`` was, when Graph failed to do what was decided."""
    if row.status == GuestStatus.DISABLED and row.disabled_at is not None:
        return Disabled(disabled_at=row.disabled_at, at=now)
    return Expired(expired_at=row.expired_at or now, at=now)
