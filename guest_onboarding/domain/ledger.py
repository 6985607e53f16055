"""The guest's ledger row, its statuses, and what is kept of it after the retention period.
No I/O. Every write to a row is a typed change, named by intent (:mod:`.changes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from guest_onboarding.domain.invitation import Invitation


class GuestStatus(StrEnum):
    INVITING = "inviting"  # claimed: the invitation call is about to happen (or crashed)
    INVITED = "invited"  # invited by this system, not redeemed yet
    EXISTING = "existing"  # the address already had a user; no invitation was sent
    UNTRACKED = "untracked"  # a pending guest this system did not invite (RESEND_UNTRACKED)
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    DISABLED = "disabled"  # expired and signed-in blocked (EXPIRED_GUEST_ACTION), deletable later
    DELETED = "deleted"  # expired and deleted from the directory
    REMOVED = "removed"  # gone from the directory
    FAILED = "failed"  # Graph refused the invitation


#: Statuses that can still receive reminders (the sweep joins these with the directory).
REMINDABLE = frozenset({GuestStatus.INVITED, GuestStatus.UNTRACKED})
#: Statuses the sweep reads at all (expired rows stop a still-pending guest being re-adopted).
TRACKED = REMINDABLE | {GuestStatus.EXPIRED, GuestStatus.DISABLED, GuestStatus.EXISTING}
#: Statuses nothing happens after: their rows' personal fields are cleared after
#: ``LEDGER_RETENTION_DAYS``.
FINISHED = frozenset(
    {GuestStatus.REDEEMED, GuestStatus.DELETED, GuestStatus.REMOVED, GuestStatus.FAILED}
)
#: Statuses in which the row names a user this system has onboarded (or found).
ONBOARDED = frozenset(
    {
        GuestStatus.INVITED,
        GuestStatus.EXISTING,
        GuestStatus.UNTRACKED,
        GuestStatus.REDEEMED,
        GuestStatus.EXPIRED,
        GuestStatus.DISABLED,
    }
)


class StepStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


@dataclass(kw_only=True)
class LedgerEntry:
    """One guest's row. ``email`` is the canonical address (the key)."""

    email: str
    status: GuestStatus
    user_id: str | None = None
    external_id: str | None = None
    invitation: Invitation | None = None
    claim_token: str | None = None
    claimed_at: datetime | None = None
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    send_count: int = 0
    reminders_scheduled: int = 0
    reminders_sent: int = 0
    #: The first sponsor's address: reminders from SPONSOR_CC_FROM_REMINDER on copy them.
    sponsor_contact: str | None = None
    redeemed_at: datetime | None = None
    #: Redemption facts for reports: how many reminders had gone out, and how long it took.
    redeemed_after_reminder: int | None = None
    seconds_to_redeem: int | None = None
    expired_at: datetime | None = None
    disabled_at: datetime | None = None
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_error: str | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    #: Every change of status, oldest first: ``"<status>@<ISO time>"``.
    history: tuple[str, ...] = ()
    etag: str | None = None


#: Key prefix of retired rows: no address, a hash of it (Table keys may not hold ``#``).
RETIRED_PREFIX = "retired-"


def retired_record(entry: LedgerEntry) -> LedgerEntry:
    """What is kept of a finished guest after the retention period: a hash of the address (so
    the rows still count in reports, and one person's rows stay together), the status, the
    timestamps, counts and step outcomes. Names, addresses, messages, ids and error texts go."""
    digest = hashlib.sha256(entry.email.encode("utf-8")).hexdigest()
    # one record per lifecycle: a person who came back keeps both
    since = int(entry.created_at.timestamp()) if entry.created_at else 0
    return dataclasses.replace(
        entry,
        email=f"{RETIRED_PREFIX}{digest}-{since}",
        sponsor_contact=None,
        user_id=None,
        external_id=None,
        invitation=None,
        claim_token=None,
        last_error=entry.last_error.partition(":")[0] if entry.last_error else None,
        steps=dict(entry.steps),
        etag=None,
    )
