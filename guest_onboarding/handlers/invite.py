"""invite_guest: one HR message. Invite only when no user has the address, exactly once whatever
the queue redelivers, then queue one assignment step per group and app role not yet done.

The ledger row decides; each state has its own branch:

- **no row** (or refused, removed, deleted, unconfirmed): look the address up; an existing
  user gets no email, anyone else is claimed (right before ``POST /invitations``) and invited;
- **onboarded**: the user is checked to still exist (a user missing moments after the
  invitation may not have replicated: the message waits); then only missing steps are queued;
- **expired**, **disabled**: a fresh invitation (a disabled guest is enabled first);
- **claimed by another delivery** (its lease not run out): the message comes back in a moment;
- **claimed by a crashed delivery**, or one whose ``POST /invitations`` ended in a 5xx or a
  timeout: the invitation may have gone out and may not be visible yet, so the address is looked
  up until the user shows up, for at most the replication wait, then an operator decides
  (``InvitationUnconfirmed``): never a second invitation.

A lost race for the row defers the message, as a held claim does. Sponsors are resolved before
anything is written or sent; every ``POST /invitations`` goes through the invitation gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from guest_onboarding.domain.changes import (
    ClaimReleased,
    InvitationOutcomeUnknown,
    InvitationRefused,
    InvitationUnconfirmed,
    Invited,
    history_line,
)
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.errors import (
    NeedsOperator,
    NotFound,
    Paused,
    PermanentDirectoryError,
    TransientDirectoryError,
)
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.handlers.invite_run import InviteOutcome, InviteRun
from guest_onboarding.handlers.sponsors import record_new_sponsors, resolve_sponsors
from guest_onboarding.ports import Directory, Ledger, Outbox

#: How long a claim keeps concurrent deliveries of the same guest waiting: longer than the worst
#: case of a token fetch, the Graph client's timeout (30 s) and the ledger writes around them.
CLAIM_LEASE = timedelta(seconds=120)
#: While waiting for a possibly invited user to replicate, look again this often.
REPLICATION_RECHECK_SECONDS = 15.0
#: Rows that keep naming their user while the user exists (an expired or disabled row is
#: brought back by a fresh invitation instead).
_KEEPS_ITS_USER = frozenset(
    {GuestStatus.INVITED, GuestStatus.EXISTING, GuestStatus.UNTRACKED, GuestStatus.REDEEMED}
)


async def invite_guest(
    cmd: InvitationCommand,
    *,
    token: str,
    raw_body: str,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    clock: Callable[[], datetime],
    replication_wait: timedelta,
    gate: InvitationGate,
    link_sponsors: bool = False,
) -> InviteOutcome:
    """Make sure the guest exists (inviting only when no user has the address) and queue one
    assignment step per group and app role not yet done. ``token`` identifies this delivery
    (the queue message id, which a redelivery keeps); ``raw_body`` is re-queued on deferral."""
    cmd, contact = await resolve_sponsors(cmd, directory)
    run = InviteRun(
        cmd=cmd,
        token=token,
        raw_body=raw_body,
        directory=directory,
        ledger=ledger,
        outbox=outbox,
        clock=clock,
        replication_wait=replication_wait,
        gate=gate,
        link_sponsors=link_sponsors,
        sponsor_contact=contact,
    )
    entry = await ledger.get(cmd.email)
    if entry is None:
        return await _onboard_afresh(run, None)
    if entry.status in _KEEPS_ITS_USER and entry.user_id:
        if await directory.get_user(entry.user_id) is None:
            since = entry.first_sent_at or entry.created_at
            if since is not None and clock() - since < replication_wait:
                # Invited moments ago: the directory may not show the user yet. Not gone.
                return await run.defer(at_most=REPLICATION_RECHECK_SECONDS)
            return await _onboard_afresh(run, entry)  # the user is gone: the row is stale
        await record_new_sponsors(run.ledger, entry, run.cmd.invitation, run.sponsor_contact)
        return await run.fan_out(Outcome.ALREADY_ONBOARDED, entry.user_id, entry.steps)
    if entry.status == GuestStatus.EXPIRED:
        return await _claim_and_invite(run, entry)
    if entry.status == GuestStatus.DISABLED and entry.user_id:
        return await _enable_and_invite(run, entry, entry.user_id)
    if entry.status == GuestStatus.INVITING:
        lease_left = _lease_left(entry, token=token, now=clock())
        if lease_left > 0:
            return await run.defer(lease_left)
        return await _recover_claim(run, entry)
    return await _onboard_afresh(run, entry)


def _lease_left(entry: LedgerEntry, *, token: str, now: datetime) -> float:
    """Seconds another delivery's claim still holds the row (0 if it is ours or ran out)."""
    if entry.claim_token in (None, token) or entry.claimed_at is None:
        return 0.0
    return max(0.0, (entry.claimed_at + CLAIM_LEASE - now).total_seconds())


async def _onboard_afresh(run: InviteRun, entry: LedgerEntry | None) -> InviteOutcome:
    """Look the address up: an existing user gets no email, anyone else an invitation."""
    user = await run.directory.find_user(run.cmd.email)
    if user is None:
        return await _claim_and_invite(run, entry)
    if not await run.write(run.fresh_row(user_id=user.id), entry):
        return await run.defer()  # a concurrent delivery wrote the row first
    return await run.fan_out(Outcome.EXISTING, user.id, {})


async def _enable_and_invite(run: InviteRun, entry: LedgerEntry, user_id: str) -> InviteOutcome:
    """A disabled guest comes back: sign-in allowed again, then a fresh invitation. If that
    invitation does not happen (refused, paused), they are disabled again and the row restored,
    so nobody is left enabled without an invitation (the sweep would never look again)."""
    await run.gate.ensure_open(run.clock())  # a tenant-wide stop: wait, nothing to undo
    try:
        await run.directory.set_account_enabled(user_id, enabled=True)
    except NotFound:
        return await _onboard_afresh(run, entry)
    try:
        return await _claim_and_invite(run, entry)
    except (Paused, PermanentDirectoryError):
        await run.directory.set_account_enabled(user_id, enabled=False)
        current = await run.ledger.get(run.cmd.email)
        if current is not None and current.etag is not None:
            line = history_line(GuestStatus.DISABLED, run.clock())
            restored = dataclasses.replace(entry, history=(*current.history, line))
            await run.ledger.take_over(restored, etag=current.etag)
        raise


async def _claim_and_invite(run: InviteRun, entry: LedgerEntry | None) -> InviteOutcome:
    await run.gate.ensure_open(run.clock())  # a tenant-wide stop: wait before claiming
    if not await run.write(run.fresh_row(), entry):
        return await run.defer()
    return await _send_invitation(run)


async def _recover_claim(run: InviteRun, entry: LedgerEntry) -> InviteOutcome:
    """The claim's holder stopped: did its invitation go out?"""
    if entry.claimed_at is None:  # released: Graph did nothing
        return await _claim_and_invite(run, entry)
    user = await run.directory.find_user(run.cmd.email)
    if user is not None:  # it did, when the row was claimed
        sent = entry.claimed_at if run.cmd.invitation.send_message else None
        recovered = Invited(
            user_id=user.id,
            first_sent_at=entry.claimed_at,
            last_sent_at=sent,
            send_count=1 if sent else 0,
            at=run.clock(),
        )
        if not await run.ledger.update(run.cmd.email, recovered, etag=entry.etag):
            return await run.defer()
        return await run.fan_out(Outcome.INVITED, user.id, entry.steps)
    waited = run.clock() - entry.claimed_at
    if waited < run.replication_wait:
        # Maybe sent and not replicated yet: look again later rather than risk a second email.
        left = (run.replication_wait - waited).total_seconds()
        return await run.defer(left, at_most=REPLICATION_RECHECK_SECONDS)
    reason = (
        f"an invitation may have been sent at {entry.claimed_at:%Y-%m-%d %H:%M:%S}Z, but no user "
        f"has the address after {run.replication_wait.total_seconds():.0f} s; check the guest's "
        "mailbox or the audit log, then replay this message to invite afresh"
    )
    await run.ledger.update(run.cmd.email, InvitationUnconfirmed(last_error=reason, at=run.clock()))
    raise NeedsOperator("InvitationUnconfirmed", reason)


async def _send_invitation(run: InviteRun) -> InviteOutcome:
    """POST /invitations under a claim this delivery holds, then record it and fan out."""
    email, invitation = run.cmd.email, run.cmd.invitation
    try:
        result = await run.gate.invite(email, invitation, now=run.clock())
    except Paused:
        # Graph did nothing: release the claim so the re-queued copy may take it.
        await run.ledger.update(email, ClaimReleased())
        raise
    except PermanentDirectoryError as exc:
        refused = InvitationRefused(last_error=f"{exc.code}: {exc.message}", at=run.clock())
        await run.ledger.update(email, refused)
        raise
    except TransientDirectoryError as exc:
        # A 5xx or a timeout after the request went out: it may have been applied.
        error = f"{exc.code}: {exc.message}"
        await run.ledger.update(email, InvitationOutcomeUnknown(last_error=error))
        raise
    now = run.clock()
    sent = now if invitation.send_message else None
    await run.ledger.update(
        email,
        Invited(
            user_id=result.user_id,
            first_sent_at=now,
            last_sent_at=sent,
            send_count=1 if sent else 0,
            at=now,
        ),
    )
    # The claim replaced the whole row, so no step has a status yet.
    return await run.fan_out(Outcome.INVITED, result.user_id, {})
