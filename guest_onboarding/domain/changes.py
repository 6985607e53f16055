"""Typed changes of a ledger row, named by intent, and a whole new row. No I/O.

Every write to a row is one of the classes below (or of :mod:`.email_wins` or
:mod:`.offboarding`), or a row :func:`new_row` builds. A change's fields are ``LedgerEntry``
field names; all of them are
written (``None`` clears a field), and ``steps`` merges step by step. A :class:`Transition`
changes the status and is kept in the row's ``history`` with its time (``at``). :func:`apply` is
the reference meaning of a change: the in-memory fakes use it, and the Table adapter must agree
with it (tests/integration/test_ledger_table.py checks every change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guest_onboarding.domain.invitation import Invitation, InvitationCommand, sponsors_joined
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.profile import profile_carried


@dataclass(frozen=True, kw_only=True)
class Change:
    """A partial update of a row, named by intent (see the module docstring)."""


@dataclass(frozen=True, kw_only=True)
class Transition(Change):
    """A change of status; ``at`` is when it happened (kept in the row's history)."""

    at: datetime


@dataclass(frozen=True, kw_only=True)
class ClaimReleased(Change):
    """Graph did nothing (throttled): no invitation is in flight, the next delivery may claim
    the row at once."""

    claim_token: None = None
    claimed_at: None = None


@dataclass(frozen=True, kw_only=True)
class Invited(Transition):
    """This system's invitation created (or re-found) the user."""

    user_id: str
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    send_count: int
    status: GuestStatus = field(default=GuestStatus.INVITED, init=False)
    claim_token: None = field(default=None, init=False)

    @classmethod
    def sent(cls, user_id: str, *, sent_at: datetime, emailed: bool, at: datetime) -> Invited:
        """The invitation sent at ``sent_at``, by email or not (``sendInvitationMessage``)."""
        last, n = (sent_at, 1) if emailed else (None, 0)
        return cls(user_id=user_id, first_sent_at=sent_at, last_sent_at=last, send_count=n, at=at)


@dataclass(frozen=True, kw_only=True)
class InvitationRefused(Transition):
    """Graph refused the invitation for good."""

    last_error: str
    status: GuestStatus = field(default=GuestStatus.FAILED, init=False)
    claim_token: None = field(default=None, init=False)


@dataclass(frozen=True, kw_only=True)
class InvitationUnconfirmed(Transition):
    """No user has the address after the invitation and every re-invitation the rules allow
    (:func:`~guest_onboarding.domain.ledger.reinvitation_limit`): the app stops inviting; an
    operator looks the address up (a replayed message records a user who shows, or invites
    afresh)."""

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
class StepsRecorded(Change):
    """New statuses of some fan-out steps (others keep theirs), and Graph's ids of the grants
    they made (``grant_ids``, merged the same way)."""

    steps: Mapping[str, StepStatus]
    grant_ids: Mapping[str, str] = field(default_factory=dict)


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
class Redeemed(Transition):
    """The guest redeemed: when, after how many reminders, and how long after the first
    invitation (the facts reports are made of)."""

    redeemed_at: datetime
    redeemed_after_reminder: int
    seconds_to_redeem: int | None
    status: GuestStatus = field(default=GuestStatus.REDEEMED, init=False)


@dataclass(frozen=True, kw_only=True)
class Removed(Transition):
    """The user is gone from the directory."""

    status: GuestStatus = field(default=GuestStatus.REMOVED, init=False)


@dataclass(frozen=True, kw_only=True)
class Expired(Transition):
    expired_at: datetime
    status: GuestStatus = field(default=GuestStatus.EXPIRED, init=False)


@dataclass(frozen=True, kw_only=True)
class Disabled(Transition):
    """Sign-in blocked after expiry; deletion may follow after the grace period."""

    disabled_at: datetime
    status: GuestStatus = field(default=GuestStatus.DISABLED, init=False)


@dataclass(frozen=True, kw_only=True)
class Deleted(Transition):
    deleted_at: datetime
    status: GuestStatus = field(default=GuestStatus.DELETED, init=False)


@dataclass(frozen=True, kw_only=True)
class Adopted(Transition):
    """A pending guest this system did not invite is tracked from now on (RESEND_UNTRACKED)."""

    user_id: str
    first_sent_at: datetime
    invitation: Invitation
    status: GuestStatus = field(default=GuestStatus.UNTRACKED, init=False)

    @classmethod
    def tracking(
        cls, user_id: str, kept: Invitation | None, *, default_redirect_url: str, now: datetime
    ) -> Adopted:
        """Adoption now, the schedule counting from it. An existing user's row keeps what its
        HR message said (redirect, sponsors, content), but never its ``sendInvitationMessage:
        false``: that message found the guest invited by someone else and sent nothing, so it
        cannot switch off the reminders ``RESEND_UNTRACKED`` owes before any removal."""
        invitation = kept or Invitation(redirect_url=default_redirect_url)
        reminded = dataclasses.replace(invitation, send_message=True)
        return cls(user_id=user_id, first_sent_at=now, invitation=reminded, at=now)


@dataclass(frozen=True, kw_only=True)
class ComebackUndone(Transition):
    """A disabled guest came back, but their fresh invitation did not happen (refused, or
    paused): they are disabled again, and the row is the disabled one it was before the claim
    replaced it (:meth:`of`), so the sweep keeps treating them as it did."""

    user_id: str | None
    external_id: str | None
    invitation: Invitation | None
    sponsor_contact: str | None
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    send_count: int
    reminders_scheduled: int
    reminders_sent: int
    expired_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime | None
    last_error: str | None
    reinvitations: int
    steps: Mapping[str, StepStatus]
    status: GuestStatus = field(default=GuestStatus.DISABLED, init=False)
    claim_token: None = field(default=None, init=False)
    claimed_at: None = field(default=None, init=False)

    @classmethod
    def of(cls, disabled: LedgerEntry, *, at: datetime) -> ComebackUndone:
        """The change back to ``disabled``, the row as it was read before the claim."""
        kept = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "at"}
        return cls(at=at, **{name: getattr(disabled, name) for name in kept})


@dataclass(frozen=True, kw_only=True)
class SponsorsRecorded(Change):
    """A later HR message names more sponsors for a guest already onboarded: the row's
    invitation records them (and the escalation contact)."""

    invitation: Invitation
    sponsor_contact: str | None

    @classmethod
    def adding(
        cls, row: LedgerEntry, sponsors: tuple[str, ...], contact: str | None
    ) -> SponsorsRecorded | None:
        """The change that adds the ``sponsors`` the row does not record yet (None if there is
        none to add); the first contact recorded stays. ``TooManySponsors`` if the guest would
        have more than Graph's five (:func:`.invitation.sponsors_joined`)."""
        if row.invitation is None:
            return None
        known = row.invitation.sponsors
        joined = sponsors_joined(known, sponsors)  # TooManySponsors beyond Graph's five
        if joined == known:
            return None
        recorded = dataclasses.replace(row.invitation, sponsors=joined)
        return cls(invitation=recorded, sponsor_contact=row.sponsor_contact or contact)


def history_line(status: GuestStatus, at: datetime) -> str:
    """One history entry: ``"<status>@<ISO time>"``."""
    return f"{status.value}@{at.isoformat()}"


def new_row(
    cmd: InvitationCommand,
    *,
    now: datetime,
    sponsor_contact: str | None,
    claim_token: str | None = None,
    user_id: str | None = None,
    reinvitations: int = 0,
    replacing: LedgerEntry | None = None,
) -> LedgerEntry:
    """A guest's row for a new lifecycle: claimed (``claim_token``) before an invitation, or an
    existing user's (``user_id``: no email, no profile); it keeps ``replacing``'s history."""
    status = GuestStatus.EXISTING if user_id else GuestStatus.INVITING
    return LedgerEntry(
        access_ends_on=cmd.access_ends_on,
        email=cmd.email,
        status=status,
        user_id=user_id,
        claim_token=None if user_id else claim_token,
        claimed_at=None if user_id else now,
        external_id=cmd.external_id,
        invitation=cmd.invitation,
        sponsor_contact=sponsor_contact,
        profile=None if user_id else profile_carried(replacing, cmd.profile),
        created_at=now,
        reinvitations=reinvitations,
        history=(*(replacing.history if replacing else ()), history_line(status, now)),
    )


def changed_fields(change: Change) -> dict[str, Any]:
    """The row fields ``change`` writes, by name (``steps`` as a mapping to merge; a
    transition's ``at`` goes to the history, not to a field)."""
    return {f.name: getattr(change, f.name) for f in dataclasses.fields(change) if f.name != "at"}


def apply(entry: LedgerEntry, change: Change) -> LedgerEntry:
    """``entry`` with ``change`` applied (a new object; ``entry`` is left as it was)."""
    fields = changed_fields(change)
    steps: Mapping[str, StepStatus] = fields.pop("steps", {})
    ids: Mapping[str, str] = fields.pop("grant_ids", {})
    updated = dataclasses.replace(
        entry, steps={**entry.steps, **steps}, grant_ids={**entry.grant_ids, **ids}, **fields
    )
    if isinstance(change, Transition):
        updated.history = (*entry.history, history_line(updated.status, change.at))
    return updated
