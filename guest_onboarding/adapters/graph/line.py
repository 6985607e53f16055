"""The invitation line: a place in it is a reservation, kept in the shared record, honoured in
arrival order.

Invitations are paced far below what arrives in a busy hour (``INVITATIONS_PER_MINUTE``), so most
of them cannot go out when first asked. Handing the next free slot to whoever asks first is not
fair: a message sent back to its queue to wait comes back to find a newer message took the slot
(a steady trickle of one message every few seconds kept an earlier invitation out for hours).
Here the first ask takes a **place**: the next free slot of the schedule, recorded under the
asker's key in the bucket's shared record (the same Table row every instance changes under an
etag check, so places survive a restart and every instance sees them). When the message comes
back (re-queued, on any instance) it finds its place by its key; a later arrival only ever gets a
slot after every place already handed out, so no flood can push an earlier message back.

- **Keys.** The caller's key names the invitation, not the queue message: the re-queued copy of
  a message is a new message with the same guest (``place_key``).
- **Spacing.** Every send is at least one slot interval after the previous one
  (``last_sent``): a holder that comes back late sends at its place's time or as soon after the
  previous send as the pace allows, never in a burst with the next holder.
- **Expiry.** A place not taken within ``keep_seconds`` after its time (the holder's message was
  poisoned, or done another way) is dropped: its slot goes unused, nobody after it moves.
- **Capacity.** The record holds at most ``LINE_CAPACITY`` places (an Azure Table entity holds
  at most 252 properties). Past that, an arrival is **waiting**: its key and when it was first
  turned away are kept (at most ``WAITING_CAPACITY``), and as places free up the waiting get
  them, oldest first, before any later arrival; it is asked to come back when its place should
  be free. A waiting key keeps its claim to order however many arrive after it: a flood that
  keeps the line full cannot overtake it. Past both, an arrival keeps nothing and is asked to
  come back when half the line has gone; places and waiting keys already kept are untouched.

Pure functions on explicit times, like :mod:`.pacing`: the store may re-run a change after
losing an etag race, and tests drive them with a fake clock.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from guest_onboarding.adapters.graph.pacing import BucketRules, Schedule

#: Record keys of places: this prefix and the place's key.
PLACE_PREFIX = "p_"
#: Record keys of waiting keys (turned away by a full line): this prefix and the key.
WAIT_PREFIX = "w_"
#: When the latest invitation went out (or is due to, within the horizon).
LAST_SENT = "last_sent"
#: At most this many places at once (an Azure Table entity holds 252 properties).
LINE_CAPACITY = 200
#: At most this many waiting keys: with the places, ``last_sent`` and the schedule's 5 fields,
#: 246 properties.
WAITING_CAPACITY = 40
#: A place is kept this long after its time (or two slot intervals, if longer).
KEEP_LATE_SECONDS = 30.0


def place_key(identity: str) -> str:
    """The key of a place for ``identity`` (the guest's canonical address): a hash, so the
    record holds no address, that fits a Table property name."""
    digest = hashlib.sha256(b"guest_onboarding.invitation-line\x00" + identity.encode()).digest()
    return digest[:10].hex()


@dataclass(frozen=True, kw_only=True)
class Turn:
    """What an ask got. ``slot``: send then (within the horizon). ``place``: no slot yet, the
    place kept at that time (come back shortly before it). ``retry_at``: the line is full, no
    place kept, ask again then. ``paused_until``: the bucket is paused."""

    slot: float | None = None
    place: float | None = None
    retry_at: float | None = None
    paused_until: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Line:
    """A ticketed bucket's shared record: its schedule, the last send, the places, and the keys
    waiting for one (when each was first turned away)."""

    schedule: Schedule
    last_sent: float
    places: Mapping[str, float]
    waiting: Mapping[str, float]

    @classmethod
    def from_record(
        cls, record: Mapping[str, float] | None, rules: BucketRules, now: float
    ) -> Line:
        schedule = replace(Schedule.from_record(record, rules, now), rate=rules.rate)
        last_sent = _finite((record or {}).get(LAST_SENT))
        if last_sent is None:  # nothing sent yet: not in the way of a send now
            last_sent = now - 1.0 / rules.rate
        places, waiting = _keyed(record, PLACE_PREFIX), _keyed(record, WAIT_PREFIX)
        return cls(schedule=schedule, last_sent=last_sent, places=places, waiting=waiting)

    def to_record(self) -> dict[str, float]:
        record = self.schedule.to_record()
        record[LAST_SENT] = self.last_sent
        record.update({PLACE_PREFIX + key: at for key, at in self.places.items()})
        record.update({WAIT_PREFIX + key: at for key, at in self.waiting.items()})
        return record


def _keyed(record: Mapping[str, float] | None, prefix: str) -> dict[str, float]:
    return {
        name[len(prefix) :]: at
        for name, value in (record or {}).items()
        if name.startswith(prefix) and (at := _finite(value)) is not None
    }


def _finite(value: object) -> float | None:
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def keep_seconds(rules: BucketRules) -> float:
    """How long after its time a place is kept for its holder."""
    return max(KEEP_LATE_SECONDS, 2.0 / rules.rate)


def take_turns(
    record: Mapping[str, float] | None, rules: BucketRules, now: float, keys: Sequence[str]
) -> tuple[dict[str, float], dict[str, Turn]]:
    """The turn of each of ``keys`` (in the order they asked), and the record after them.

    A key with a place whose time (or the pace after the last send) is within the horizon
    gets that slot and leaves the line; a key with a place further off is told its place; a
    key without a place gets the next free slot if it is within the horizon, else a place at
    it, else (the line full) waits, or with no room to wait either, a time to ask again. Free
    places go to the waiting keys first, the longest waiting first."""
    line = Line.from_record(record, rules, now)
    keep = keep_seconds(rules)
    places = {key: at for key, at in line.places.items() if at + keep >= now}
    waiting = dict(line.waiting)
    schedule, last_sent = line.schedule, line.last_sent
    turns: dict[str, Turn] = {}
    if schedule.paused_until > now:
        turns = {key: Turn(paused_until=schedule.paused_until) for key in keys}
    else:
        interval = 1.0 / rules.rate
        reach = now + rules.horizon + 1e-9  # (a slot exactly on the horizon stays in reach)
        for key in dict.fromkeys(keys):
            earliest = max(now, last_sent + interval)
            for waited in sorted(waiting, key=lambda k: (waiting[k], k)):
                if len(places) >= LINE_CAPACITY:
                    break
                places[waited] = max(schedule.next_slot, earliest)  # in the order they came
                schedule = replace(schedule, next_slot=places[waited] + interval)
                del waiting[waited]
            place = places.get(key)
            if place is not None:
                send = max(place, earliest)
                if send <= reach:
                    del places[key]
                    last_sent = send
                    turns[key] = Turn(slot=send)
                else:
                    turns[key] = Turn(place=send)
                continue
            start = max(schedule.next_slot, earliest)
            if start <= reach and not waiting:
                schedule = replace(schedule, next_slot=start + interval)
                last_sent = start
                turns[key] = Turn(slot=start)
            elif len(places) < LINE_CAPACITY and not waiting:
                schedule = replace(schedule, next_slot=start + interval)
                places[key] = start
                turns[key] = Turn(place=start)
            elif key in waiting or len(waiting) < WAITING_CAPACITY:
                waiting.setdefault(key, now)
                ahead = sorted(waiting, key=lambda k: (waiting[k], k)).index(key)
                freed = sorted(places.values())[min(ahead, len(places) - 1)]
                turns[key] = Turn(retry_at=max(now + interval, freed + interval))
            else:
                halfway = sorted(places.values())[len(places) // 2]
                turns[key] = Turn(retry_at=max(now + interval, halfway))
    after = Line(schedule=schedule, last_sent=last_sent, places=places, waiting=waiting)
    return after.to_record(), turns
