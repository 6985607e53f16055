"""Sponsors: resolved and checked before anything is sent. Each must be an existing member of
the tenant (not a guest); the first one's address is the escalation contact for reminders."""

from __future__ import annotations

import dataclasses

from guest_onboarding.domain.changes import SponsorsRecorded
from guest_onboarding.domain.invitation import Invitation, InvitationCommand
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.errors import InvalidMessage, LedgerContention
from guest_onboarding.ports import Directory, Ledger

MEMBER = "Member"


async def resolve_sponsors(
    cmd: InvitationCommand, directory: Directory
) -> tuple[InvitationCommand, str | None]:
    """``cmd`` with its invitation naming the sponsors by object id, and the first sponsor's
    address; ``UnknownSponsor`` / ``SponsorNotMember`` when one cannot sponsor."""
    if not cmd.sponsor_refs:
        return cmd, None
    ids: list[str] = []
    contact: str | None = None
    for ref in cmd.sponsor_refs:
        user = await directory.resolve_user(ref)
        if user is None:
            raise InvalidMessage("UnknownSponsor", f"sponsor {ref} is not a user of the tenant")
        if user.user_type != MEMBER:
            raise InvalidMessage(
                "SponsorNotMember", f"sponsor {ref} is a {user.user_type or 'non-member'}"
            )
        if user.id.lower() not in ids:
            ids.append(user.id.lower())
        if contact is None:
            contact = (user.mail or user.user_principal_name or "").lower() or None
    invitation = dataclasses.replace(cmd.invitation, sponsors=tuple(ids))
    return dataclasses.replace(cmd, invitation=invitation), contact


async def record_new_sponsors(
    ledger: Ledger, entry: LedgerEntry, invitation: Invitation, contact: str | None
) -> None:
    """Sponsors a later message names for a guest already onboarded are recorded on the row
    (their steps are checked against it). Etag-checked and re-read on a conflict, so two
    messages adding different sponsors at once both land."""
    for _ in range(5):
        known = entry.invitation.sponsors if entry.invitation else ()
        new = [s for s in invitation.sponsors if s not in known]
        if not new or entry.invitation is None:
            return
        recorded = dataclasses.replace(entry.invitation, sponsors=(*known, *new))
        change = SponsorsRecorded(
            invitation=recorded, sponsor_contact=entry.sponsor_contact or contact
        )
        if await ledger.update(entry.email, change, etag=entry.etag):
            return
        fresh = await ledger.get(entry.email)
        if fresh is None:
            return
        entry = fresh
    raise LedgerContention("the guest's ledger row kept changing")
