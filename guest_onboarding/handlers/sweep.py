"""sweep_reminders: the timer's pass over pending guests. Schedules due reminders, expires guests
pending too long (then disables or deletes them as ``EXPIRED_GUEST_ACTION`` says), marks
redeemed and removed guests, adopts untracked pending guests (``RESEND_UNTRACKED``) and retires
old finished rows.

Memory stays flat in the number of guests: three streams, and between them only two sets of
64-bit hashes (the tracked addresses, then the pending ones), a few megabytes at 100,000.

1. the ledger's tracked rows -> the set of their addresses' hashes;
2. the directory's pending guests, page by page -> the set of (address, user id) hashes; an
   untracked one is adopted on the spot;
3. the tracked rows again, each decided with the row in hand (its etag guards every write):
   pending ones get reminders, expiry and removal; the others have redeemed or are gone.

One failing guest never stops the sweep; a second sweep at the same instant schedules nothing
twice (etag-checked ledger writes).
"""

from __future__ import annotations

import logging
from datetime import datetime

from guest_onboarding.domain.addresses import mask_address, normalize_address
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.handlers import lifecycle
from guest_onboarding.handlers.lifecycle import SweepPolicy, SweepRun, SweepSummary
from guest_onboarding.handlers.retention import forget_finished_guests
from guest_onboarding.ports import Directory, Ledger, Outbox

log = logging.getLogger("guest_onboarding")

__all__ = ["SweepPolicy", "SweepSummary", "sweep_reminders"]


async def sweep_reminders(
    *,
    policy: SweepPolicy,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> SweepSummary:
    """One sweep (see the module docstring)."""
    run = SweepRun(policy=policy, directory=directory, ledger=ledger, outbox=outbox, now=now)
    summary = run.summary
    tracked = {hash(entry.email) async for entry in ledger.tracked_entries()}
    pending: set[int] = set()
    async for guest in directory.pending_guests():
        summary.scanned += 1
        if not guest.mail:
            continue
        email = normalize_address(guest.mail)
        # A row and a pending guest meet only on the same address AND the same user: a guest
        # re-invited by someone else under a new object id is not the row's user.
        pending.add(hash((email, guest.id.lower())))
        if hash(email) in tracked or not policy.resend_untracked:
            continue
        try:
            await lifecycle.adopt(run, email, guest.id, None)
        except Exception:
            summary.errors += 1
            log.exception("sweep: guest %s failed", mask_address(email))
    del tracked
    async for entry in ledger.tracked_entries():
        try:
            if hash((entry.email, (entry.user_id or "").lower())) in pending:
                await lifecycle.still_pending(run, entry)
            elif entry.user_id and entry.status != GuestStatus.EXISTING:
                await lifecycle.no_longer_pending(run, entry)
        except Exception:
            summary.errors += 1
            log.exception("sweep: guest %s failed", mask_address(entry.email))
    try:
        summary.retired = await forget_finished_guests(
            ledger=ledger, now=now, retention_days=policy.retention_days
        )
    except Exception:
        summary.errors += 1
        log.exception("sweep: retiring finished rows failed")
    return summary
