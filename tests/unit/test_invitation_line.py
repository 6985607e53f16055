"""The invitation line's arithmetic (adapters/graph/line.py), on explicit times: places kept in
the record, expiry of a place whose holder never came back, spacing after a late holder."""

from __future__ import annotations

import pytest

from guest_onboarding.adapters.graph import line
from guest_onboarding.adapters.graph.line import (
    KEEP_LATE_SECONDS,
    place_key,
    take_turns,
)
from guest_onboarding.adapters.graph.pacing import BucketRules

#: One a minute, slots within 5 s.
LINE = BucketRules(
    name="invitations", rate=1 / 60, horizon=5.0, batch=1, adaptive=False, ticketed=True
)


def line_of(*keys: str, now: float = 0.0) -> dict[str, float]:
    record, turns = take_turns(None, LINE, now, list(keys))
    assert turns[keys[0]].slot == now
    assert [turns[k].place for k in keys[1:]] == [now + 60.0 * i for i in range(1, len(keys))]
    return record


def test_the_record_holds_places_under_hashed_keys_not_addresses() -> None:
    key = place_key("ada@fabrikam.example")
    record = line_of("first", key)
    assert record[f"p_{key}"] == 60.0
    assert not any("ada" in name or "fabrikam" in name for name in record)
    assert place_key("ada@fabrikam.example") == key != place_key("bob@fabrikam.example")


def test_a_holder_that_never_comes_back_loses_its_place_and_nobody_moves() -> None:
    record = line_of("a", "gone", "c", "d")
    keep = max(KEEP_LATE_SECONDS, 120.0)
    assert 60.0 + keep < 240.0
    # "gone" never comes for its place at 60 s; c comes back for its own at 120 s
    record, turns = take_turns(record, LINE, 117.0, ["c"])
    assert turns["c"].slot == 120.0
    record, turns = take_turns(record, LINE, 177.0, ["d"])
    assert turns["d"].slot == 180.0  # d's place did not move
    record, turns = take_turns(record, LINE, 60.0 + keep + 1, ["newcomer"])
    assert "p_gone" not in record  # dropped
    assert turns["newcomer"].place == 240.0  # after every place handed out


def test_a_holder_back_within_the_keep_time_still_has_its_place() -> None:
    record = line_of("a", "b")
    record, turns = take_turns(record, LINE, 60.0 + KEEP_LATE_SECONDS - 1, ["b"])
    assert turns["b"].slot == pytest.approx(60.0 + KEEP_LATE_SECONDS - 1)


def test_a_late_holder_sends_one_interval_after_the_send_before_it_never_in_a_burst() -> None:
    record = line_of("a", "b", "c")
    # b is 20 s late: it sends at once (80 s); c, back on time for 120 s, goes one minute later
    record, turns = take_turns(record, LINE, 80.0, ["b"])
    assert turns["b"].slot == 80.0
    record, turns = take_turns(record, LINE, 116.0, ["c"])
    assert turns["c"].slot is None and turns["c"].place == 140.0  # not yet: 140 s
    record, turns = take_turns(record, LINE, 137.0, ["c"])
    assert turns["c"].slot == 140.0


def test_a_key_asking_again_keeps_one_place() -> None:
    record = line_of("a", "b")
    for now in (10.0, 20.0, 30.0):
        record, turns = take_turns(record, LINE, now, ["b"])
        assert turns["b"].place == 60.0
    assert sum(1 for name in record if name.startswith("p_")) == 1


def test_a_paused_bucket_keeps_every_place() -> None:
    record = line_of("a", "b")
    record = {**record, "paused_until": 100.0}
    after, turns = take_turns(record, LINE, 50.0, ["b", "new"])
    assert turns["b"].paused_until == 100.0 and turns["new"].paused_until == 100.0
    assert after["p_b"] == 60.0 and "p_new" not in after


@pytest.mark.parametrize("value", ["x", float("nan"), float("inf"), None])
def test_an_unreadable_place_is_ignored(value: object) -> None:
    record = {**line_of("a"), "p_broken": value}
    after, turns = take_turns(record, LINE, 1.0, ["b"])  # type: ignore[arg-type]
    assert turns["b"].place == 60.0
    assert "p_broken" not in after


# ---- a full line: the turned-away wait in the order they came -----------------------------------


@pytest.fixture
def three_places(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line, "LINE_CAPACITY", 3)
    monkeypatch.setattr(line, "WAITING_CAPACITY", 2)


@pytest.mark.usefixtures("three_places")
def test_a_key_turned_away_by_a_full_line_gets_the_next_place_before_any_later_arrival() -> None:
    record = line_of("a", "b", "c", "d")  # a sends now; b, c, d hold the 3 places (60, 120, 180)
    record, turns = take_turns(record, LINE, 1.0, ["turned-away"])
    assert turns["turned-away"].place is None and turns["turned-away"].retry_at is not None
    # b takes its slot: a place is free; a later arrival asks first, then the turned-away key
    record, turns = take_turns(record, LINE, 58.0, ["b", "later"])
    assert turns["b"].slot == 60.0
    assert turns["later"].place is None  # the free place went to the key waiting before it
    record, turns = take_turns(record, LINE, 70.0, ["turned-away"])
    assert turns["turned-away"].place == 240.0  # the first place after those handed out
    record, turns = take_turns(record, LINE, 118.0, ["c", "later"])
    assert turns["later"].place == 300.0  # after it, never before


@pytest.mark.usefixtures("three_places")
def test_the_record_keeps_a_bounded_number_of_waiting_keys() -> None:
    record = line_of("a", "b", "c", "d")
    record, turns = take_turns(record, LINE, 1.0, ["w1", "w2", "w3"])
    assert sorted(name for name in record if name.startswith("w_")) == ["w_w1", "w_w2"]
    assert turns["w1"].retry_at == 120.0  # b's place (60 s) gone, one interval after it
    assert turns["w2"].retry_at == 180.0
    assert turns["w3"].retry_at == 120.0  # no room to wait: back when half the line has gone
    record, turns = take_turns(record, LINE, 400.0, ["w3"])  # every place gone: w1, w2 first
    assert (record["p_w1"], record["p_w2"], turns["w3"].place) == (400.0, 460.0, 520.0)
    assert not any(name.startswith("w_") for name in record)
