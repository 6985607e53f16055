"""A step's outcome written into its guest's row only while the decision it carried out still
stands: etag-checked, re-read when another delivery wrote the row meanwhile. Grants, removals
and account steps of one guest run concurrently and a mover's or a leaver's decision may come
between a step's read and its write: the step then learns what the row says now, and its
caller puts that right (a grant that landed after its removal was decided is removed too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus
from guest_onboarding.errors import LedgerContention
from guest_onboarding.ports import Ledger

#: Etag-checked attempts before giving up (the message is delivered again).
ATTEMPTS = 8


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """Whether the status was written, and the row as last read (None: the row is gone)."""

    written: bool
    row: LedgerEntry | None


async def record_step(
    ledger: Ledger,
    row: LedgerEntry,
    key: str,
    status: StepStatus,
    *,
    still: Callable[[LedgerEntry], bool],
    grant_id: str | None = None,
) -> Recorded:
    """Write ``status`` (and Graph's ``grant_id``) for ``key`` if ``still(row)`` holds for the
    row as it is at the write; otherwise write nothing and return the row that says why."""
    ids = {key: grant_id} if grant_id else {}
    current: LedgerEntry | None = row
    for _ in range(ATTEMPTS):
        if current is None or not still(current):
            return Recorded(written=False, row=current)
        change = StepsRecorded(steps={key: status}, grant_ids=ids)
        if await ledger.update(current.email, change, etag=current.etag):
            return Recorded(written=True, row=current)
        current = await ledger.get(current.email)
    raise LedgerContention("the guest's ledger row kept changing")


def step_is(key: str, *statuses: StepStatus) -> Callable[[LedgerEntry], bool]:
    """``still`` for "the row records one of ``statuses`` for ``key``"."""
    return lambda row: row.steps.get(key) in statuses
