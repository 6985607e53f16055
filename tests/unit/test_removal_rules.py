"""The expiry and removal rules of ``guest_onboarding.domain.schedule``, driven with dates worked
out by hand (days counted on the calendar here, not with the module's ``days_since``).

They kill the mutants ``make mutation`` found alive in ``is_expired``, ``removal_due``,
``Removal.decided`` and ``removal_undone`` (bench-results/mutation.md): a disabled guest
deleted before the grace period, or under ``disable`` alone, a stale ``disabled_at`` on an
expired row taken for a disable, a failed removal put back with the wrong dates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guest_onboarding.domain.changes import Deleted, Disabled, Expired
from guest_onboarding.domain.ledger import (
    CLAIM_LEASE,
    GuestStatus,
    LedgerEntry,
    claim_held_for,
    invited_recently,
    replication_wait_left,
)
from guest_onboarding.domain.schedule import (
    ExpiredGuestAction,
    Removal,
    is_expired,
    removal_due,
    removal_undone,
)

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
GRACE_DAYS = 7
#: Disabled exactly seven days (168 hours) before NOW, and one minute short of that.
SEVEN_DAYS_AGO = datetime(2026, 3, 13, 12, 0, tzinfo=UTC)
ALMOST_SEVEN_DAYS_AGO = datetime(2026, 3, 13, 12, 1, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


def row(
    status: GuestStatus, *, disabled_at: datetime | None = None, **fields: object
) -> LedgerEntry:
    return LedgerEntry(email="ada@example.org", status=status, disabled_at=disabled_at, **fields)  # type: ignore[arg-type]


def due(entry: LedgerEntry, action: ExpiredGuestAction) -> Removal | None:
    # No first invitation on these rows: the schedule's own bound (earliest_removal) is not theirs.
    return removal_due(
        entry,
        action=action,
        delete_grace_days=GRACE_DAYS,
        reminder_days=(3, 7),
        pending_expiry_days=30,
        now=NOW,
    )


def test_zero_expiry_days_never_expire_however_old_the_invitation() -> None:
    assert not is_expired(first_sent_at=LONG_AGO, pending_expiry_days=0, now=NOW)


def test_a_one_day_expiry_expires_after_one_day() -> None:
    yesterday = datetime(2026, 3, 19, 12, 0, tzinfo=UTC)
    assert is_expired(first_sent_at=yesterday, pending_expiry_days=1, now=NOW)
    an_hour_later = datetime(2026, 3, 19, 13, 0, tzinfo=UTC)
    assert not is_expired(first_sent_at=an_hour_later, pending_expiry_days=1, now=NOW)


def test_a_disabled_guest_is_deleted_once_the_grace_period_has_passed() -> None:
    disabled = row(GuestStatus.DISABLED, disabled_at=SEVEN_DAYS_AGO)
    assert due(disabled, ExpiredGuestAction.DISABLE_THEN_DELETE) is Removal.DELETE


def test_a_disabled_guest_is_not_deleted_a_minute_before_the_grace_period_ends() -> None:
    disabled = row(GuestStatus.DISABLED, disabled_at=ALMOST_SEVEN_DAYS_AGO)
    assert due(disabled, ExpiredGuestAction.DISABLE_THEN_DELETE) is None


def test_a_disabled_guest_stays_disabled_under_disable_alone() -> None:
    disabled = row(GuestStatus.DISABLED, disabled_at=LONG_AGO)
    assert due(disabled, ExpiredGuestAction.DISABLE) is None
    assert due(disabled, ExpiredGuestAction.NONE) is None


@pytest.mark.parametrize(
    "action", [ExpiredGuestAction.DISABLE, ExpiredGuestAction.DISABLE_THEN_DELETE]
)
def test_an_expired_row_with_an_old_disable_date_is_disabled_first(
    action: ExpiredGuestAction,
) -> None:
    """A row that is expired, not disabled, is disabled first whatever ``disabled_at`` it
    carries from an earlier disable (never deleted straight away)."""
    expired = row(GuestStatus.EXPIRED, disabled_at=LONG_AGO, expired_at=NOW)
    assert due(expired, action) is Removal.DISABLE


def test_the_decision_to_disable_records_when() -> None:
    decided = Removal.DISABLE.decided(NOW)
    assert isinstance(decided, Disabled)
    assert (decided.status, decided.disabled_at, decided.at) == (GuestStatus.DISABLED, NOW, NOW)
    deleted = Removal.DELETE.decided(NOW)
    assert isinstance(deleted, Deleted)
    assert (deleted.status, deleted.deleted_at, deleted.at) == (GuestStatus.DELETED, NOW, NOW)


def test_a_failed_delete_of_a_disabled_guest_puts_back_the_first_disable_date() -> None:
    undone = removal_undone(row(GuestStatus.DISABLED, disabled_at=SEVEN_DAYS_AGO), NOW)
    assert isinstance(undone, Disabled)
    assert (undone.disabled_at, undone.at) == (SEVEN_DAYS_AGO, NOW)


def test_a_failed_removal_of_an_expired_guest_keeps_its_expiry_date() -> None:
    undone = removal_undone(row(GuestStatus.EXPIRED, expired_at=SEVEN_DAYS_AGO), NOW)
    assert isinstance(undone, Expired)
    assert (undone.expired_at, undone.at) == (SEVEN_DAYS_AGO, NOW)
    once_disabled = row(GuestStatus.EXPIRED, disabled_at=LONG_AGO, expired_at=SEVEN_DAYS_AGO)
    assert isinstance(removal_undone(once_disabled, NOW), Expired)
    undated = removal_undone(row(GuestStatus.EXPIRED), NOW)
    assert isinstance(undated, Expired)
    assert (undated.expired_at, undated.at) == (NOW, NOW)


# -- the claim and replication clocks of guest_onboarding.domain.ledger --------------------------

LEASE_SECONDS = CLAIM_LEASE.total_seconds()


def claimed(by: str | None, at: datetime | None) -> LedgerEntry:
    return row(GuestStatus.INVITING, claim_token=by, claimed_at=at)


def test_another_deliverys_fresh_claim_holds_the_row_for_the_rest_of_the_lease() -> None:
    ten_seconds_ago = NOW - timedelta(seconds=10)
    assert claim_held_for(claimed("other", ten_seconds_ago), token="mine", now=NOW) == (
        LEASE_SECONDS - 10
    )


def test_an_expired_claim_or_our_own_holds_nothing() -> None:
    run_out = NOW - CLAIM_LEASE - timedelta(seconds=1)
    assert claim_held_for(claimed("other", run_out), token="mine", now=NOW) == 0.0
    assert claim_held_for(claimed("mine", NOW), token="mine", now=NOW) == 0.0
    assert claim_held_for(claimed(None, None), token="mine", now=NOW) == 0.0


def test_a_user_invited_half_a_second_short_of_the_wait_may_still_be_replicating() -> None:
    wait = timedelta(seconds=60)
    just_invited = row(
        GuestStatus.INVITED,
        first_sent_at=NOW - timedelta(seconds=59.5),
        created_at=LONG_AGO,
    )
    assert invited_recently(just_invited, now=NOW, wait=wait)
    assert replication_wait_left(None, now=NOW, wait=wait) == 0.0
    made_recently = row(GuestStatus.INVITED, created_at=NOW - timedelta(seconds=30))
    assert invited_recently(made_recently, now=NOW, wait=wait)
    long_invited = row(GuestStatus.INVITED, first_sent_at=LONG_AGO, created_at=NOW)
    assert not invited_recently(long_invited, now=NOW, wait=wait)
