"""Plain data and rules: the ledger row and when a guest is due a reminder. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class GuestStatus(StrEnum):
    INVITING = "inviting"  # claimed: the invitation call is about to happen (or crashed)
    INVITED = "invited"  # invited by this system, not redeemed yet
    EXISTING = "existing"  # the address already had a user; no invitation was sent
    UNTRACKED = "untracked"  # a pending guest this system did not invite (RESEND_UNTRACKED)
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    DELETED = "deleted"  # expired and deleted from the directory
    REMOVED = "removed"  # gone from the directory
    FAILED = "failed"  # Graph refused the invitation


#: Statuses that can still receive reminders (the sweep joins these with the directory).
REMINDABLE = frozenset({GuestStatus.INVITED, GuestStatus.UNTRACKED})
#: Statuses the sweep reads at all (expired rows stop a still-pending guest being re-adopted).
TRACKED = REMINDABLE | {GuestStatus.EXPIRED, GuestStatus.EXISTING}


class StepStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


def group_step(group_id: str) -> str:
    """Ledger key of a group step (Table property names cannot hold hyphens)."""
    return "g_" + group_id.lower().replace("-", "")


def role_step(resource_id: str, app_role_id: str) -> str:
    """Ledger key of an app role step."""
    return "r_" + resource_id.lower().replace("-", "") + "_" + app_role_id.lower().replace("-", "")


@dataclass(kw_only=True)
class LedgerEntry:
    """One guest's row. ``email`` is the normalized address (the key)."""

    email: str
    status: GuestStatus
    user_id: str | None = None
    external_id: str | None = None
    display_name: str | None = None
    claim_token: str | None = None
    claimed_at: datetime | None = None
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    send_count: int = 0
    reminders_scheduled: int = 0
    reminders_sent: int = 0
    redirect_url: str | None = None
    message_body: str | None = None
    message_language: str | None = None
    cc_recipient: str | None = None
    redeemed_at: datetime | None = None
    expired_at: datetime | None = None
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_error: str | None = None
    steps: dict[str, str] = field(default_factory=dict)
    etag: str | None = None


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


def mask_address(address: str) -> str:
    """An address fit for logs: ``a***@fabrikam.example``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
