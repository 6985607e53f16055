"""The guest's ledger row, its statuses, and the typed changes written to it. No I/O.

Every write to a row is one of the :class:`Change` classes below, named by intent. A change's
fields are :class:`LedgerEntry` field names; all of them are written (``None`` clears a field),
and ``steps`` merges step by step. :func:`apply` is the reference meaning of a change: the
in-memory fakes use it, and the Table adapter must agree with it (tests check both).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
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
    DELETED = "deleted"  # expired and deleted from the directory
    REMOVED = "removed"  # gone from the directory
    FAILED = "failed"  # Graph refused the invitation


#: Statuses that can still receive reminders (the sweep joins these with the directory).
REMINDABLE = frozenset({GuestStatus.INVITED, GuestStatus.UNTRACKED})
#: Statuses the sweep reads at all (expired rows stop a still-pending guest being re-adopted).
TRACKED = REMINDABLE | {GuestStatus.EXPIRED, GuestStatus.EXISTING}
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
    redeemed_at: datetime | None = None
    expired_at: datetime | None = None
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_error: str | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    etag: str | None = None


# -- changes ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Change:
    """A partial update of a row, named by intent (see the module docstring)."""


@dataclass(frozen=True, kw_only=True)
class ClaimReleased(Change):
    """Graph did nothing (throttled): no invitation is in flight, the next delivery may claim
    the row at once."""

    claim_token: None = None
    claimed_at: None = None


@dataclass(frozen=True, kw_only=True)
class Invited(Change):
    """This system's invitation created (or re-found) the user."""

    user_id: str
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    send_count: int
    status: GuestStatus = field(default=GuestStatus.INVITED, init=False)
    claim_token: None = field(default=None, init=False)


@dataclass(frozen=True, kw_only=True)
class FoundExisting(Change):
    """The address already had a user: no invitation was sent."""

    user_id: str
    status: GuestStatus = field(default=GuestStatus.EXISTING, init=False)
    claim_token: None = field(default=None, init=False)


@dataclass(frozen=True, kw_only=True)
class InvitationRefused(Change):
    """Graph refused the invitation for good."""

    last_error: str
    status: GuestStatus = field(default=GuestStatus.FAILED, init=False)
    claim_token: None = field(default=None, init=False)


@dataclass(frozen=True, kw_only=True)
class InvitationOutcomeUnknown(Change):
    """``POST /invitations`` ended in a timeout or a 5xx: the email may or may not have gone.
    Nobody is calling any more (the lease is moot), but the claim time stays: redeliveries look
    for the user until the replication wait from then runs out."""

    last_error: str
    claim_token: None = None


@dataclass(frozen=True, kw_only=True)
class InvitationUnconfirmed(Change):
    """An invitation may have gone out, but the guest never showed up in the directory: an
    operator decides (replaying the message invites afresh)."""

    last_error: str
    status: GuestStatus = field(default=GuestStatus.FAILED, init=False)
    claim_token: None = field(default=None, init=False)
    claimed_at: None = field(default=None, init=False)


@dataclass(frozen=True, kw_only=True)
class StepsRecorded(Change):
    """New statuses of some fan-out steps (others keep theirs)."""

    steps: Mapping[str, StepStatus]


@dataclass(frozen=True, kw_only=True)
class ReminderScheduled(Change):
    """The sweep decided reminder ``reminders_scheduled`` goes out (written before queueing)."""

    reminders_scheduled: int


@dataclass(frozen=True, kw_only=True)
class ReminderClaimed(Change):
    """Reminder ``reminders_sent`` is being sent (written, etag-checked, before Graph is
    called: a repeated or concurrent reminder message finds it taken)."""

    reminders_sent: int


@dataclass(frozen=True, kw_only=True)
class ReminderReleased(Change):
    """Graph did nothing (throttled): the reminder may be claimed again."""

    reminders_sent: int


@dataclass(frozen=True, kw_only=True)
class ReminderSent(Change):
    send_count: int
    last_sent_at: datetime


@dataclass(frozen=True, kw_only=True)
class Redeemed(Change):
    redeemed_at: datetime
    status: GuestStatus = field(default=GuestStatus.REDEEMED, init=False)


@dataclass(frozen=True, kw_only=True)
class Removed(Change):
    """The user is gone from the directory."""

    status: GuestStatus = field(default=GuestStatus.REMOVED, init=False)


@dataclass(frozen=True, kw_only=True)
class Expired(Change):
    expired_at: datetime
    status: GuestStatus = field(default=GuestStatus.EXPIRED, init=False)


@dataclass(frozen=True, kw_only=True)
class Deleted(Change):
    deleted_at: datetime
    status: GuestStatus = field(default=GuestStatus.DELETED, init=False)


@dataclass(frozen=True, kw_only=True)
class Adopted(Change):
    """A pending guest this system did not invite is tracked from now on (RESEND_UNTRACKED)."""

    user_id: str
    first_sent_at: datetime
    invitation: Invitation
    status: GuestStatus = field(default=GuestStatus.UNTRACKED, init=False)


def changed_fields(change: Change) -> dict[str, object]:
    """The row fields ``change`` writes, by name (``steps`` as a mapping to merge)."""
    return {f.name: getattr(change, f.name) for f in dataclasses.fields(change)}


def apply(entry: LedgerEntry, change: Change) -> LedgerEntry:
    """``entry`` with ``change`` applied (a new object; ``entry`` is left as it was)."""
    updated = dataclasses.replace(entry, steps=dict(entry.steps))
    if isinstance(change, StepsRecorded):
        updated.steps.update(change.steps)
        return updated
    for name, value in changed_fields(change).items():
        setattr(updated, name, value)
    return updated


#: Key prefix of retired rows: no address, a hash of it (Table keys may not hold ``#``).
RETIRED_PREFIX = "retired-"


def retired_record(entry: LedgerEntry) -> LedgerEntry:
    """What is kept of a finished guest after the retention period: a hash of the address (so
    the rows still count in reports, and one person's rows stay together), the status, the
    timestamps, counts and step outcomes. Names, addresses, messages, ids and error texts go."""
    digest = hashlib.sha256(entry.email.encode("utf-8")).hexdigest()
    return dataclasses.replace(
        entry,
        email=RETIRED_PREFIX + digest,
        user_id=None,
        external_id=None,
        invitation=None,
        claim_token=None,
        last_error=entry.last_error.partition(":")[0] if entry.last_error else None,
        steps=dict(entry.steps),
        etag=None,
    )
