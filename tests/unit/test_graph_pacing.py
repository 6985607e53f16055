"""The shared Graph budget's arithmetic (adapters/graph/pacing.py), on explicit times.

The oracles count and space the slots handed out; they never recompute the schedule."""

from __future__ import annotations

import itertools
import random

import pytest

from guest_onboarding.adapters.graph.line import LINE_CAPACITY, place_key, take_turns
from guest_onboarding.adapters.graph.pacing import BucketRules, Schedule, claim, throttled

WRITES = BucketRules(name="writes", rate=20.0, horizon=0.5, batch=5)
INVITATIONS = BucketRules(
    name="invitations", rate=2 / 60, horizon=2.0, batch=1, adaptive=False, ticketed=True
)


class SharedRecord:
    """The record as the store keeps it: whatever the last change returned."""

    def __init__(self) -> None:
        self.record: dict[str, float] | None = None

    def claim(self, rules: BucketRules, now: float, want: int) -> tuple[float, ...]:
        state, grant = claim(self.record, rules, now, want)
        self.record = state.to_record()
        return grant.slots

    def throttled(self, rules: BucketRules, now: float, retry_after: float) -> None:
        self.record = throttled(self.record, rules, now, retry_after).to_record()

    def rate(self, rules: BucketRules, now: float) -> float:
        return claim(self.record, rules, now, 1)[1].rate


def test_instances_claiming_at_random_never_get_a_slot_twice_nor_exceed_the_rate() -> None:
    shared = SharedRecord()
    rng = random.Random(4)
    slots: list[float] = []
    now = 1000.0
    for _ in range(2000):  # eight instances claiming for their waiting callers, in any order
        now += rng.uniform(0, 0.02)
        got = shared.claim(WRITES, now, want=rng.randint(1, 12))
        assert all(now <= s <= now + WRITES.horizon for s in got)
        slots += got
    assert len(slots) == len(set(slots))
    slots.sort()
    assert min(b - a for a, b in itertools.pairwise(slots)) >= 1 / 20 - 1e-9
    # any whole second holds at most 20 slots (+1 for the edges)
    for start in range(int(slots[0]), int(slots[-1])):
        assert sum(1 for s in slots if start <= s < start + 1) <= 21
    # and the instances kept the schedule busy: close to 20 per second overall
    assert len(slots) / (slots[-1] - slots[0]) == pytest.approx(20, rel=0.01)


def test_a_claim_takes_at_most_the_batch_and_the_horizon() -> None:
    shared = SharedRecord()
    assert len(shared.claim(WRITES, 0.0, want=100)) == 5  # the batch
    # the horizon: 0.5 s at 20/s is 10 slots after `now` at most, then nothing until time passes
    taken = [len(shared.claim(WRITES, 0.0, want=100)) for _ in range(4)]
    assert taken == [5, 1, 0, 0]
    assert len(shared.claim(WRITES, 0.25, want=100)) == 5


def test_a_429_pauses_the_bucket_for_whoever_claims_next() -> None:
    shared = SharedRecord()
    shared.claim(WRITES, 0.0, want=5)
    shared.throttled(WRITES, 0.1, retry_after=3.0)
    _state, grant = claim(shared.record, WRITES, 1.0, 5)
    assert grant.slots == () and grant.paused_until == pytest.approx(3.1)
    later = shared.claim(WRITES, 3.1, want=5)
    assert later and min(later) >= 3.1


def test_the_rate_drops_once_per_throttling_event_then_creeps_back_to_the_configured_rate() -> None:
    shared = SharedRecord()
    shared.claim(WRITES, 0.0, want=1)
    shared.throttled(WRITES, 10.0, retry_after=1.0)
    shared.throttled(WRITES, 10.2, retry_after=1.0)  # a call already under way: same event
    assert shared.rate(WRITES, 11.0) == pytest.approx(14.0)  # 20 * 0.7, once
    # +2% of 20 (0.4/s) per second since the pause ended at 11.0
    assert shared.rate(WRITES, 16.0) == pytest.approx(16.0)
    shared.throttled(WRITES, 16.5, retry_after=1.0)  # a new event: 0.7 of the rate now
    assert shared.rate(WRITES, 17.5) == pytest.approx(0.7 * 16.2)
    assert shared.rate(WRITES, 1000.0) == pytest.approx(20.0)  # never above the setting


def test_the_rate_never_drops_below_a_twentieth_of_the_setting() -> None:
    shared = SharedRecord()
    for second in range(100):
        shared.throttled(WRITES, float(second * 2), retry_after=1.0)
    assert shared.rate(WRITES, 199.0) == pytest.approx(1.0)


def test_an_instance_configured_lower_paces_at_its_own_rate_at_once() -> None:
    shared = SharedRecord()
    shared.claim(WRITES, 0.0, want=1)
    slower = BucketRules(name="writes", rate=5.0, horizon=0.5, batch=5)
    got = shared.claim(slower, 1.0, want=3)
    assert [round(b - a, 6) for a, b in itertools.pairwise(got)] == [0.2, 0.2]


def test_invitations_beyond_the_horizon_get_places_in_line_one_interval_apart() -> None:
    record, turns = take_turns(None, INVITATIONS, 0.0, ["a"])
    assert turns["a"].slot == 0.0
    places = []
    for key in ("b", "c"):
        record, turns = take_turns(record, INVITATIONS, 1.0, [key])
        assert turns[key].slot is None
        places.append(turns[key].place)
    record, turns = take_turns(record, INVITATIONS, 1.0, ["d", "e"])  # two callers at once
    places += [turns["d"].place, turns["e"].place]
    # 2 per minute: places at 30, 60, 90 and 120 s from t=0
    assert places == pytest.approx([30.0, 60.0, 90.0, 120.0])
    # the first in line comes back shortly before its place and gets its slot, on time
    record, turns = take_turns(record, INVITATIONS, 28.5, ["b"])
    assert turns["b"].slot == 30.0
    # asking again before its time, a holder is told the same place (none taken twice)
    record, turns = take_turns(record, INVITATIONS, 29.0, ["c"])
    assert turns["c"].place == 60.0


def test_a_full_line_keeps_no_place_and_moves_nobody() -> None:
    record, _ = take_turns(None, INVITATIONS, 0.0, ["first"])
    keys = [place_key(f"guest{i}") for i in range(LINE_CAPACITY)]
    record, turns = take_turns(record, INVITATIONS, 0.0, keys)
    placed = [turns[k].place for k in keys]
    assert None not in placed
    record, turns = take_turns(record, INVITATIONS, 0.0, ["late"])
    assert turns["late"].place is None and turns["late"].slot is None
    assert turns["late"].retry_at is not None and turns["late"].retry_at > 0.0
    # everyone in line keeps their place
    _, again = take_turns(record, INVITATIONS, 0.0, keys)
    assert [again[k].place for k in keys] == placed


@pytest.mark.parametrize(
    "record",
    [
        None,
        {},
        {"next_slot": "x"},
        {"next_slot": 1.0},
        {**Schedule.fresh(WRITES, 0).to_record(), "rate": 0},
    ],
)
def test_a_missing_or_unreadable_record_starts_a_fresh_schedule(
    record: dict[str, float] | None,
) -> None:
    state, grant = claim(record, WRITES, 50.0, 1)
    assert grant.slots == (50.0,) and state.rate == 20.0
