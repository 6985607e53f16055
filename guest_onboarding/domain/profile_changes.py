"""The ledger change HR's latest profile makes to a guest already onboarded (issue 26 item 1),
and the offboarding that clears the profile this app set, beside :mod:`.changes` (which
:mod:`.profile` cannot import back)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import PROFILE_STEP_KEY
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus
from guest_onboarding.domain.offboarding import OffboardingStarted
from guest_onboarding.domain.profile import profile_after, profile_to_clear


@dataclass(frozen=True, kw_only=True)
class ProfileRecorded(Change):
    """HR's latest profile for a guest already onboarded, recorded with its step queued again
    (the step writes what the row records, whichever message queued it)."""

    profile: Mapping[str, str | None]
    steps: Mapping[str, StepStatus]

    @classmethod
    def stating(cls, row: LedgerEntry, stated: Mapping[str, str | None]) -> ProfileRecorded | None:
        """The change HR's ``stated`` profile makes to ``row`` (``domain.profile.profile_after``),
        or None when the row records that profile already."""
        profile = profile_after(row.profile, stated)
        if profile == row.profile:
            return None
        return cls(profile=profile, steps={PROFILE_STEP_KEY: StepStatus.QUEUED})


@dataclass(frozen=True, kw_only=True)
class OffboardingClearsProfile(OffboardingStarted):
    """An offboarding that also clears the profile this app set (``profile_to_clear``), so the
    dynamic groups that matched it drop the guest: the row records those attributes as cleared
    and the profile step is queued again (it writes what the row records). One write with the
    offboarding's start, so a crash cannot start one without the other."""

    profile: Mapping[str, str | None]

    @classmethod
    def of(cls, started: OffboardingStarted, row: LedgerEntry) -> OffboardingStarted:
        """``started``, clearing ``row``'s profile too when this app set any of it."""
        clear = profile_to_clear(row)
        if not clear:
            return started
        fields = {f: getattr(started, f) for f in ("offboard_started_at", "offboard_action", "at")}
        steps = {**started.steps, PROFILE_STEP_KEY: StepStatus.QUEUED}
        return cls(**fields, steps=steps, profile={**(row.profile or {}), **clear})
