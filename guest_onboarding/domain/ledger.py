"""The guest's ledger row, its statuses, the time rules of a claim, and what is kept of a row
after the retention period. No I/O. Every write to a row is a typed change, named by intent, or
a whole new row (:mod:`.changes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import OperatorNeeded


class GuestStatus(StrEnum):
    INVITING = "inviting"  # claimed: the invitation call is about to happen (or crashed)
    INVITED = "invited"  # invited by this system, not redeemed yet
    EXISTING = "existing"  # the address already had a user; no invitation was sent
    UNTRACKED = "untracked"  # a pending guest this system did not invite (RESEND_UNTRACKED)
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    DISABLED = "disabled"  # expired and sign-in blocked (EXPIRED_GUEST_ACTION), deletable later
    DELETED = "deleted"  # expired and deleted from the directory
    REMOVED = "removed"  # gone from the directory
    FAILED = "failed"  # Graph refused the invitation
    OFFBOARDING = "offboarding"  # HR (or the end date) offboarded them: removal steps under way
    OFFBOARDED = "offboarded"  # access removed, sessions revoked (and disabled, OFFBOARD_ACTION)


#: Statuses that can still receive reminders (the sweep joins these with the directory).
REMINDABLE = frozenset({GuestStatus.INVITED, GuestStatus.UNTRACKED})
#: Statuses the sweep reads at all (expired rows stop a still-pending guest being re-adopted).
TRACKED = REMINDABLE | {GuestStatus.EXPIRED, GuestStatus.DISABLED, GuestStatus.EXISTING}
#: Statuses nothing happens after. (``LEDGER_RETENTION_DAYS`` retires a row in any status once
#: it has not been written for that long: :func:`retired_record`.)
FINISHED = frozenset(
    {GuestStatus.REDEEMED, GuestStatus.DELETED, GuestStatus.REMOVED, GuestStatus.FAILED}
)
#: Rows that keep naming their user while the user exists (an expired or disabled row is
#: brought back by a fresh invitation instead).
KEEPS_ITS_USER = frozenset(
    {GuestStatus.INVITED, GuestStatus.EXISTING, GuestStatus.UNTRACKED, GuestStatus.REDEEMED}
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


#: Statuses of a row whose user this system's invitation created (if no adoption intervened).
INVITED_HERE = frozenset(
    {GuestStatus.INVITED, GuestStatus.REDEEMED, GuestStatus.EXPIRED, GuestStatus.DISABLED}
)


def created_here(entry: LedgerEntry | None) -> bool:
    """Whether ``entry``'s user is an account this app's invitation created: invited here and
    never found existing or adopted (``history``), so not a member, nor someone else's guest."""
    if entry is None or entry.status not in INVITED_HERE:
        return False
    found = (f"{GuestStatus.EXISTING.value}@", f"{GuestStatus.UNTRACKED.value}@")
    return not any(line.startswith(found) for line in entry.history)


class StepStatus(StrEnum):
    QUEUED = "queued"
    DONE = "done"  # granted (or done) by this app
    FAILED = "failed"
    #: Graph said it was there already when this app first asked: granted by someone else, so
    #: this app never removes it (``domain.offboarding``).
    FOUND = "found"
    REMOVING = "removing"  # a removal step is queued: offboarding, or a mover's message
    REMOVED = "removed"  # removed by this app (or it was gone already)
    #: An account step (enable, leave date) still queued when an offboarding started: when it
    #: runs late it does nothing (an offboarded account is never enabled again by it).
    CANCELLED = "cancelled"


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
    #: Graph's id of each grant this app made, by step key (app role assignments: the id
    #: ``POST appRoleAssignedTo`` answers, which ``DELETE`` needs).
    grant_ids: dict[str, str] = field(default_factory=dict)
    #: The day access ends (HR's ``accessEndsOn``): the sweep offboards the guest on it.
    access_ends_on: date | None = None
    #: An offboarding the brake holds (``OFFBOARD_THRESHOLD``) until an operator decides.
    offboard_held_at: datetime | None = None
    #: The grants a mover's message (``exact``) removes, held by the brake with that hold (an
    #: operator's release removes just these; empty: the hold is an offboarding's).
    mover_held: tuple[str, ...] = ()
    offboard_started_at: datetime | None = None
    offboarded_at: datetime | None = None
    #: What the offboarding does to the account (``domain.offboarding.OffboardAction``), as
    #: decided when it started (a later change of the setting does not apply to it).
    offboard_action: str | None = None
    #: The profile HR's latest message stated (``domain.profile``: Graph names, None clears),
    #: which the profile step writes on the user; None when no message carried one.
    profile: dict[str, str | None] | None = None
    #: Invitations sent again because an earlier one's guest never appeared in the directory.
    reinvitations: int = 0
    #: Every change of status, oldest first: ``"<status>@<ISO time>"``.
    history: tuple[str, ...] = ()
    etag: str | None = None


# -- claims: how long a delivery holds a guest, and how long a new user may stay unseen --------

#: How long a claim keeps concurrent deliveries of the same guest waiting: longer than the slowest
#: invitation the Graph adapter allows (the pacer's waits, a token fetch given up after 20 s,
#: Graph's answer after 30 s: 95 s; tests/unit/test_claim_lease.py reads them where they are set).
CLAIM_LEASE = timedelta(seconds=120)
#: While waiting for a possibly invited user to replicate, look again this often.
REPLICATION_RECHECK_SECONDS = 15.0
#: A deferred message is re-checked this soon (the claim holder usually finishes in a second).
RECHECK_SECONDS = (1.0, 3.0)


def recheck_delay(wait: float, *, at_most: float | None = None) -> float:
    """When a deferred message comes back: after ``wait`` seconds, within ``RECHECK_SECONDS``
    (or ``at_most``)."""
    low, high = RECHECK_SECONDS
    return min(max(wait, low), at_most or high)


def claim_held_for(entry: LedgerEntry, *, token: str, now: datetime) -> float:
    """Seconds another delivery's claim still holds the row (0 if it is ours or ran out)."""
    if entry.claim_token in (None, token) or entry.claimed_at is None:
        return 0.0
    return max(0.0, (entry.claimed_at + CLAIM_LEASE - now).total_seconds())


def replication_wait_left(since: datetime | None, *, now: datetime, wait: timedelta) -> float:
    """Seconds a user invited at ``since`` may still be invisible to the directory's look-ups
    (0 once ``wait``, ``INVITE_REPLICATION_WAIT_SECONDS``, has passed, or with no time)."""
    if since is None:
        return 0.0
    return max(0.0, (wait - (now - since)).total_seconds())


def invited_recently(entry: LedgerEntry, *, now: datetime, wait: timedelta) -> bool:
    """The row's user was invited (or the row made) less than ``wait`` ago: a directory that
    does not show them yet may not have replicated them, they are not gone."""
    return replication_wait_left(entry.first_sent_at or entry.created_at, now=now, wait=wait) > 0


#: How many times one guest is invited again after an invitation whose outcome was unknown
#: (a 500, 502 or 504, a reset, a timeout, a crash) left no user in the directory for the whole
#: replication wait. Each may be one more email if Graph did create the user and look-ups still
#: miss it, so two (one unknown outcome in a row is routine under faults, three are not), then
#: the message goes to poison (``ReinvitationLimit``) for an operator.
MAX_REINVITATIONS = 2

#: Graph's answers to ``POST /invitations`` that say it did nothing: 429 (throttled) and 503
#: ("The service is temporarily unavailable ... You may repeat the request after a delay",
#: Graph's error-response reference). The claim is released; the invitation is not "unknown".
REFUSED_UNAPPLIED_STATUSES = frozenset({429, 503})


def refused_unapplied(status: int | None) -> bool:
    """Graph's answer says the request was refused before it did anything."""
    return status in REFUSED_UNAPPLIED_STATUSES


def reinvitations_after(entry: LedgerEntry | None, *, again: bool) -> int:
    """The ``reinvitations`` of a row claimed to invite: the row's own (one more when inviting
    again) while the claim is taken again in the same onboarding (after a throttled invitation
    released it, as after a lost answer); 0 for a new row or a guest onboarded afresh."""
    if entry is None or entry.status is not GuestStatus.INVITING:
        return 0
    return entry.reinvitations + (1 if again else 0)


def reinvitation_limit(entry: LedgerEntry) -> OperatorNeeded | None:
    """Why the guest of ``entry`` may not be invited again (``MAX_REINVITATIONS`` reached, the
    last invitation's outcome unknown too, no user after its wait), or None if they may."""
    if entry.reinvitations < MAX_REINVITATIONS:
        return None
    return OperatorNeeded(
        "ReinvitationLimit",
        f"no user has the address after {entry.reinvitations + 1} invitations, each followed by "
        "the whole replication wait; look the address up in Microsoft Entra ID, then replay the "
        "message (a user who is there is recorded, with no email; else the guest is invited "
        "afresh)",
    )


#: Key prefix of retired rows: no address, a hash of it (Table keys may not hold ``#``).
RETIRED_PREFIX = "retired-"


#: Statuses of a retired row after which a returning person who is still a pending guest is
#: invited afresh, as the row would have had them (enabled again first only if this system had
#: disabled them): :func:`returning_row`.
COMES_BACK = frozenset(
    {GuestStatus.INVITED, GuestStatus.UNTRACKED, GuestStatus.EXPIRED, GuestStatus.DISABLED}
)


def retired_prefix(email: str) -> str:
    """The start of the key of every retired record of ``email`` (one per lifecycle)."""
    return f"{RETIRED_PREFIX}{hashlib.sha256(email.encode('utf-8')).hexdigest()}-"


def retired_record(entry: LedgerEntry) -> LedgerEntry:
    """What is kept of a guest's row once it has not been written for the retention period,
    whatever its status: a hash of the address (so the rows still count in reports, and one
    person's rows stay together), the status, the timestamps, counts and step outcomes. Names,
    addresses, messages, ids and error texts go."""
    # one record per lifecycle: a person who came back keeps both
    since = int(entry.created_at.timestamp()) if entry.created_at else 0
    return dataclasses.replace(
        entry,
        email=f"{retired_prefix(entry.email)}{since}",
        sponsor_contact=None,
        user_id=retired_account(entry.user_id) if entry.user_id else None,
        external_id=None,
        invitation=None,
        profile=None,
        claim_token=None,
        last_error=entry.last_error.partition(":")[0] if entry.last_error else None,
        steps=dict(entry.steps),
        grant_ids={},
        etag=None,
    )


def retired_account(user_id: str) -> str:
    """What a retired record keeps of the account: a hash of its object id, enough to tell
    whether a returning person's account is the one this system disabled, and nothing more."""
    return "sha256:" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def returning_row(
    email: str,
    retired: GuestStatus | None,
    *,
    retired_user: str | None = None,
    user_id: str | None,
    pending: bool,
    enabled: bool,
    now: datetime,
) -> LedgerEntry | None:
    """The row a person whose row was retired comes back to, if they are still a pending guest
    after a status in :data:`COMES_BACK`: expired (invited afresh), or disabled (enabled, then
    invited afresh) only if the retired row says this system disabled them, and that account
    (``retired_user``, :func:`retired_account`): never another account with the address, nor
    one from a record that names none. None otherwise
    (no user, a user who redeemed or was never invited here: onboarded as anyone new)."""
    if retired not in COMES_BACK or user_id is None or not pending:
        return None
    if not enabled and (
        retired != GuestStatus.DISABLED or retired_user != retired_account(user_id)
    ):
        return None  # disabled by someone else, or another account: not for this system to enable
    status = GuestStatus.EXPIRED if enabled else GuestStatus.DISABLED
    return LedgerEntry(email=email, status=status, user_id=user_id, created_at=now, updated_at=now)
