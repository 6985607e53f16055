"""The ledger change HR's latest profile makes to a guest already onboarded (issue 26 item 1),
beside :mod:`.changes` (which :mod:`.profile` cannot import back)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import PROFILE_STEP_KEY
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus
from guest_onboarding.domain.profile import profile_after


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
