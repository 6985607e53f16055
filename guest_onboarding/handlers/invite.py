"""invite_guest: one HR message. Invite only when no user has the address, exactly once whatever
the queue redelivers, then queue one assignment step per group and app role not yet done.

The ledger row decides what happens; each state has its own branch:

- **onboarded**: the row names the guest's user: only missing steps are queued;
- **claimed by another delivery** (lease not run out): that delivery is inviting right now,
  so this message comes back in a moment;
- **claimed by a crashed delivery** (this message's own claim, or a lease run out): the
  invitation may have gone out, so the address is looked up before anything is sent again;
- **no row** (or a row that names nobody: refused, removed): look up; an existing user gets no
  email, anyone else is claimed and invited.

A lost race for the row (a concurrent delivery wrote it first) defers the message, as a held
claim does: no state is decided twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import (
    ONBOARDED,
    ClaimReleased,
    FoundExisting,
    GuestStatus,
    InvitationRefused,
    Invited,
    LedgerEntry,
    StepsRecorded,
    StepStatus,
)
from guest_onboarding.errors import PermanentDirectoryError, Throttled
from guest_onboarding.messages import assignment_steps
from guest_onboarding.ports import Directory, Ledger, Outbox

#: How long a claim on a ledger row keeps concurrent deliveries of the same guest waiting.
CLAIM_LEASE = timedelta(seconds=30)
#: A deferred message is re-checked this soon (the claim holder usually finishes in a second).
RECHECK_SECONDS = (1.0, 3.0)


class InviteResult(StrEnum):
    INVITED = "invited"
    EXISTING = "existing"
    ALREADY_ONBOARDED = "already_onboarded"
    DEFERRED = "deferred"


@dataclass(frozen=True, kw_only=True)
class InviteOutcome:
    """What ``invite_guest`` did."""

    result: InviteResult
    user_id: str | None = None
    steps_queued: int = 0


@dataclass(frozen=True, kw_only=True)
class _Run:
    cmd: InvitationCommand
    token: str
    raw_body: str
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    now: datetime

    async def defer(self, wait_seconds: float) -> InviteOutcome:
        low, high = RECHECK_SECONDS
        await self.outbox.requeue_invitation(
            self.raw_body, delay_seconds=min(max(wait_seconds, low), high)
        )
        return InviteOutcome(result=InviteResult.DEFERRED)

    async def fan_out(
        self, result: InviteResult, user_id: str, done: Mapping[str, StepStatus]
    ) -> InviteOutcome:
        """Queue every step not done yet; record the new ones as queued first."""
        steps = [
            s for s in assignment_steps(self.cmd, user_id) if done.get(s.key) != StepStatus.DONE
        ]
        new = {s.key: StepStatus.QUEUED for s in steps if s.key not in done}
        if new:
            await self.ledger.update(self.cmd.email, StepsRecorded(steps=new))
        for step in steps:
            await self.outbox.queue_assignment(step)
        return InviteOutcome(result=result, user_id=user_id, steps_queued=len(steps))

    def claim_row(self) -> LedgerEntry:
        return LedgerEntry(
            email=self.cmd.email,
            status=GuestStatus.INVITING,
            claim_token=self.token,
            claimed_at=self.now,
            external_id=self.cmd.external_id,
            invitation=self.cmd.invitation,
            created_at=self.now,
        )


async def invite_guest(
    cmd: InvitationCommand,
    *,
    token: str,
    raw_body: str,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> InviteOutcome:
    """Make sure the guest exists (inviting only when no user has the address) and queue one
    assignment step per group and app role not yet done. ``token`` identifies this delivery
    (the queue message id, which a redelivery keeps); ``raw_body`` is re-queued on deferral."""
    run = _Run(
        cmd=cmd,
        token=token,
        raw_body=raw_body,
        directory=directory,
        ledger=ledger,
        outbox=outbox,
        now=now,
    )
    entry = await ledger.get(cmd.email)
    if entry is None:
        return await _no_row(run)
    if entry.user_id and entry.status in ONBOARDED:
        return await run.fan_out(InviteResult.ALREADY_ONBOARDED, entry.user_id, entry.steps)
    if entry.status == GuestStatus.INVITING:
        lease_left = _lease_left(entry, token=token, now=now)
        if lease_left > 0:
            return await run.defer(lease_left)
        return await _claimed_by_crashed_delivery(run, entry)
    return await _row_without_user(run, entry)


def _lease_left(entry: LedgerEntry, *, token: str, now: datetime) -> float:
    """Seconds another delivery's claim still holds the row (0 if it is ours or ran out)."""
    if entry.claim_token in (None, token) or entry.claimed_at is None:
        return 0.0
    return max(0.0, (entry.claimed_at + CLAIM_LEASE - now).total_seconds())


async def _no_row(run: _Run) -> InviteOutcome:
    user = await run.directory.find_user(run.cmd.email)
    if user is not None:
        found = run.claim_row()
        found.status, found.user_id, found.claim_token = GuestStatus.EXISTING, user.id, None
        if not await run.ledger.claim(found):
            return await run.defer(0)  # a concurrent delivery wrote the row first
        return await run.fan_out(InviteResult.EXISTING, user.id, {})
    if not await run.ledger.claim(run.claim_row()):
        return await run.defer(0)
    return await _send_invitation(run)


async def _row_without_user(run: _Run, entry: LedgerEntry) -> InviteOutcome:
    """A row that names no current user (a refused invitation): start again from the top."""
    user = await run.directory.find_user(run.cmd.email)
    if user is not None:
        if not await run.ledger.update(run.cmd.email, FoundExisting(user_id=user.id)):
            return await run.defer(0)
        return await run.fan_out(InviteResult.EXISTING, user.id, entry.steps)
    return await _take_over_and_send(run, entry)


async def _claimed_by_crashed_delivery(run: _Run, entry: LedgerEntry) -> InviteOutcome:
    """The claim's holder died after claiming: did its invitation go out?"""
    user = await run.directory.find_user(run.cmd.email)
    if user is None:
        return await _take_over_and_send(run, entry)
    # It did: the invitation is ours, sent when the row was claimed.
    sent = entry.claimed_at if run.cmd.invitation.send_message else None
    recovered = Invited(
        user_id=user.id,
        first_sent_at=entry.claimed_at,
        last_sent_at=sent,
        send_count=max(entry.send_count, 1 if sent else 0),
    )
    if not await run.ledger.update(run.cmd.email, recovered, etag=entry.etag):
        return await run.defer(0)
    return await run.fan_out(InviteResult.INVITED, user.id, entry.steps)


async def _take_over_and_send(run: _Run, entry: LedgerEntry) -> InviteOutcome:
    if entry.etag is None or not await run.ledger.take_over(run.claim_row(), etag=entry.etag):
        return await run.defer(0)
    return await _send_invitation(run)


async def _send_invitation(run: _Run) -> InviteOutcome:
    """POST /invitations under a claim this delivery holds, then record it and fan out."""
    email, invitation = run.cmd.email, run.cmd.invitation
    try:
        result = await run.directory.invite(email, invitation)
    except Throttled:
        # 429 means Graph did nothing: release the claim so the re-queued copy may take it.
        await run.ledger.update(email, ClaimReleased())
        raise
    except PermanentDirectoryError as exc:
        await run.ledger.update(email, InvitationRefused(last_error=f"{exc.code}: {exc.message}"))
        raise
    sent = run.now if invitation.send_message else None
    await run.ledger.update(
        email,
        Invited(
            user_id=result.user_id,
            first_sent_at=run.now,
            last_sent_at=sent,
            send_count=1 if sent else 0,
        ),
    )
    # The claim replaced the whole row, so no step has a status yet.
    return await run.fan_out(InviteResult.INVITED, result.user_id, {})
