"""The record the Graph pacer keeps its schedules in: shared by every instance when it can be,
per process when it cannot.

:class:`BudgetStore` is the port (``adapters/storage/budget`` keeps it in a Table).
:class:`SharedRecord` puts the store behind a deadline: when the shared record fails or is slow,
pacing goes on in memory, from the last state this process saw, and says so once in the log; the
shared record is tried again after ``RETRY_SHARED_SECONDS``. An instance falling back starts at
the pace it was actually sending at (its share of the budget), not the whole budget: the other
instances are probably falling back at the same moment, and together they would send several
times the budget. The rate then learns per process, from Graph's 429s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from guest_onboarding.errors import logged_error

log = logging.getLogger("guest_onboarding.graph_budget")

Result = TypeVar("Result")
Record = Mapping[str, float]
Change = Callable[[Record | None], tuple[dict[str, float], Result]]

#: How long one round trip to the shared record may take before pacing goes per process.
STORE_TIMEOUT_SECONDS = 5.0
#: After the shared record failed, pace per process this long before trying it again.
RETRY_SHARED_SECONDS = 15.0
#: Falling back, an instance starts at its recent pace times this (room to grow into).
FALLBACK_HEADROOM = 1.25


class BudgetStore(Protocol):
    """One record per bucket, changed atomically: ``change`` gets the current record (None if
    there is none) and returns the new one and a result. It may run more than once (lost etag
    races) and must not have side effects."""

    async def update(self, bucket: str, change: Change[Result]) -> Result: ...

    def forget(self) -> None:
        """Drop any view of the records kept from earlier round trips (after a failure, the
        next update must reach the store to count as its answer)."""
        ...

    async def close(self) -> None: ...


class MemoryBudgetStore:
    """The record in this process only: per-process pacing (and the fallback)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, float]] = {}

    async def update(self, bucket: str, change: Change[Result]) -> Result:
        record, result = change(self.records.get(bucket))
        self.records[bucket] = record
        return result

    def forget(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SharedRecord:
    """The shared store with its per-process fallback: one log line per outage."""

    def __init__(
        self, store: BudgetStore | None, clock: Callable[[], float], timeout: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._timeout = timeout
        self._local = MemoryBudgetStore()
        self._retry_at = 0.0
        self._seeded: set[str] = set()
        self.degraded = False

    @property
    def shared(self) -> bool:
        """True while the shared store answers (False without one, or during an outage)."""
        return self._store is not None and not self.degraded

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    async def update(
        self, bucket: str, change: Change[Result], *, own_rate: float | None = None
    ) -> Result:
        """Apply ``change`` to the bucket's record: the shared one if it answers in time, else
        this process's (starting at ``own_rate``, this process's recent calls per second)."""
        last: list[dict[str, float]] = []

        def remembered(record: Record | None) -> tuple[dict[str, float], Result]:
            new, result = change(record)
            last[:] = [new]
            return new, result

        if self._store is not None and self._clock() >= self._retry_at:
            try:
                result = await asyncio.wait_for(
                    self._store.update(bucket, remembered), self._timeout
                )
            except Exception as exc:  # any failure of the shared record: pace per process
                self._fall_back(exc)
            else:
                if self.degraded:
                    self.degraded = False
                    log.warning("shared Graph budget answers again: pacing is shared again")
                self._local.records[bucket] = last[0]
                self._seeded.discard(bucket)
                return result
        if self._store is not None and bucket not in self._seeded:
            self._seeded.add(bucket)
            self._seed_own_share(bucket, own_rate)
        return await self._local.update(bucket, change)

    def _seed_own_share(self, bucket: str, own_rate: float | None) -> None:
        record = self._local.records.get(bucket)
        if record is None or not own_rate or "rate" not in record:
            return  # nothing seen yet: start at the configured rate
        rate = min(record["rate"], own_rate * FALLBACK_HEADROOM)
        # The rate creeps up from here, from now on (not from the last shared change).
        self._local.records[bucket] = {**record, "rate": rate, "increased_at": self._clock()}

    def _fall_back(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + RETRY_SHARED_SECONDS
        if self._store is not None:
            self._store.forget()
        if not self.degraded:
            self.degraded = True
            log.warning(
                "shared Graph budget unavailable (%s); pacing Graph calls per process, and "
                "trying the shared record again every %.0f s",
                json.dumps(logged_error(exc)),  # never its text
                RETRY_SHARED_SECONDS,
            )
