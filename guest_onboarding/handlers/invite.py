"""invite_guest: one HR message. Invite only when no user has the address, exactly once whatever
the queue redelivers, then queue one assignment step per group and app role not yet done. The
ledger row decides, one branch per state (read :func:`invite_guest` top to bottom). Sponsors are
resolved before anything is written or sent; every ``POST /invitations``, first invitations and
reminders alike, goes through the :class:`~.gate.InvitationGate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from guest_onboarding import errors
from guest_onboarding.domain import changes
from guest_onboarding.domain import ledger as rows
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import check_guest, onboardable
from guest_onboarding.handlers import lifecycle as later
from guest_onboarding.handlers.assign import queue_steps
from guest_onboarding.handlers.email_owed import email_if_owed
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.handlers.profile_step import record_profile
from guest_onboarding.handlers.returning import comeback_row
from guest_onboarding.handlers.sponsors import record_new_sponsors, resolve_sponsors
from guest_onboarding.ports import Directory, DirectoryUser, Ledger, Outbox

_log = logging.getLogger("guest_onboarding")


@dataclass(frozen=True, kw_only=True)
class InviteOutcome:
    outcome: Outcome
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
    allow_members: bool = False,
    lifecycle: later.Lifecycle | None = None,
) -> InviteOutcome:
    """The guest exists (invited only if no user has the address), their steps queued. ``token``
    is the queue message id (a redelivery keeps it); ``raw_body`` is re-queued on deferral. A
    member of the tenant (unless ``allow_members``), or an address several users hold, is
    refused (``MemberNotGuest``, ``AmbiguousAddress``): nothing is granted."""
    cmd, contact = await resolve_sponsors(cmd, directory) if cmd.sponsor_refs else (cmd, None)
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
        allow_members=allow_members,
        sponsor_contact=contact,
        lifecycle=lifecycle or later.Lifecycle(),
    )
    entry = await ledger.get(cmd.email) or await comeback_row(
        cmd.email, ledger=ledger, find=run.existing_user, clock=clock
    )
    if entry is None:
        return await _onboard_afresh(run, None)
    if entry.status in rows.KEEPS_ITS_USER and entry.user_id:
        user = await directory.get_user(entry.user_id)
        if user is None:
            if rows.invited_recently(entry, now=clock(), wait=replication_wait):
                # The directory may not show a user invited moments ago yet: not gone.
                return await run.defer(at_most=rows.REPLICATION_RECHECK_SECONDS)
            return await _onboard_afresh(run, entry)  # the user is gone: the row is stale
        check_guest(user, allow_members=allow_members)  # (rows from before members were refused)
        emailed = await email_if_owed(
            entry, user, cmd, contact, token=token, gate=gate, ledger=ledger, clock=clock
        )
        if emailed is False:
            return await run.defer()  # another delivery is sending it, or changed the row
        steps = await record_profile(cmd, entry, ledger=ledger)
        await record_new_sponsors(entry, cmd, contact, ledger=ledger)
        mover = await later.record_latest_word(
            cmd,
            entry,
            entry.user_id,
            lifecycle=run.lifecycle,
            ledger=ledger,
            outbox=outbox,
            now=clock(),
        )
        outcome = Outcome.EMAILED if emailed else Outcome.ALREADY_ONBOARDED
        return await run.fan_out(outcome, entry.user_id, steps, mover)
    if entry.status == GuestStatus.OFFBOARDING:  # wait for it to finish (poison when stuck)
        later.check_offboarding_not_stuck(entry, now=clock())
        return await run.defer(later.OFFBOARDING_RECHECK_SECONDS, at_most=60.0)
    if entry.status == GuestStatus.OFFBOARDED and entry.user_id:
        back = await later.bring_back(
            run.cmd,
            entry,
            entry.user_id,
            sponsor_contact=contact,
            now=clock(),
            directory=directory,
            ledger=ledger,
            outbox=outbox,
        )
        if back is later.Comeback.GONE:
            return await _onboard_afresh(run, entry)
        if back is later.Comeback.RACED:
            return await run.defer()
        return await run.fan_out(Outcome.RETURNED, entry.user_id, {}, back)
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
    user = await run.existing_user()
    if user is None:
        return await _claim_and_invite(run, entry)
    if not await run.write(entry, user_id=user.id):
        return await run.defer()  # a concurrent delivery wrote the row first
    return await run.fan_out(Outcome.EXISTING, user.id, {})


async def _enable_and_invite(run: _Run, entry: LedgerEntry, user_id: str) -> InviteOutcome:
    """A disabled guest comes back: enabled, then invited afresh. If the invitation does not
    happen (refused, paused), they are disabled again and the row is what it was."""
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
    count = rows.reinvitations_after(entry, again=again)
    if not await run.write(entry, reinvitations=count):
        return await run.defer()
    return await _send_invitation(run, Outcome.REINVITED if again else Outcome.INVITED)


async def _recover_claim(run: _Run, entry: LedgerEntry) -> InviteOutcome:
    """A crashed claim or an unknown outcome (5xx): wait for the user, then invite again, once."""
    if entry.claimed_at is None:  # released: Graph did nothing
        return await _claim_and_invite(run, entry)
    if (user := await run.existing_user()) is not None:  # it did, when claimed, as its row says
        claimed = entry.invitation or run.cmd.invitation
        sent_at, emailed = entry.claimed_at, claimed.send_message
        found = changes.Invited.sent(user.id, sent_at=sent_at, emailed=emailed, at=run.clock())
        if not await run.ledger.update(run.cmd.email, found, etag=entry.etag):
            return await run.defer()
        if run.cmd.invitation.send_message and not emailed:
            return await run.defer()  # this message asks for the email: back as a follow-up
        return await run.fan_out(Outcome.INVITED, user.id, entry.steps)
    left = rows.replication_wait_left(entry.claimed_at, now=run.clock(), wait=run.replication_wait)
    if left:  # maybe sent and not replicated yet: look again rather than risk a second email
        return await run.defer(left, at_most=rows.REPLICATION_RECHECK_SECONDS)
    if (limit := rows.reinvitation_limit(entry)) is not None:  # each one may be an email
        gave_up = changes.InvitationUnconfirmed(last_error=str(limit), at=run.clock())
        if not await run.ledger.update(run.cmd.email, gave_up, etag=entry.etag):
            return await run.defer()
        raise limit
    return await _claim_and_invite(run, entry, again=True)  # Graph returns a user, never a second


async def _send_invitation(run: _Run, outcome: Outcome) -> InviteOutcome:
    """POST /invitations under a claim this delivery holds, then record it and fan out."""
    email, invitation = run.cmd.email, run.cmd.invitation
    try:
        result = await run.gate.invite(email, invitation, now=run.clock())
    except errors.PermanentDirectoryError as exc:
        error = f"{exc.code}: {exc.message}"
        await run.ledger.update(email, changes.InvitationRefused(last_error=error, at=run.clock()))
        raise
    except errors.TransientDirectoryError as exc:
        if isinstance(exc, errors.Paused) or rows.refused_unapplied(exc.status):
            await run.ledger.update(email, changes.ClaimReleased())  # Graph did nothing
        else:  # after the request: it may have been applied
            error = f"{exc.code}: {exc.message}"
            await run.ledger.update(email, changes.InvitationOutcomeUnknown(last_error=error))
        raise
    now, emailed = run.clock(), invitation.send_message
    sent = changes.Invited.sent(result.user_id, sent_at=now, emailed=emailed, at=now)
    await run.ledger.update(email, sent)
    return await run.fan_out(outcome, result.user_id, {})  # the claim's row has no steps yet


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One delivery: what every branch reads, and what they do alike."""

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
    allow_members: bool
    sponsor_contact: str | None
    lifecycle: later.Lifecycle

    async def existing_user(self) -> DirectoryUser | None:
        """The one user the directory holds under the address, if any (``policy.onboardable``)."""
        matches = await self.directory.find_users(self.cmd.email)
        return onboardable(matches, allow_members=self.allow_members)

    async def defer(self, wait: float = 0.0, *, at_most: float | None = None) -> InviteOutcome:
        delay = rows.recheck_delay(wait, at_most=at_most)
        await self.outbox.requeue_invitation(self.raw_body, delay_seconds=delay)
        return InviteOutcome(outcome=Outcome.DEFERRED)

    async def write(
        self, replacing: LedgerEntry | None, *, user_id: str | None = None, reinvitations: int = 0
    ) -> bool:
        """A new row, claimed or naming ``user_id``; it replaces ``replacing`` if unchanged."""
        new = changes.new_row(
            self.cmd,
            now=self.clock(),
            sponsor_contact=self.sponsor_contact,
            claim_token=None if user_id else self.token,
            user_id=user_id,
            reinvitations=reinvitations,
            replacing=replacing,
        )
        if replacing is None:
            return await self.ledger.claim(new)
        return replacing.etag is not None and await self.ledger.take_over(new, etag=replacing.etag)

    async def fan_out(
        self, outcome: Outcome, user_id: str, done: Mapping[str, rows.StepStatus], more: int = 0
    ) -> InviteOutcome:
        """Queue the steps not done yet (``more``: queued already). A user who already existed
        gets their sponsors by steps (``ADD_SPONSORS_TO_EXISTING_USERS``); an invited guest got
        them with the invitation; the end date goes on the user too
        (``SET_EMPLOYEE_LEAVE_DATE``)."""
        link = self.link_sponsors and outcome not in (Outcome.INVITED, Outcome.REINVITED)
        ledger, outbox = self.ledger, self.outbox
        queued = await queue_steps(
            self.cmd, user_id, done, link_sponsors=link, ledger=ledger, outbox=outbox
        )
        if self.lifecycle.leave_dates:
            queued += await later.queue_leave_date(self.cmd, user_id, ledger=ledger, outbox=outbox)
        return InviteOutcome(outcome=outcome, steps_queued=queued + more)
