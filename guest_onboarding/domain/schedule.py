"""When a pending guest is due a reminder, and when they expire."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


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


class ExpiredGuestAction(StrEnum):
    """What happens to a guest whose invitation expired (``EXPIRED_GUEST_ACTION``)."""

    NONE = "none"  # marked expired, no more reminders; the account stays as it is
    DISABLE = "disable"  # sign-in blocked; a new HR message re-enables and invites afresh
    DISABLE_THEN_DELETE = "disable-then-delete"  # deleted DELETE_GRACE_DAYS after disabling
    DELETE = "delete"  # deleted at once (restorable for 30 days in the directory)


def removal_due(
    *,
    action: ExpiredGuestAction,
    disabled_at: datetime | None,
    delete_grace_days: int,
    now: datetime,
) -> str | None:
    """For an expired (or disabled) guest: ``"disable"``, ``"delete"`` or None (nothing now).
    A disabled guest is deleted only under ``disable-then-delete`` and after the grace period."""
    if disabled_at is None:
        if action in (ExpiredGuestAction.DISABLE, ExpiredGuestAction.DISABLE_THEN_DELETE):
            return "disable"
        return "delete" if action == ExpiredGuestAction.DELETE else None
    if action == ExpiredGuestAction.DISABLE_THEN_DELETE and days_since(disabled_at, now) >= (
        delete_grace_days
    ):
        return "delete"
    return None
