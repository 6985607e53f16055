"""What one ``invite_guest`` delivery carries and does alike in every state: defer the message,
fan out the steps, build and write a fresh row."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from guest_onboarding.domain.changes import StepsRecorded, history_line
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.internal_messages import assignment_steps
from guest_onboarding.ports import Directory, Ledger, Outbox

#: A deferred message is re-checked this soon (the claim holder usually finishes in a second).
RECHECK_SECONDS = (1.0, 3.0)


@dataclass(frozen=True, kw_only=True)
class InviteOutcome:
    """What ``invite_guest`` did."""

    result: Outcome
    user_id: str | None = None
    steps_queued: int = 0


@dataclass(frozen=True, kw_only=True)
class InviteRun:
    cmd: InvitationCommand
    token: str
    raw_body: str
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    clock: Callable[[], datetime]
    replication_wait: timedelta
    gate: InvitationGate
    link_sponsors: bool
    sponsor_contact: str | None = None

    async def defer(
        self, wait_seconds: float = 0.0, *, at_most: float | None = None
    ) -> InviteOutcome:
        low, high = RECHECK_SECONDS
        delay = min(max(wait_seconds, low), at_most or high)
        await self.outbox.requeue_invitation(self.raw_body, delay_seconds=delay)
        return InviteOutcome(result=Outcome.DEFERRED)

    async def fan_out(
        self, result: Outcome, user_id: str, done: Mapping[str, StepStatus]
    ) -> InviteOutcome:
        """Queue every step not done yet; record the new ones as queued first (assign_fn acts
        only on steps the ledger records). A user who already existed gets their sponsors by
        steps (when ``ADD_SPONSORS_TO_EXISTING_USERS``); a new guest got them with the
        invitation."""
        link = self.link_sponsors and result != Outcome.INVITED
        steps = [
            s
            for s in assignment_steps(self.cmd, user_id, link_sponsors=link)
            if done.get(s.key) != StepStatus.DONE
        ]
        new = {s.key: StepStatus.QUEUED for s in steps if s.key not in done}
        if new:
            await self.ledger.update(self.cmd.email, StepsRecorded(steps=new))
        for step in steps:
            await self.outbox.queue_assignment(step)
        return InviteOutcome(result=result, user_id=user_id, steps_queued=len(steps))

    def fresh_row(self, *, user_id: str | None = None) -> LedgerEntry:
        """A new row: claimed for an invitation now, or (``user_id``) an existing user."""
        now = self.clock()
        status = GuestStatus.EXISTING if user_id else GuestStatus.INVITING
        return LedgerEntry(
            email=self.cmd.email,
            status=status,
            user_id=user_id,
            claim_token=None if user_id else self.token,
            claimed_at=None if user_id else now,
            external_id=self.cmd.external_id,
            invitation=self.cmd.invitation,
            sponsor_contact=self.sponsor_contact,
            created_at=now,
            history=(history_line(status, now),),
        )

    async def write(self, row: LedgerEntry, replacing: LedgerEntry | None) -> bool:
        """Insert ``row``, or replace ``replacing`` if it is unchanged since read (keeping its
        history: the ledger keeps every transition)."""
        if replacing is None:
            return await self.ledger.claim(row)
        row = dataclasses.replace(row, history=(*replacing.history, *row.history))
        return replacing.etag is not None and await self.ledger.take_over(row, etag=replacing.etag)
