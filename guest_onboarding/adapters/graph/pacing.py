"""The Graph budget's arithmetic: one schedule of send slots per kind of call, which every
instance of the app draws from, and the rate it learns.

Graph throttles per app and tenant, however many instances call it, so the instances share one
schedule per bucket (writes, reads, invitations) in a small record (``adapters/storage/budget``).
The record is a GCRA schedule ("generic cell rate algorithm"): ``next_slot`` is the earliest
time the next call may go out, and a claim of *n* slots moves it on by *n* / ``rate``. Whoever
claims gets slots no one else has, whichever instance it runs in, so together they never send
faster than ``rate``. A 429 writes its Retry-After into the same record (``paused_until``), so
every instance sees the pause at its next claim, and claims never reach more than ``horizon``
seconds ahead: nobody holds slots from before the pause for longer than that.

The rate learns (additive increase, multiplicative decrease): it starts at the configured rate,
drops to ``DECREASE_FACTOR`` of itself on a 429 (once per throttling event, however many calls
met it), and creeps back up by ``INCREASE_PER_SECOND`` of the configured rate per second without
a 429, never above the configured rate (Graph's documented average: going over it only earns
429s). Invitations keep their configured rate: they are paced for Entra's abuse detection,
which answers with a block rather than a 429.

A ticketed bucket (invitations) does not make callers wait for a far slot: a caller that cannot
have a slot within the horizon gets a place in line, a reservation of the next free slot kept in
the same record under the caller's key, and comes back for it (the queue holds the message).
:mod:`.line` keeps the places; the slot arithmetic here is shared.

Every function here is pure (state in, state out) and takes the time as an argument: the store
may re-run a change after losing an etag race, and tests drive it with a fake clock. Times are
wall-clock seconds (instances on different machines share them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from guest_onboarding.errors import Throttled

#: On a 429 the rate drops to this fraction of itself.
DECREASE_FACTOR = 0.7
#: Without a 429 the rate creeps up by this fraction of the configured rate per second.
INCREASE_PER_SECOND = 0.02
#: The rate never drops below this fraction of the configured rate.
MIN_RATE_FRACTION = 0.05


@dataclass(frozen=True, kw_only=True)
class BucketRules:
    """How one bucket is paced: ``rate`` calls per second at most, claims reaching at most
    ``horizon`` seconds ahead and taking at most ``batch`` slots."""

    name: str
    rate: float
    horizon: float
    batch: int
    adaptive: bool = True
    #: Callers keep places in line (:mod:`.line`) instead of claiming slots by count.
    ticketed: bool = False
    #: Never paced per process: while the shared record is unavailable its calls wait.
    shared_only: bool = False

    @property
    def min_rate(self) -> float:
        return self.rate * MIN_RATE_FRACTION


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """The shared record of one bucket."""

    next_slot: float
    rate: float
    paused_until: float = 0.0
    decreased_at: float = 0.0
    increased_at: float = 0.0

    @classmethod
    def fresh(cls, rules: BucketRules, now: float) -> Schedule:
        return cls(next_slot=now, rate=rules.rate, increased_at=now)

    @classmethod
    def from_record(
        cls, record: Mapping[str, float] | None, rules: BucketRules, now: float
    ) -> Schedule:
        """The schedule a stored record holds (fresh when there is none or it is unreadable)."""
        if not record:
            return cls.fresh(rules, now)
        try:
            values = {name: float(record[name]) for name in _FIELDS}
        except (KeyError, TypeError, ValueError):
            return cls.fresh(rules, now)
        if not all(math.isfinite(v) for v in values.values()) or values["rate"] <= 0:
            return cls.fresh(rules, now)
        return cls(**values)

    def to_record(self) -> dict[str, float]:
        return asdict(self)


_FIELDS = tuple(Schedule.__dataclass_fields__)


@dataclass(frozen=True, kw_only=True)
class Grant:
    """What a claim got: ``slots`` (send times, possibly none). Without any, the bucket is paused
    until ``paused_until`` or booked until ``next_free``."""

    slots: tuple[float, ...] = ()
    paused_until: float = 0.0
    next_free: float = 0.0
    rate: float = 0.0


def _learned(state: Schedule, rules: BucketRules, now: float) -> Schedule:
    """The rate after the creep since the last change, capped at the configured rate (an
    instance configured lower than the record says wins at once)."""
    rate = min(state.rate, rules.rate)
    if not rules.adaptive:
        return replace(state, rate=rules.rate)
    if now > state.increased_at and rate < rules.rate:
        grown = rate + rules.rate * INCREASE_PER_SECOND * (now - state.increased_at)
        return replace(state, rate=min(rules.rate, grown), increased_at=now)
    return replace(state, rate=rate)


def claim(
    record: Mapping[str, float] | None, rules: BucketRules, now: float, want: int
) -> tuple[Schedule, Grant]:
    """Take up to ``want`` slots (at most ``rules.batch``) from the schedule, none of them
    more than ``rules.horizon`` seconds ahead of ``now``. A claim that gets nothing (paused, or
    booked up to the horizon) returns the schedule as it was: the store need not write it, and
    instances asking while the schedule is full do not race each other's writes."""
    stored = Schedule.from_record(record, rules, now)
    state = _learned(stored, rules, now)
    if state.paused_until > now:
        return stored, Grant(paused_until=state.paused_until, rate=state.rate)
    interval = 1.0 / state.rate
    start = max(state.next_slot, now)
    if start > now + rules.horizon:
        return stored, Grant(next_free=start, rate=state.rate)
    # (the small addend keeps a slot that falls exactly on the horizon despite rounding)
    reachable = 1 + math.floor((now + rules.horizon - start) / interval + 1e-9)
    count = max(1, min(want, rules.batch, reachable))
    slots = tuple(start + i * interval for i in range(count))
    state = replace(state, next_slot=start + count * interval)
    return state, Grant(slots=slots, next_free=state.next_slot, rate=state.rate)


def throttled(
    record: Mapping[str, float] | None, rules: BucketRules, now: float, retry_after: float
) -> Schedule:
    """Graph answered 429 with ``retry_after``: pause the bucket for everyone until then, and
    lower the rate once per throttling event (the 429s of calls already under way belong to the
    same event)."""
    state = _learned(Schedule.from_record(record, rules, now), rules, now)
    until = now + max(0.0, retry_after)
    state = replace(
        state,
        paused_until=max(state.paused_until, until),
        next_slot=max(state.next_slot, until),
    )
    if rules.adaptive and now >= state.decreased_at + max(1.0, retry_after):
        rate = max(rules.min_rate, state.rate * DECREASE_FACTOR)
        state = replace(state, rate=rate, decreased_at=now, increased_at=state.paused_until)
    return state


def paused_error(rules: BucketRules, left: float) -> Throttled:
    """What a caller gets while the bucket is paused (after a 429) longer than it may wait."""
    return Throttled(
        f"held back: Graph throttled this app's {rules.name} moments ago",
        retry_after=left,
        code="TooManyRequests",
        status=429,
    )
