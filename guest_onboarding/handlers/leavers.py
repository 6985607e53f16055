"""sweep_leavers: the timer's part for leavers, after the reminder sweep. Guests whose access
ends today (``accessEndsOn``) are offboarded through the same use case as HR's leavers, brake
included (:mod:`.offboard`); offboarded guests whose ``OFFBOARD_ACTION`` deletes them are
deleted, disable before delete, within the per-run bound."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

from guest_onboarding.domain import offboarding
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.domain.changes import Deleted
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.domain.offboarding import Offboarded
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.errors import NotFound, logged_error
from guest_onboarding.handlers.offboard import Offboarding, offboard_guest
from guest_onboarding.handlers.sweep import SweepSettings, SweepSummary
from guest_onboarding.ports import Directory, Ledger

log = logging.getLogger("guest_onboarding")


async def delete_offboarded(
    row: LedgerEntry, *, directory: Directory, ledger: Ledger, now: datetime
) -> bool:
    """Delete an offboarded account whose ``OFFBOARD_ACTION`` deletes it (the sweep checked
    ``domain.offboarding.deletion_due`` and its per-run bound). The decision is recorded first,
    etag-checked against the row as read (an HR message that brought the guest back meanwhile
    wins); if Graph fails, the row goes back to ``offboarded``. True when this call deleted it.
    Deleted users stay restorable for 30 days (``POST /directory/deletedItems/{id}/restore``)."""
    if row.user_id is None:
        return False
    if not await ledger.update(row.email, Deleted(deleted_at=now, at=now), etag=row.etag):
        return False
    try:
        await directory.delete_user(row.user_id)
    except NotFound:
        pass  # gone already: the ledger says so now
    except Exception:
        since = row.offboarded_at or now
        back = Offboarded(offboarded_at=since, disabled_at=row.disabled_at, at=now)
        await ledger.update(row.email, back)
        raise
    return True


@dataclass(kw_only=True)
class LeaversSwept:
    """What the sweep did to leavers: end dates offboarded or held, offboarded guests deleted
    (or left for the next sweep by the bound), and each end date's outcome (telemetry)."""

    offboarded: int = 0
    held: int = 0
    deleted: int = 0
    skipped_deletions: int = 0
    errors: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counts, named for the sweep's log line (``leavers_*``)."""
        return {f"leavers_{k}": v for k, v in self.__dict__.items() if isinstance(v, int)}


async def sweep_leavers(
    run: Offboarding, *, settings: SweepSettings, after: SweepSummary
) -> LeaversSwept:
    """The timer's part for leavers, after the reminder sweep (``after``): every guest whose
    access ends today is offboarded (through the brake; one held already waits for an operator
    and is not asked again), then offboarded guests are deleted as their action says, within
    what is left of ``MAX_DELETIONS_PER_RUN`` (shared with expired guests' disables and
    deletions). One failing guest is counted and logged, and never stops the rest."""
    swept = LeaversSwept()
    now = run.clock()
    delete_grace_days = settings.delete_grace_days
    deletions = settings.max_removals_per_run - after.disabled - after.deleted

    async def guard(email: str, part: Awaitable[None]) -> None:
        try:
            await part
        except Exception as exc:  # the code and type only: its text can quote an address
            swept.errors += 1
            who = mask_address(email)
            log.error("sweep: leaver %s failed: %s", who, json.dumps(logged_error(exc)))

    async def end_access(row: LedgerEntry) -> None:
        if row.offboard_held_at is not None:
            swept.held += 1
            return
        done = await offboard_guest(row.email, run=run)
        swept.outcomes.append(done.outcome)
        if done.outcome == Outcome.OFFBOARDING:
            swept.offboarded += 1
        elif done.outcome in (Outcome.BRAKE_ENGAGED, Outcome.HELD):
            swept.held += 1

    async def delete(row: LedgerEntry) -> None:
        if not offboarding.deletion_due(row, now=now, delete_grace_days=delete_grace_days):
            return
        if swept.deleted >= deletions:
            swept.skipped_deletions += 1
            return
        if await delete_offboarded(row, directory=run.directory, ledger=run.ledger, now=now):
            swept.deleted += 1

    async for entry in run.ledger.ending_entries(on_or_before=now.date()):
        await guard(entry.email, end_access(entry))
    async for entry in run.ledger.entries(statuses=frozenset({GuestStatus.OFFBOARDED})):
        await guard(entry.email, delete(entry))
    return swept
