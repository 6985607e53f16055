"""``GraphPacer``: what ``GraphClient.send`` asks before every Graph call, and tells after a 429.

Each kind of call has its bucket (``pacing``): reads (look-ups, the sweep's listing), writes
(every POST, PATCH and DELETE) and invitations (``POST /invitations``, first invitations and
reminders alike, which take a write slot too). A bucket claims slots from the shared record for
the calls waiting in this process (one claim at a time, for all of them) and sleeps each call
until its slot. A caller that would wait longer than the bucket allows, and every caller while
the bucket is paused after a 429, gets :class:`Throttled` instead: the retry policy puts the
message back on its queue, as a 429 would, and no Graph call is spent.

The shared record is a port (:class:`BudgetStore`); ``adapters/storage/budget`` keeps it in a
Table. When it fails or is slow, pacing goes on per process (an in-memory record, from the last
state seen) and says so once in the log; the shared record is tried again a little later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Protocol, TypeVar

from guest_onboarding.adapters.graph.pacing import BucketPolicy, Grant, claim, throttled
from guest_onboarding.errors import Throttled

log = logging.getLogger("guest_onboarding.graph_budget")

Result = TypeVar("Result")
Record = Mapping[str, float]
Change = Callable[[Record | None], tuple[dict[str, float], Result]]

#: How long one round trip to the shared record may take before pacing goes per process.
STORE_TIMEOUT_SECONDS = 2.0
#: After the shared record failed, pace per process this long before trying it again.
RETRY_SHARED_SECONDS = 30.0
#: A granted slot unused this long after its time is dropped (sending it late would burst).
STALE_SLOT_SECONDS = 0.5
#: Claims reach this far ahead, and take at most this many seconds' worth of slots.
HORIZON_SECONDS = 0.5
BATCH_SECONDS = 0.25
#: A read or write waits at most this long for its slot, then the message goes back to its queue.
MAX_WAIT_SECONDS = 30.0
#: An invitation waits at most this long: the invitations bucket is slow on purpose, and a
#: refused invitation comes back when its place in line is due.
INVITATION_HORIZON_SECONDS = 2.0


class CallKind(StrEnum):
    READ = "reads"
    WRITE = "writes"
    INVITATION = "invitations"


def call_kind(method: str, url: str) -> CallKind:
    """The bucket of a Graph call: GETs read, ``POST .../invitations`` invites, the rest write."""
    method = method.upper()
    if method in {"GET", "HEAD"}:
        return CallKind.READ
    if method == "POST" and url.split("?", 1)[0].rstrip("/").endswith("/invitations"):
        return CallKind.INVITATION
    return CallKind.WRITE


class BudgetStore(Protocol):
    """One record per bucket, changed atomically: ``change`` gets the current record (None if
    there is none) and returns the new one and a result. It may run more than once (lost etag
    races) and must not have side effects."""

    async def update(self, bucket: str, change: Change[Result]) -> Result: ...

    async def close(self) -> None: ...


class MemoryBudgetStore:
    """The record in this process only: per-process pacing (and the fallback)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, float]] = {}

    async def update(self, bucket: str, change: Change[Result]) -> Result:
        record, result = change(self.records.get(bucket))
        self.records[bucket] = record
        return result

    async def close(self) -> None:
        return None


def policies(
    *, writes_per_second: float, reads_per_second: float, invitations_per_minute: float
) -> dict[CallKind, BucketPolicy]:
    """The three buckets at the configured rates."""

    def paced(kind: CallKind, rate: float) -> BucketPolicy:
        batch = max(1, round(rate * BATCH_SECONDS))
        return BucketPolicy(name=kind.value, rate=rate, horizon=HORIZON_SECONDS, batch=batch)

    return {
        CallKind.WRITE: paced(CallKind.WRITE, writes_per_second),
        CallKind.READ: paced(CallKind.READ, reads_per_second),
        CallKind.INVITATION: BucketPolicy(
            name=CallKind.INVITATION.value,
            rate=invitations_per_minute / 60.0,
            horizon=INVITATION_HORIZON_SECONDS,
            batch=1,
            adaptive=False,
            ticketed=True,
        ),
    }


class _SharedRecord:
    """The shared store with its fallback: one log line per outage, for every bucket."""

    def __init__(
        self, store: BudgetStore | None, clock: Callable[[], float], timeout: float
    ) -> None:
        self._store = store
        self._clock = clock
        self._timeout = timeout
        self._local = MemoryBudgetStore()
        self._retry_at = 0.0
        self.degraded = False

    @property
    def shared(self) -> bool:
        return self._store is not None and not self.degraded

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    async def update(self, bucket: str, change: Change[Result]) -> Result:
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
                return result
        return await self._local.update(bucket, change)

    def _fall_back(self, exc: BaseException) -> None:
        self._retry_at = self._clock() + RETRY_SHARED_SECONDS
        if not self.degraded:
            self.degraded = True
            log.warning(
                "shared Graph budget unavailable (%s); pacing Graph calls per process, and "
                "trying the shared record again every %.0f s",
                type(exc).__name__ if isinstance(exc, TimeoutError) else repr(exc),
                RETRY_SHARED_SECONDS,
            )


class _Bucket:
    """This process's side of one bucket: the slots it holds and the callers waiting."""

    def __init__(
        self,
        policy: BucketPolicy,
        record: _SharedRecord,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        max_wait: float,
    ) -> None:
        self.policy = policy
        self._record = record
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._slots: deque[float] = deque()
        self._waiting = 0
        self._claiming: asyncio.Future[Grant] | None = None
        self.paused_until = 0.0

    async def acquire(self) -> None:
        """Wait for this call's slot, or raise :class:`Throttled`."""
        deadline = self._clock() + self._max_wait
        while True:
            now = self._clock()
            if self.paused_until > now:
                raise _paused(self.policy, self.paused_until - now)
            while self._slots and self._slots[0] < now - STALE_SLOT_SECONDS:
                self._slots.popleft()
            if self._slots:
                slot = self._slots.popleft()
                if slot > now:
                    await self._sleep(slot - now)
                return
            grant = await self._claim()
            now = self._clock()
            if grant.slots or grant.paused_until > now:
                continue  # take a slot (or meet the pause) at the top
            if grant.retry_after is not None:
                raise _in_line(self.policy, grant.retry_after)
            wake = grant.next_free - self.policy.horizon
            wake += random.uniform(0, self.policy.horizon / 2)  # instances out of step
            if wake >= deadline:
                raise Throttled(
                    f"Graph {self.policy.name} are booked beyond {self._max_wait:.0f} s",
                    retry_after=max(1.0, grant.next_free - now),
                    code="GraphBudgetFull",
                )
            await self._sleep(max(0.01, wake - now))

    async def _claim(self) -> Grant:
        """One claim for every caller waiting now (a ticketed bucket claims per caller)."""
        if self.policy.ticketed:
            return await self._claim_now(1)
        self._waiting += 1
        try:
            if self._claiming is None:
                self._claiming = asyncio.ensure_future(self._claim_for_waiters())
            return await asyncio.shield(self._claiming)
        finally:
            self._waiting -= 1

    async def _claim_for_waiters(self) -> Grant:
        try:
            await asyncio.sleep(0)  # let the callers arriving together join this claim
            return await self._claim_now(self._waiting)
        finally:
            self._claiming = None

    async def _claim_now(self, want: int) -> Grant:
        policy = self.policy

        def change(record: Record | None) -> tuple[dict[str, float], Grant]:
            state, grant = claim(record, policy, self._clock(), want)
            return state.to_record(), grant

        grant = await self._record.update(policy.name, change)
        self._slots.extend(grant.slots)
        self.paused_until = max(self.paused_until, grant.paused_until)
        return grant

    async def report_throttled(self, retry_after: float) -> None:
        policy = self.policy
        now = self._clock()
        self.paused_until = max(self.paused_until, now + retry_after)
        self._slots.clear()  # slots from before the pause

        def change(record: Record | None) -> tuple[dict[str, float], None]:
            return throttled(record, policy, self._clock(), retry_after).to_record(), None

        await self._record.update(policy.name, change)


def _paused(policy: BucketPolicy, left: float) -> Throttled:
    return Throttled(
        f"held back: Graph throttled this app's {policy.name} moments ago",
        retry_after=left,
        code="TooManyRequests",
        status=429,
    )


def _in_line(policy: BucketPolicy, retry_after: float) -> Throttled:
    per_minute = policy.rate * 60
    return Throttled(
        f"invitations are paced at {per_minute:g} per minute (INVITATIONS_PER_MINUTE); "
        f"this one's turn comes in {retry_after:.0f} s",
        retry_after=retry_after,
        code="InvitationsPaced",
    )


class GraphPacer:
    """Paces every Graph call of this process against the budget all instances share."""

    def __init__(
        self,
        buckets: Mapping[CallKind, BucketPolicy],
        *,
        store: BudgetStore | None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        store_timeout: float = STORE_TIMEOUT_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._record = _SharedRecord(store, clock, store_timeout)
        self._buckets = {
            kind: _Bucket(policy, self._record, clock=clock, sleep=sleep, max_wait=max_wait)
            for kind, policy in buckets.items()
        }

    @property
    def shared(self) -> bool:
        """False while pacing per process (no shared record, or it failed)."""
        return self._record.shared

    async def before(self, kind: CallKind) -> None:
        """Wait for the call's slot (an invitation needs a write slot and an invitation slot),
        or raise :class:`Throttled` so the message waits on its queue instead."""
        if kind is CallKind.INVITATION:
            # The write slot first: write slots are plentiful, invitation slots are not.
            await self._buckets[CallKind.WRITE].acquire()
        await self._buckets[kind].acquire()

    async def throttled(self, kind: CallKind, retry_after: float) -> None:
        """Graph answered 429: pause the bucket for every instance and lower its rate."""
        bucket = CallKind.WRITE if kind is CallKind.INVITATION else kind
        await self._buckets[bucket].report_throttled(retry_after)

    async def aclose(self) -> None:
        """Close the shared record's client (end of process or of a test)."""
        await self._record.close()
