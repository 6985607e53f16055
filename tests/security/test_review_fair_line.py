"""Review (attacker's view): the invitation line is fair only to those who got a place in it.

``adapters/graph/line.py`` holds at most ``LINE_CAPACITY`` (200) places. An arrival that finds
the line full keeps nothing and is told to ask again when half the line has gone; whoever asks
first when a place frees up gets it, and every message turned away joins a lottery for the
next free place. A sender who fills the line and goes on sending one message every 15 seconds
(four times the default pace of 1 a minute; no timing needed, and the turned-away messages
cost it nothing: ``Throttled`` is a pause, never poisoned) grows that lottery without end: an
HR message turned away once waits many hours while hundreds of messages sent after it are
invited (12 simulated hours: not invited at all for this seed, and 200 to 300 messages ahead
of it for others). The line's promise ("no flood can push an earlier message back") holds
only for messages that got a place.

The oracle is the order of asking, counted here: nobody who first asked after the turned-away
message may be invited before it.
"""

from __future__ import annotations

import heapq
import itertools
import random

from guest_onboarding.adapters.graph.line import LINE_CAPACITY, take_turns
from guest_onboarding.adapters.graph.line_bucket import COME_BACK_EARLY_SECONDS
from guest_onboarding.adapters.graph.pacer import CallKind, bucket_rules
from guest_onboarding.adapters.graph.pacing import BucketRules

#: The deployment's default pace (config.py: ``INVITATIONS_PER_MINUTE`` = 1).
RULES: BucketRules = bucket_rules(
    writes_per_second=10, reads_per_second=10, invitations_per_minute=1
)[CallKind.INVITATION]
HORIZON = 12 * 3600.0
#: The flood sends one message every this many seconds.
FLOOD_EVERY = 15.0
#: A re-queued copy comes back up to this late (1 s of whole-second visibility, 2 s of
#: ``maxPollingInterval``: line_bucket.COME_BACK_EARLY_SECONDS's own reckoning).
QUEUE_LATENESS = 3.0


def test_review_a_message_turned_away_by_a_full_line_is_not_overtaken_for_ever() -> None:
    record: dict[str, float] | None = None
    fresh = (f"flood-{i}" for i in itertools.count())
    first_asked: dict[str, float] = {}
    served: dict[str, float] = {}
    events: list[tuple[float, int, str]] = []  # (time, order, key): who asks, when
    order = itertools.count()
    delivery = random.Random(2026)  # the queue's lateness: whole-second visibility, polling

    def back_at(at: float) -> float:
        return at + delivery.uniform(0.0, QUEUE_LATENESS)

    def ask(now: float, key: str) -> None:
        nonlocal record
        first_asked.setdefault(key, now)
        record, turns = take_turns(record, RULES, now, [key])
        turn = turns[key]
        if turn.slot is not None:
            served[key] = turn.slot
        elif turn.place is not None:  # the re-queued copy comes back shortly before its place
            back = max(now + 1.0, turn.place - COME_BACK_EARLY_SECONDS)
            heapq.heappush(events, (back_at(back), next(order), key))
        else:
            assert turn.retry_at is not None  # the line is full: asked to come back later
            heapq.heappush(events, (back_at(max(now + 1.0, turn.retry_at)), next(order), key))

    for _ in range(LINE_CAPACITY + 1):  # the flood fills the line
        ask(0.0, next(fresh))
    ask(1.0, "hr-message")  # an HR message arrives: the line is full
    for i in range(1, int(HORIZON / FLOOD_EVERY)):  # the flood goes on, on its own clock
        heapq.heappush(events, (1.0 + i * FLOOD_EVERY, next(order), next(fresh)))
    while events and "hr-message" not in served:
        now, _, key = heapq.heappop(events)
        if now > HORIZON:
            break
        ask(now, key)

    overtaken_by = [
        key for key, at in served.items() if first_asked[key] > first_asked["hr-message"]
    ]
    assert "hr-message" in served, (
        f"the HR message was not invited in 12 hours; {len(overtaken_by)} messages that came "
        "after it were"
    )
    before = [k for k in overtaken_by if served[k] < served["hr-message"]]
    assert before == [], f"{len(before)} later messages were invited before it"
