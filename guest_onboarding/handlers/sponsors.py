"""Sponsors, for :func:`.invite.invite_guest`: the ones a message names are resolved before
anything is written or sent (only members of the tenant may sponsor), and the ones a later
message adds for a guest already onboarded are recorded on the row (their steps are checked
against it).
"""

from __future__ import annotations

import dataclasses

from guest_onboarding import errors
from guest_onboarding.domain import changes
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.ports import Directory, Ledger


async def record_new_sponsors(
    entry: LedgerEntry, cmd: InvitationCommand, contact: str | None, *, ledger: Ledger
) -> None:
    """New sponsors recorded on an onboarded guest's row (their steps are checked against it),
    etag-checked and re-read on a conflict: two messages adding sponsors both land."""
    for _ in range(5):
        sponsors = cmd.invitation.sponsors
        change = changes.SponsorsRecorded.adding(entry, sponsors, contact)
        if change is None or await ledger.update(entry.email, change, etag=entry.etag):
            return
        if (fresh := await ledger.get(entry.email)) is None:
            return
        entry = fresh
    raise errors.LedgerContention("the guest's ledger row kept changing")


async def resolve_sponsors(
    cmd: InvitationCommand, directory: Directory
) -> tuple[InvitationCommand, str | None]:
    """``cmd`` naming its sponsors by object id, and the first one's address (the escalation
    contact); ``UnknownSponsor`` / ``SponsorNotMember`` unless each is a member of the tenant."""
    ids: list[str] = []
    contact: str | None = None
    for ref in cmd.sponsor_refs:
        user = await directory.resolve_user(ref)
        if user is None:
            raise errors.InvalidMessage(
                "UnknownSponsor", f"sponsor {ref} is not a user of the tenant"
            )
        if not user.is_member:
            kind = user.user_type or "non-member"
            raise errors.InvalidMessage("SponsorNotMember", f"sponsor {ref} is a {kind}")
        if user.id.lower() not in ids:
            ids.append(user.id.lower())
        contact = contact or (user.mail or user.user_principal_name or "").lower() or None
    if not ids:
        return cmd, None
    invitation = dataclasses.replace(cmd.invitation, sponsors=tuple(ids))
    return dataclasses.replace(cmd, invitation=invitation), contact
