"""Movers: what a message that states the whole access (``exact``) removes, and the brake's
hold on those removals (an operator's release removes just these; the account stays). No I/O.
Only grants this app made are removed (``domain.offboarding``: someone else's stay)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import is_grant_key
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus
from guest_onboarding.domain.offboarding import GRANTED_OR_GRANTING


@dataclass(frozen=True, kw_only=True)
class MoverHeld(Change):
    """The brake holds a mover's removals (``exact``): none is made until an operator releases
    them (then only these are removed; the account stays) or discards them."""

    offboard_held_at: datetime
    mover_held: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class MoverReleased(Change):
    """An operator released a mover's held removals: each is ``removing``, its step queued."""

    steps: Mapping[str, StepStatus]
    offboard_held_at: None = None
    mover_held: tuple[str, ...] = ()


def mover_removals(steps: Mapping[str, StepStatus], wanted: Iterable[str]) -> tuple[str, ...]:
    """The grants a message that states the whole access (``exact``) removes: what this app
    granted (or is granting) that the message does not name. Someone else's stay."""
    keep = set(wanted)
    return tuple(
        key
        for key, status in sorted(steps.items())
        if is_grant_key(key) and key not in keep and status in GRANTED_OR_GRANTING
    )


def mover_release(row: LedgerEntry) -> tuple[str, ...]:
    """Of a mover's held removals, those still this app's to remove when an operator releases
    them (a grant removed or found since is left alone)."""
    return tuple(k for k in row.mover_held if row.steps.get(k) in GRANTED_OR_GRANTING)
