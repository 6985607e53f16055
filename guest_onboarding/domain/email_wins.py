"""Email wins: the rule that owes a guest the invitation email a later message asks for, and the
writes that send it once (claimed, released, sent). No I/O; the handler is
``handlers/email_owed.py``. These are changes of a row like those of :mod:`.changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry


def email_owed(row: LedgerEntry, asked: Invitation, *, pending: bool) -> bool:
    """Email wins: the invitation email is owed to a guest this system invited without one (an
    earlier message said ``sendInvitationMessage: false``, or raced HR's) once a message asks for
    it, while they have not redeemed. Once sent, never again: reminders take over. No message can
    switch the email (or the reminders that follow it) off again: a row keeps the invitation
    that emailed."""
    return (
        row.status == GuestStatus.INVITED and row.send_count == 0 and asked.send_message and pending
    )


@dataclass(frozen=True, kw_only=True)
class EmailClaimed(Change):
    """The invitation email a later message asked for is about to go out (etag-checked, before
    Graph is called): the row's invitation becomes the one that emails, under a claim."""

    invitation: Invitation
    sponsor_contact: str | None
    claim_token: str
    claimed_at: datetime


@dataclass(frozen=True, kw_only=True)
class EmailReleased(Change):
    """Graph did not send the owed email (paused, refused): the row is as it was, unclaimed."""

    invitation: Invitation
    sponsor_contact: str | None
    claim_token: None = None
    claimed_at: None = None


@dataclass(frozen=True, kw_only=True)
class EmailSent(Change):
    """The owed invitation email went out: the guest's schedule (reminders, then expiry and any
    removal) counts from it, as if this were the first invitation (a guest without an email had
    no reminders)."""

    first_sent_at: datetime
    last_sent_at: datetime
    send_count: int = 1
    claim_token: None = None
    claimed_at: None = None
