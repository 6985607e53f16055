"""Email wins: a later HR message for a guest this system invited without an email (an earlier
message said ``sendInvitationMessage: false``, perhaps one sent to front-run HR's) gets the
invitation email it asks for, once, while the guest has not redeemed (``domain/email_wins.py``).
Called by :func:`.invite.invite_guest` for a guest already onboarded.

Once, whatever the queue does: the email is claimed on the row (etag-checked, with the message's
token and a lease, like a first invitation) before Graph is called, so a redelivered or
concurrent copy finds it taken; the row then records it as the guest's first email, and the
schedule owed before any removal (reminders, expiry) counts from it. Graph did nothing (paused,
refused): the row is released as it was. A crash between the claim and Graph's answer: after the
lease a redelivery sends it again (the worst case is a second email, as for an invitation sent
again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from guest_onboarding import errors
from guest_onboarding.domain import email_wins
from guest_onboarding.domain import ledger as rows
from guest_onboarding.domain.invitation import Invitation, InvitationCommand, sponsors_joined
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.ports import PENDING_ACCEPTANCE, DirectoryUser, InvitationResult, Ledger


class Inviter(Protocol):
    """The invitation gate (``invite.InvitationGate``), as much of it as this needs."""

    async def invite(
        self, email: str, invitation: Invitation, *, now: datetime
    ) -> InvitationResult: ...


async def email_if_owed(
    entry: LedgerEntry,
    user: DirectoryUser,
    cmd: InvitationCommand,
    contact: str | None,
    *,
    token: str,
    gate: Inviter,
    ledger: Ledger,
    clock: Callable[[], datetime],
) -> bool | None:
    """None: no email is owed. True: the owed email went out now. False: another delivery holds
    the row or changed it first (come back shortly)."""
    pending = user.external_user_state == PENDING_ACCEPTANCE
    owed = email_wins.email_owed(entry, cmd.invitation, pending=pending)
    if entry.invitation is None or not owed:
        return None
    if rows.claim_held_for(entry, token=token, now=clock()):
        return False
    kept = entry.invitation
    sponsors = sponsors_joined(kept.sponsors, cmd.invitation.sponsors)  # at most Graph's five
    emailing = dataclasses.replace(cmd.invitation, send_message=True, sponsors=sponsors)
    contact = entry.sponsor_contact or contact
    claim = email_wins.EmailClaimed(
        invitation=emailing, sponsor_contact=contact, claim_token=token, claimed_at=clock()
    )
    if not await ledger.update(entry.email, claim, etag=entry.etag):
        return False
    try:
        await gate.invite(entry.email, emailing, now=clock())
    except (errors.Paused, errors.DirectoryError):  # nothing sent (or unknown): as it was
        released = email_wins.EmailReleased(invitation=kept, sponsor_contact=entry.sponsor_contact)
        await ledger.update(entry.email, released)
        raise
    now = clock()
    await ledger.update(entry.email, email_wins.EmailSent(first_sent_at=now, last_sent_at=now))
    return True
