"""A later HR message for a guest already onboarded (the ledger row names a user who is still in
the directory): what it may still change. The sponsors it adds are recorded on the row (their
steps are checked against it). Called by :func:`.invite.invite_guest`.
"""

from __future__ import annotations

from guest_onboarding import errors
from guest_onboarding.domain import changes
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.ports import Ledger


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
