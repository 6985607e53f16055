"""invite_guest: one HR message. Invite only when no user has the address, exactly once whatever
the queue redelivers, then queue one assignment step per group and app role not yet done.

The ledger row decides; each state has its own branch, read top to bottom below:

- **no row** (or refused, removed, deleted): look the address up; an existing user gets no
  email, anyone else is claimed (right before ``POST /invitations``) and invited;
- **onboarded**: the user must still exist (one missing moments after the invitation may not
  have replicated: the message waits); then only missing steps are queued;
- **expired**, **disabled**: a fresh invitation (a disabled guest is enabled first);
- **claimed by another delivery** (its lease not run out): the message comes back in a moment;
- **claimed by a crashed delivery**, or one whose ``POST /invitations`` ended in a 5xx or a
  timeout: the address is looked up until the user shows up, for at most the replication wait;
  then the guest is invited again (``reinvited``): no operator step (:func:`_recover_claim`).

A lost race for the row defers the message, as a held claim does. Sponsors are resolved before
anything is written or sent; every ``POST /invitations`` goes through ``ports.InvitationGate``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from guest_onboarding import errors
from guest_onboarding.domain import changes
from guest_onboarding.domain import ledger as rows
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.handlers.assign import queue_steps
from guest_onboarding.ports import Directory, InvitationGate, Ledger, Outbox

#: A deferred message is re-checked this soon (the claim holder usually finishes in a second).
RECHECK_SECONDS = (1.0, 3.0)


@dataclass(frozen=True, kw_only=True)
class InviteOutcome:
    """What ``invite_guest`` did, and for whom."""

    outcome: Outcome
    user_id: str | None = None
    steps_queued: int = 0


async def invite_guest(
    cmd: InvitationCommand,
    *,
    token: str,
    raw_body: str,
    directory: Directory,
    gate: InvitationGate,
    ledger: Ledger,
    outbox: Outbox,
    clock: Callable[[], datetime],
    replication_wait: timedelta,
    link_sponsors: bool = False,
) -> InviteOutcome:
    """Make sure the guest exists (inviting only when no user has the address) and queue one
    assignment step per group and app role not yet done. ``token`` identifies this delivery
    (the queue message id, which a redelivery keeps); ``raw_body`` is re-queued on deferral."""
    cmd, contact = await _resolve_sponsors(cmd, directory)
    run = _Run(
        cmd=cmd,
        token=token,
        raw_body=raw_body,
        directory=directory,
        gate=gate,
        ledger=ledger,
        outbox=outbox,
        clock=clock,
        replication_wait=replication_wait,
        link_sponsors=link_sponsors,
        sponsor_contact=contact,
    )
    entry = await ledger.get(cmd.email)
    if entry is None:
        return await _onboard_afresh(run, None)
    if entry.status in rows.KEEPS_ITS_USER and entry.user_id:
        if await directory.get_user(entry.user_id) is None:
            if rows.replication_wait_left(
                rows.invited_at(entry), now=clock(), wait=replication_wait
            ):
                # Invited moments ago: the directory may not show the user yet. Not gone.
                return await run.defer(at_most=rows.REPLICATION_RECHECK_SECONDS)
            return await _onboard_afresh(run, entry)  # the user is gone: the row is stale
        await _record_new_sponsors(run, entry)
        return await run.fan_out(Outcome.ALREADY_ONBOARDED, entry.user_id, entry.steps)
    if entry.status == GuestStatus.EXPIRED:
        return await _claim_and_invite(run, entry)
    if entry.status == GuestStatus.DISABLED and entry.user_id:
        return await _enable_and_invite(run, entry, entry.user_id)
    if entry.status == GuestStatus.INVITING:
        held = rows.claim_held_for(entry, token=token, now=clock())
        return await (run.defer(held) if held else _recover_claim(run, entry))
    return await _onboard_afresh(run, entry)


async def _onboard_afresh(run: _Run, entry: LedgerEntry | None) -> InviteOutcome:
    """Look the address up: an existing user gets no email, anyone else an invitation."""
    user = await run.directory.find_user(run.cmd.email)
    if user is None:
        return await _claim_and_invite(run, entry)
    if not await run.write(entry, user_id=user.id):
        return await run.defer()  # a concurrent delivery wrote the row first
    return await run.fan_out(Outcome.EXISTING, user.id, {})


async def _enable_and_invite(run: _Run, entry: LedgerEntry, user_id: str) -> InviteOutcome:
    """A disabled guest comes back: sign-in allowed again, then a fresh invitation. If that does
    not happen (refused, paused), they are disabled again and the row is the disabled one it
    was: nobody is left enabled without an invitation (the sweep would never look again)."""
    await run.gate.ensure_open(run.clock())  # a tenant-wide stop: wait, nothing to undo
    try:
        await run.directory.set_account_enabled(user_id, enabled=True)
    except errors.NotFound:
        return await _onboard_afresh(run, entry)
    try:
        return await _claim_and_invite(run, entry)
    except (errors.Paused, errors.PermanentDirectoryError):
        await run.directory.set_account_enabled(user_id, enabled=False)
        await run.ledger.update(run.cmd.email, changes.ComebackUndone.of(entry, at=run.clock()))
        raise


async def _claim_and_invite(
    run: _Run, entry: LedgerEntry | None, *, again: bool = False
) -> InviteOutcome:
    await run.gate.ensure_open(run.clock())  # a tenant-wide stop: wait before claiming
    count = entry.reinvitations + 1 if again and entry is not None else 0
    if not await run.write(entry, claim=True, reinvitations=count):
        return await run.defer()
    return await _send_invitation(run, Outcome.REINVITED if again else Outcome.INVITED)


async def _recover_claim(run: _Run, entry: LedgerEntry) -> InviteOutcome:
    """The claim's holder stopped: did its invitation go out?"""
    if entry.claimed_at is None:  # released: Graph did nothing
        return await _claim_and_invite(run, entry)
    user = await run.directory.find_user(run.cmd.email)
    if user is not None:  # it did, when the row was claimed
        emailed = run.cmd.invitation.send_message
        found = changes.Invited.sent(
            user.id, sent_at=entry.claimed_at, emailed=emailed, at=run.clock()
        )
        if not await run.ledger.update(run.cmd.email, found, etag=entry.etag):
            return await run.defer()
        return await run.fan_out(Outcome.INVITED, user.id, entry.steps)
    left = rows.replication_wait_left(entry.claimed_at, now=run.clock(), wait=run.replication_wait)
    if left:  # maybe sent and not replicated yet: look again rather than risk a second email
        return await run.defer(left, at_most=rows.REPLICATION_RECHECK_SECONDS)
    # No user after the whole wait: the invitation most likely never went out (a crash before
    # the call, a 5xx or a reset before Graph applied it), so invite again. An invitation for
    # an address that already has a user creates no second user: Graph answers with that user
    # and re-sends to it (docs/operations.md, "Invited again", cites Microsoft's docs). The
    # worst case is a second email to the same guest, never a second user or a guest waiting.
    return await _claim_and_invite(run, entry, again=True)


async def _send_invitation(run: _Run, outcome: Outcome) -> InviteOutcome:
    """POST /invitations under a claim this delivery holds, then record it and fan out."""
    email, invitation = run.cmd.email, run.cmd.invitation
    try:
        result = await run.gate.invite(email, invitation, now=run.clock())
    except errors.Paused:  # Graph did nothing: release the claim so the re-queued copy may take it
        await run.ledger.update(email, changes.ClaimReleased())
        raise
    except errors.PermanentDirectoryError as exc:
        error = f"{exc.code}: {exc.message}"
        await run.ledger.update(email, changes.InvitationRefused(last_error=error, at=run.clock()))
        raise
    except (
        errors.TransientDirectoryError
    ) as exc:  # after the request went out: it may have been applied
        error = f"{exc.code}: {exc.message}"
        await run.ledger.update(email, changes.InvitationOutcomeUnknown(last_error=error))
        raise
    now = run.clock()
    sent = changes.Invited.sent(
        result.user_id, sent_at=now, emailed=invitation.send_message, at=now
    )
    await run.ledger.update(email, sent)
    return await run.fan_out(outcome, result.user_id, {})  # the claim's row has no steps yet


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One delivery of an HR message: what every branch above reads, and what they all do
    alike (defer the message, write a new row, fan the steps out)."""

    cmd: InvitationCommand
    token: str
    raw_body: str
    directory: Directory
    gate: InvitationGate
    ledger: Ledger
    outbox: Outbox
    clock: Callable[[], datetime]
    replication_wait: timedelta
    link_sponsors: bool
    sponsor_contact: str | None

    async def defer(self, wait: float = 0.0, *, at_most: float | None = None) -> InviteOutcome:
        low, high = RECHECK_SECONDS
        delay = min(max(wait, low), at_most or high)
        await self.outbox.requeue_invitation(self.raw_body, delay_seconds=delay)
        return InviteOutcome(outcome=Outcome.DEFERRED)

    async def write(
        self,
        replacing: LedgerEntry | None,
        *,
        claim: bool = False,
        user_id: str | None = None,
        reinvitations: int = 0,
    ) -> bool:
        """A new row (``domain.ledger.new_row``): inserted, or replacing ``replacing`` if that
        is unchanged since read."""
        token = self.token if claim else None
        new = rows.new_row(
            self.cmd,
            now=self.clock(),
            sponsor_contact=self.sponsor_contact,
            claim_token=token,
            user_id=user_id,
            reinvitations=reinvitations,
            replacing=replacing,
        )
        if replacing is None:
            return await self.ledger.claim(new)
        return replacing.etag is not None and await self.ledger.take_over(new, etag=replacing.etag)

    async def fan_out(
        self, outcome: Outcome, user_id: str, done: Mapping[str, rows.StepStatus]
    ) -> InviteOutcome:
        """Queue the steps not done yet. A user who already existed gets their sponsors by steps
        (``ADD_SPONSORS_TO_EXISTING_USERS``); an invited guest got them with the invitation."""
        link = self.link_sponsors and outcome not in (Outcome.INVITED, Outcome.REINVITED)
        queued = await queue_steps(
            self.cmd, user_id, done, link_sponsors=link, ledger=self.ledger, outbox=self.outbox
        )
        return InviteOutcome(outcome=outcome, user_id=user_id, steps_queued=queued)


async def _resolve_sponsors(
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


async def _record_new_sponsors(run: _Run, entry: LedgerEntry) -> None:
    """Sponsors a later message names for a guest already onboarded are recorded on the row
    (their steps are checked against it), etag-checked and re-read on a conflict: two messages
    adding different sponsors at once both land."""
    for _ in range(5):
        change = changes.SponsorsRecorded.adding(
            entry, run.cmd.invitation.sponsors, run.sponsor_contact
        )
        if change is None or await run.ledger.update(entry.email, change, etag=entry.etag):
            return
        fresh = await run.ledger.get(entry.email)
        if fresh is None:
            return
        entry = fresh
    raise errors.TransientDirectoryError(
        "the guest's ledger row kept changing", code="LedgerContention"
    )
