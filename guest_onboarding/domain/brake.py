"""The brake on mass removal: more than ``OFFBOARD_THRESHOLD`` offboardings within an hour (a
bad HR export, a forged burst) hold every further offboarding until an operator releases or
discards them, as the accidental deletions threshold of Entra's provisioning service does. No
I/O: one shared record (``ports.OffboardingBrake``) holds the :class:`BrakeState`, and these
rules say what each offboarding and each operator's decision does to it.

A held offboarding waits in its ledger row (``offboard_held_at``), not on a queue. An operator's
decision (release or discard) applies to every offboarding held before it; the record keeps the
last few, so a settling message that comes late still finds the decision meant for it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

#: The window the threshold counts in.
WINDOW = timedelta(hours=1)
#: Decisions the record keeps (a late settling message finds the earliest one after its hold).
KEPT_DECISIONS = 20
#: The largest threshold (the record lists the window's offboardings in one Table property).
MAX_THRESHOLD = 1000


class Verdict(StrEnum):
    ADMITTED = "admitted"  # the offboarding goes ahead
    ENGAGED = "engaged"  # this offboarding was one too many: the brake is on, it is held
    HELD = "held"  # the brake was on already: held


class Decision(StrEnum):
    """An operator's decision on the held offboardings (``guest-onboarding release``)."""

    RELEASE = "release"  # they go ahead (and do not count towards the threshold)
    DISCARD = "discard"  # they are dropped: nothing is removed


@dataclass(frozen=True, kw_only=True)
class Decided:
    decision: Decision
    at: datetime


@dataclass(frozen=True, kw_only=True)
class BrakeState:
    """The shared record: the offboardings admitted within the window (by a hash of the
    address, never the address), when the brake engaged, and the operators' last decisions."""

    admitted: tuple[tuple[str, datetime], ...] = ()
    engaged_at: datetime | None = None
    decisions: tuple[Decided, ...] = ()
    etag: str | None = None


def guest_key(email: str) -> str:
    """How the record names an offboarding: a hash of the canonical address."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()[:24]


def admit(
    state: BrakeState, email: str, *, now: datetime, threshold: int
) -> tuple[Verdict, BrakeState | None]:
    """What the brake says to one offboarding, and the record to write (None: nothing to
    write). The same guest admitted again within the window (a redelivery) is not counted
    twice."""
    if state.engaged_at is not None:
        return Verdict.HELD, None
    key = guest_key(email)
    recent = tuple((k, at) for k, at in state.admitted if now - at < WINDOW)
    if any(k == key for k, _ in recent):
        return Verdict.ADMITTED, None
    if len(recent) >= threshold:
        return Verdict.ENGAGED, dataclasses.replace(state, admitted=recent, engaged_at=now)
    return Verdict.ADMITTED, dataclasses.replace(state, admitted=(*recent, (key, now)))


def decide(state: BrakeState, decision: Decision, *, now: datetime) -> BrakeState:
    """An operator's decision: the brake is off again and the window starts afresh (what was
    held is released or discarded, and does not count)."""
    decisions = (*state.decisions, Decided(decision=decision, at=now))[-KEPT_DECISIONS:]
    return dataclasses.replace(state, admitted=(), engaged_at=None, decisions=decisions)


def decision_for(state: BrakeState, held_at: datetime) -> Decision | None:
    """The decision meant for an offboarding held at ``held_at``: the first one taken after
    it (None: nobody has decided yet)."""
    later = [d for d in state.decisions if d.at >= held_at]
    return min(later, key=lambda d: d.at).decision if later else None
