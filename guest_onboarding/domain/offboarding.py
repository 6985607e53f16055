"""Leavers: what an offboarding removes, what it does to the account, when it is finished,
when the account is deleted, and which rows retention must keep (movers: :mod:`.movers`). No I/O.

The ledger is the only record of what this app granted: a grant step ``done`` was made by this
app; ``found`` means Graph said it was there already when this app first asked (someone else
granted it), and this app never removes it. Every removal is a step of its own
(``removing``, then ``removed``), decided here and carried out by ``assign_fn``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from guest_onboarding.domain.changes import Change, Transition, history_line, new_row
from guest_onboarding.domain.invitation import (
    ACCOUNT_STEP_PREFIX,
    PROFILE_STEP_KEY,
    InvitationCommand,
    is_grant_key,
)
from guest_onboarding.domain.ledger import ONBOARDED, GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.profile import profile_carried


@dataclass(frozen=True, kw_only=True)
class AccessEndRecorded(Change):
    """HR's latest word on the day access ends (None: no end date)."""

    access_ends_on: date | None


class OffboardAction(StrEnum):
    """What an offboarding does to the account once its access is removed
    (``OFFBOARD_ACTION``). Sessions are revoked in every case."""

    REMOVE_ACCESS = "remove-access"  # the account stays enabled, with nothing this app granted
    DISABLE = "disable"  # sign-in blocked; an onboarding message enables it again
    DISABLE_THEN_DELETE = "disable-then-delete"  # deleted DELETE_GRACE_DAYS after offboarding
    DELETE = "delete"  # disabled at once, deleted by the next sweep (restorable for 30 days)

    @property
    def disables(self) -> bool:
        return self != OffboardAction.REMOVE_ACCESS

    @property
    def deletes(self) -> bool:
        return self in (OffboardAction.DISABLE_THEN_DELETE, OffboardAction.DELETE)


#: What an offboarding of a user this app did not onboard does: their grants from this app
#: are removed, their account is not touched (no revocation, no disabling, no deletion).
GRANTS_ONLY = "grants-only"

#: The account's own steps, one fixed ledger key each.
REVOKE_SESSIONS = ACCOUNT_STEP_PREFIX + "revoke"
DISABLE_SIGN_IN = ACCOUNT_STEP_PREFIX + "disable"
ENABLE_SIGN_IN = ACCOUNT_STEP_PREFIX + "enable"
LEAVE_DATE = ACCOUNT_STEP_PREFIX + "leavedate"
#: The account steps an offboarding waits for before it is finished.
OFFBOARDING_ACCOUNT_STEPS = (REVOKE_SESSIONS, DISABLE_SIGN_IN)

#: Rows whose account this app created (an invitation) or adopted (``RESEND_UNTRACKED``): only
#: these are revoked, disabled and deleted. An ``existing`` row names a user that was there
#: before this app: only what this app granted them is removed.
ACCOUNT_OURS = frozenset(
    {
        GuestStatus.INVITED,
        GuestStatus.UNTRACKED,
        GuestStatus.REDEEMED,
        GuestStatus.EXPIRED,
        GuestStatus.DISABLED,
    }
)
#: Rows an offboarding acts on (the others have no user of this app's, or are leaving).
OFFBOARDABLE = ONBOARDED
LEAVING = frozenset({GuestStatus.OFFBOARDING, GuestStatus.OFFBOARDED})

#: Grants an offboarding removes: made by this app, or maybe (queued, failed after a call that
#: may have applied). ``found`` ones are someone else's; ``removed`` ones are gone.
_NOT_OURS_TO_REMOVE = frozenset({StepStatus.FOUND, StepStatus.REMOVED})
#: Grants a mover's message removes when it no longer names them.
GRANTED_OR_GRANTING = frozenset({StepStatus.DONE, StepStatus.QUEUED, StepStatus.FAILED})


# -- the offboarding's writes to the row (typed changes, as in ``domain.changes``) ---------------


@dataclass(frozen=True, kw_only=True)
class OffboardHeld(Change):
    """The brake holds this offboarding (``OFFBOARD_THRESHOLD``): nothing is removed until an
    operator releases or discards it."""

    offboard_held_at: datetime
    mover_held: tuple[str, ...] = ()  # an offboarding supersedes a mover's held removals


@dataclass(frozen=True, kw_only=True)
class HoldCleared(Change):
    """The held offboarding (or mover's removals) is gone: discarded by an operator, or an
    onboarding message (HR's latest word) came after it."""

    offboard_held_at: None = None
    mover_held: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OffboardingStarted(Transition):
    """The offboarding is admitted: every grant to remove is ``removing`` and the account's
    steps are queued (``domain.offboarding.plan_offboarding``)."""

    offboard_started_at: datetime
    offboard_action: str
    steps: Mapping[str, StepStatus]
    offboard_held_at: None = None
    mover_held: tuple[str, ...] = ()
    status: GuestStatus = field(default=GuestStatus.OFFBOARDING, init=False)


@dataclass(frozen=True, kw_only=True)
class Offboarded(Transition):
    """Every removal and account step of the offboarding is done."""

    offboarded_at: datetime
    disabled_at: datetime | None
    status: GuestStatus = field(default=GuestStatus.OFFBOARDED, init=False)


@dataclass(frozen=True, kw_only=True)
class OffboardPlan:
    """What one offboarding does: the grants it removes, the account's steps, and what it
    records as its action (``GRANTS_ONLY`` for a user this app did not onboard)."""

    action: str
    removals: tuple[str, ...]
    account_steps: tuple[str, ...]

    #: A comeback's enable or a leave date still queued: cancelled (they run late, harmless).
    cancelled: tuple[str, ...] = ()

    @property
    def steps(self) -> dict[str, StepStatus]:
        """The step statuses the offboarding starts with."""
        return {
            **dict.fromkeys(self.cancelled, StepStatus.CANCELLED),
            **dict.fromkeys(self.removals, StepStatus.REMOVING),
            **dict.fromkeys(self.account_steps, StepStatus.QUEUED),
        }

    @property
    def queued(self) -> tuple[str, ...]:
        """The steps the offboarding queues."""
        return (*self.removals, *self.account_steps)


def plan_offboarding(row: LedgerEntry, action: OffboardAction) -> OffboardPlan:
    """The offboarding of ``row`` (an ``OFFBOARDABLE`` row) under ``action``."""
    removals = tuple(
        key
        for key, status in sorted(row.steps.items())
        if is_grant_key(key) and status not in _NOT_OURS_TO_REMOVE
    )
    late = (ENABLE_SIGN_IN, LEAVE_DATE)
    cancelled = tuple(k for k in late if row.steps.get(k) == StepStatus.QUEUED)
    if row.status not in ACCOUNT_OURS:
        return OffboardPlan(
            action=GRANTS_ONLY, removals=removals, account_steps=(), cancelled=cancelled
        )
    account = (REVOKE_SESSIONS, DISABLE_SIGN_IN) if action.disables else (REVOKE_SESSIONS,)
    return OffboardPlan(
        action=action.value, removals=removals, account_steps=account, cancelled=cancelled
    )


#: Rows whose access is gone: retention may retire them whatever they recorded.
_ACCESS_GONE = frozenset({GuestStatus.OFFBOARDED, GuestStatus.REMOVED, GuestStatus.DELETED})


def holds_access(row: LedgerEntry) -> bool:
    """The row is the record an offboarding needs: it still holds a grant this app made (or is
    making, or removing) or an end date, and the guest is not offboarded or removed. Retention
    (``LEDGER_RETENTION_DAYS``) never retires such a row: without it HR's offboarding finds
    nothing of this app's and the end date never comes."""
    if row.status in _ACCESS_GONE:
        return False
    granted = GRANTED_OR_GRANTING | {StepStatus.REMOVING}
    ours = any(is_grant_key(k) and s in granted for k, s in row.steps.items())
    return ours or row.access_ends_on is not None


def pending_steps(row: LedgerEntry) -> dict[str, StepStatus]:
    """Steps the row still waits for: removals decided, account steps and the profile's clearing
    queued (a redelivered message queues them again; a step already finished does nothing a
    second time)."""
    return {
        key: status
        for key, status in row.steps.items()
        if status == StepStatus.REMOVING
        or (key in (*OFFBOARDING_ACCOUNT_STEPS, PROFILE_STEP_KEY) and status == StepStatus.QUEUED)
    }


def offboarding_finished(row: LedgerEntry) -> bool:
    """Every removal of the offboarding is done and the account's steps too."""
    if row.status != GuestStatus.OFFBOARDING:
        return False
    for key, status in row.steps.items():
        if is_grant_key(key) and status == StepStatus.REMOVING:
            return False
        if key in OFFBOARDING_ACCOUNT_STEPS and status != StepStatus.DONE:
            return False
    return True


def leaver_created_here(row: LedgerEntry) -> bool:
    """A leaving row whose account this app's invitation created (``domain.ledger.created_here``
    before the offboarding): the offboarding acted on the account (not ``grants-only``) and the
    history never found the user existing or adopted. Its profile step may clear the profile."""
    if row.status not in LEAVING or row.offboard_action in (None, GRANTS_ONLY):
        return False
    found = (f"{GuestStatus.EXISTING.value}@", f"{GuestStatus.UNTRACKED.value}@")
    return not any(line.startswith(found) for line in row.history)


def answer_already_there(*, first_try: bool) -> StepStatus:
    """What Graph's "already there" to an add means. On the step's first try nothing of this
    app's could have made it: someone else granted it (``found``, never removed by this app).
    After an earlier try whose outcome is unknown (a 5xx, a timeout, a crash), it is most
    likely that try's doing: ``done`` (and a ``done`` is never overwritten by ``found``)."""
    return StepStatus.FOUND if first_try else StepStatus.DONE


def is_due(access_ends_on: date | None, now: datetime) -> bool:
    """The end date has come (the sweep offboards on the day itself, UTC)."""
    return access_ends_on is not None and now.date() >= access_ends_on


def ends_within(access_ends_on: date | None, now: datetime, days: int) -> bool:
    """The end date is in the next ``days`` days (not past yet)."""
    if access_ends_on is None:
        return False
    return now.date() <= access_ends_on < now.date() + timedelta(days=days)


def deletion_due(row: LedgerEntry, *, now: datetime, delete_grace_days: int) -> bool:
    """An offboarded account whose action deletes it: now (``delete``), or after the grace
    period (``disable-then-delete``, counted from the end of the offboarding)."""
    if row.status != GuestStatus.OFFBOARDED or row.user_id is None:
        return False
    if row.offboard_action == OffboardAction.DELETE.value:
        return True
    if row.offboard_action != OffboardAction.DISABLE_THEN_DELETE.value:
        return False
    since = row.offboarded_at or row.offboard_started_at
    return since is not None and now - since >= timedelta(days=delete_grace_days)


def returning_row(
    cmd: InvitationCommand,
    offboarded: LedgerEntry,
    *,
    redeemed: bool,
    now: datetime,
    sponsor_contact: str | None,
) -> LedgerEntry:
    """The row of an offboarded guest onboarded again: a new lifecycle of the same user, the
    history kept. An account this app onboarded stays this app's (``redeemed`` or
    ``invited``, as the user stands), so a later offboarding disables it again; a user this app
    found (``GRANTS_ONLY``) stays ``existing``; only this app's carries HR's profile on."""
    assert offboarded.user_id is not None
    row = new_row(
        cmd,
        now=now,
        sponsor_contact=sponsor_contact,
        user_id=offboarded.user_id,
        replacing=offboarded,
    )
    if offboarded.offboard_action in (None, GRANTS_ONLY):
        return row
    status = GuestStatus.REDEEMED if redeemed else GuestStatus.INVITED
    return dataclasses.replace(
        row,
        status=status,
        first_sent_at=offboarded.first_sent_at,
        redeemed_at=offboarded.redeemed_at if redeemed else None,
        history=(*offboarded.history, history_line(status, now)),
        profile=profile_carried(offboarded, cmd.profile),  # (the profile step writes it again)
    )
