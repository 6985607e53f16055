"""``GraphPacer``: what ``GraphClient.send`` asks before every Graph call, and tells after a 429.

Each kind of call has its bucket (``pacing``): reads (look-ups, the sweep's listing), writes
(every POST, PATCH and DELETE) and invitations (``POST /invitations``, first invitations and
reminders alike, which take a write slot too). A bucket claims slots from the shared record
(``budget_record``) for the calls waiting in this process (one claim at a time, for all of them)
and sleeps each call until its slot; a pause after a 429, whichever instance met it, is waited
out the same way. A caller that would wait longer than ``max_wait`` gets :class:`Throttled`
instead: the retry rules put the message back on its queue, as a 429 would, and no Graph call
is spent. Invitations never wait for long: one whose slot is further off than the horizon gets
a place in line (:mod:`.line`), kept in the shared record under the invitation's key, and its
message comes back shortly before the place's time.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum

from guest_onboarding.adapters.graph.budget_record import (
    RETRY_SHARED_SECONDS,
    STORE_TIMEOUT_SECONDS,
    BudgetStore,
    Record,
    SharedRecord,
)
from guest_onboarding.adapters.graph.line import place_key
from guest_onboarding.adapters.graph.line_bucket import LineBucket
from guest_onboarding.adapters.graph.pacing import (
    BucketRules,
    Grant,
    claim,
    paused_error,
    throttled,
)
from guest_onboarding.errors import Throttled

#: A bucket's own pace (for the fallback) is measured over this many seconds.
OWN_RATE_WINDOW_SECONDS = 10.0
#: A granted slot unused this long after its time is dropped (sending it late would burst).
STALE_SLOT_SECONDS = 0.5
#: Claims reach this far ahead, and take at most this many seconds' worth of slots.
HORIZON_SECONDS = 1.0
BATCH_SECONDS = 0.25
#: A read or write waits at most this long for its slot, then the message goes back to its queue.
MAX_WAIT_SECONDS = 30.0
#: An invitation waits in the function at most this long for its slot: the invitations bucket
#: is slow on purpose, and an invitation whose slot is further off keeps a place in line.
INVITATION_HORIZON_SECONDS = 5.0


class CallKind(StrEnum):
    READ = "reads"
    WRITE = "writes"
    INVITATION = "invitations"


def call_kind(method: str, url: str) -> CallKind:
    """The bucket of a Graph call: GETs read, ``POST .../invitations`` invites, the rest write."""
    method = method.upper()
    if method in {"GET", "HEAD"}:
        return CallKind.READ
    # A URL, or an SDK template whose query part is a "{?...}" expression.
    path = url.split("{?", 1)[0].split("?", 1)[0].rstrip("/")
    if method == "POST" and path.endswith("/invitations"):
        return CallKind.INVITATION
    return CallKind.WRITE


def bucket_rules(
    *, writes_per_second: float, reads_per_second: float, invitations_per_minute: float
) -> dict[CallKind, BucketRules]:
    """The three buckets at the configured rates."""

    def paced(kind: CallKind, rate: float) -> BucketRules:
        batch = max(1, round(rate * BATCH_SECONDS))
        return BucketRules(name=kind.value, rate=rate, horizon=HORIZON_SECONDS, batch=batch)

    return {
        CallKind.WRITE: paced(CallKind.WRITE, writes_per_second),
        CallKind.READ: paced(CallKind.READ, reads_per_second),
        CallKind.INVITATION: BucketRules(
            name=CallKind.INVITATION.value,
            rate=invitations_per_minute / 60.0,
            horizon=INVITATION_HORIZON_SECONDS,
            # every slot within the horizon: a caller that fits need not leave its function
            batch=max(1, math.ceil(invitations_per_minute / 60.0 * INVITATION_HORIZON_SECONDS)),
            adaptive=False,
            ticketed=True,
            shared_only=True,
        ),
    }


class _Bucket:
    """This process's side of one bucket: the slots it holds and the callers waiting."""

    def __init__(
        self,
        rules: BucketRules,
        record: SharedRecord,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        max_wait: float,
    ) -> None:
        self.rules = rules
        self._record = record
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._slots: deque[float] = deque()
        self._waiting = 0
        self._claiming: asyncio.Future[Grant] | None = None
        self._taken: deque[float] = deque()  # when this process's recent calls went out
        self.paused_until = 0.0

    async def acquire(self) -> None:
        """Wait for this call's slot, or raise :class:`Throttled`."""
        deadline = self._clock() + self._max_wait
        while True:
            now = self._clock()
            if self.paused_until > now:
                if self.paused_until >= deadline:
                    raise paused_error(self.rules, self.paused_until - now)
                # Wait the pause out (spread over a moment: everyone wakes up at its end).
                await self._sleep(self.paused_until - now + random.uniform(0, 0.2))
                continue
            while self._slots and self._slots[0] < now - STALE_SLOT_SECONDS:
                self._slots.popleft()
            if self._slots:
                slot = self._slots.popleft()
                self._note_taken(slot)
                if slot > now:
                    await self._sleep(slot - now)
                return
            grant = await self._claim()
            now = self._clock()
            if grant.slots or grant.paused_until > now:
                continue  # take a slot (or meet the pause) at the top
            # Booked up to the horizon (the claim already waited for room, for everyone).
            if now >= deadline or grant.next_free - self.rules.horizon >= deadline:
                raise Throttled(
                    f"Graph {self.rules.name} are booked beyond {self._max_wait:.0f} s",
                    retry_after=max(1.0, grant.next_free - now),
                    code="GraphBudgetFull",
                )

    async def _claim(self) -> Grant:
        """One claim for every caller waiting now."""
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
            # As many slots as callers wait, or as this process used in the last batch's
            # worth of time (callers one after another then share a claim too).
            want = max(self._waiting, math.ceil((self._own_rate() or 0.0) * BATCH_SECONDS))
            grant = await self._claim_now(want)
            now = self._clock()
            if not grant.slots and grant.paused_until <= now:
                # Booked up to the horizon: ask again, for every caller here, once about a
                # batch fits (a moment of our own: the other instances wait for room too), and
                # before the schedule would run idle.
                fits = grant.next_free - self.rules.horizon
                batch = min(grant.next_free, fits + self.rules.batch / grant.rate)
                wake = random.uniform(fits + (batch - fits) / 2, batch)
                if wake - now <= self._max_wait:
                    await self._sleep(max(0.01, wake - now))
            return grant
        finally:
            self._claiming = None

    async def _claim_now(self, want: int) -> Grant:
        rules = self.rules

        def change(record: Record | None) -> tuple[dict[str, float], Grant]:
            state, grant = claim(record, rules, self._clock(), want)
            return state.to_record(), grant

        grant = await self._record.update(rules.name, change, own_rate=self._own_rate())
        if rules.shared_only and self._record.degraded:
            # Per process, N instances would send N times the pace, and Entra answers a burst
            # of invitations with a block only Microsoft support lifts: wait for the record.
            raise Throttled(
                f"Graph {rules.name} wait for the shared Graph budget, which is unavailable",
                retry_after=RETRY_SHARED_SECONDS,
                code="GraphBudgetUnavailable",
            )
        self._slots.extend(grant.slots)
        self.paused_until = max(self.paused_until, grant.paused_until)
        return grant

    async def report_throttled(self, retry_after: float) -> None:
        rules = self.rules
        now = self._clock()
        self.paused_until = max(self.paused_until, now + retry_after)
        self._slots.clear()  # slots from before the pause

        def change(record: Record | None) -> tuple[dict[str, float], None]:
            return throttled(record, rules, self._clock(), retry_after).to_record(), None

        await self._record.update(rules.name, change, own_rate=self._own_rate())

    def _note_taken(self, slot: float) -> None:
        self._taken.append(slot)
        while self._taken and self._taken[0] < slot - OWN_RATE_WINDOW_SECONDS:
            self._taken.popleft()

    def _own_rate(self) -> float | None:
        """Calls per second this process sent lately (None before it sent any)."""
        if not self._taken:
            return None
        span = max(1.0, self._clock() - self._taken[0])
        return len(self._taken) / min(span, OWN_RATE_WINDOW_SECONDS)


class GraphPacer:
    """Paces every Graph call of this process against the budget all instances share."""

    def __init__(
        self,
        buckets: Mapping[CallKind, BucketRules],
        *,
        store: BudgetStore | None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        store_timeout: float = STORE_TIMEOUT_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self._record = SharedRecord(store, clock, store_timeout)
        self._buckets = {
            kind: _Bucket(rules, self._record, clock=clock, sleep=sleep, max_wait=max_wait)
            for kind, rules in buckets.items()
            if not rules.ticketed
        }
        self._lines = {
            kind: LineBucket(rules, self._record, clock=clock, sleep=sleep)
            for kind, rules in buckets.items()
            if rules.ticketed
        }

    @property
    def shared(self) -> bool:
        """False while pacing per process (no shared record, or it failed)."""
        return self._record.shared

    async def before(self, kind: CallKind, *, turn: str | None = None) -> None:
        """Wait for the call's slot (an invitation needs a write slot and an invitation slot),
        or raise :class:`Throttled` so the message waits on its queue instead. ``turn`` names
        an invitation in the line (the guest's canonical address): its re-queued message finds
        its place again by it. Without one, the place cannot be found again and goes unused."""
        if kind is CallKind.INVITATION:
            # The write slot first: write slots are plentiful, invitation slots are not.
            await self._buckets[CallKind.WRITE].acquire()
        line = self._lines.get(kind)
        if line is not None:
            await line.acquire(place_key(turn if turn is not None else uuid.uuid4().hex))
            return
        await self._buckets[kind].acquire()

    async def throttled(self, kind: CallKind, retry_after: float) -> None:
        """Graph answered 429: pause the bucket for every instance and lower its rate."""
        bucket = CallKind.WRITE if kind is CallKind.INVITATION else kind
        await self._buckets[bucket].report_throttled(retry_after)

    async def aclose(self) -> None:
        """Close the shared record's client (end of process or of a test)."""
        await self._record.close()
