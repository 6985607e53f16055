"""The Table ledger agrees with the domain's meaning of every change (``domain.ledger.apply``):
each change written to Azurite and read back gives the row ``apply`` gives in memory."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from guest_onboarding.adapters.storage import TableLedger
from guest_onboarding.config import StorageSettings
from guest_onboarding.domain.brake import BrakeState, Decided, Decision
from guest_onboarding.domain.changes import (
    Adopted,
    Change,
    ClaimReleased,
    ComebackUndone,
    Deleted,
    Disabled,
    Expired,
    InvitationOutcomeUnknown,
    InvitationRefused,
    InvitationUnconfirmed,
    Invited,
    Redeemed,
    ReminderClaimed,
    ReminderReleased,
    ReminderScheduled,
    ReminderSent,
    Removed,
    SponsorsRecorded,
    StepsRecorded,
    Transition,
    apply,
)
from guest_onboarding.domain.email_wins import EmailClaimed, EmailReleased, EmailSent
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.movers import MoverHeld, MoverReleased
from guest_onboarding.domain.offboarding import (
    AccessEndRecorded,
    HoldCleared,
    Offboarded,
    OffboardHeld,
    OffboardingStarted,
)
from guest_onboarding.domain.profile_changes import OffboardingClearsProfile, ProfileRecorded
from tests.fixtures.azurite import AzuriteEndpoint

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
EMAIL = "ada@fabrikam.example"


@pytest.fixture
async def ledger(azurite: AzuriteEndpoint) -> AsyncIterator[TableLedger]:
    name = f"ledger{uuid.uuid4().hex[:10]}"
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        tables.create_table(name)
    ledger = TableLedger.create(StorageSettings(connection_string=azurite.connection_string), name)
    yield ledger
    await ledger.close()


def claimed() -> LedgerEntry:
    return LedgerEntry(
        email=EMAIL,
        status=GuestStatus.INVITING,
        claim_token="m1",
        claimed_at=T0,
        external_id="HR-1",
        invitation=Invitation(
            redirect_url="https://projectx.fabrikam.example/welcome",
            display_name="Ada",
            send_message=False,
            message_body="Welcome",
            message_language="en-US",
            cc_recipient="pm@contoso.example",
        ),
        created_at=T0,
        steps={"g_1": StepStatus.QUEUED},
    )


T1 = T0 + timedelta(days=1)

CHANGES: list[Change] = [
    ClaimReleased(),
    Invited(user_id="u1", first_sent_at=T0, last_sent_at=None, send_count=0, at=T1),
    InvitationRefused(last_error="Forbidden: no", at=T1),
    StepsRecorded(steps={"g_1": StepStatus.DONE, "r_2_3": StepStatus.FAILED}),
    StepsRecorded(steps={"r_2_3": StepStatus.DONE}, grant_ids={"r_2_3": "dGhlIGFzc2lnbm1lbnQ"}),
    AccessEndRecorded(access_ends_on=date(2027, 3, 31)),
    OffboardHeld(offboard_held_at=T1),
    MoverHeld(offboard_held_at=T1, mover_held=("g_1", "r_2_3")),
    MoverReleased(steps={"g_1": StepStatus.REMOVING}),
    StepsRecorded(steps={"o_enable": StepStatus.CANCELLED}),
    HoldCleared(),
    OffboardingStarted(
        offboard_started_at=T1,
        offboard_action="disable",
        steps={"g_1": StepStatus.REMOVING, "o_revoke": StepStatus.QUEUED},
        at=T1,
    ),
    Offboarded(offboarded_at=T1, disabled_at=T1, at=T1),
    ReminderScheduled(reminders_scheduled=2),
    ReminderClaimed(reminders_sent=2),
    ReminderReleased(reminders_sent=1),
    ReminderSent(send_count=3, last_sent_at=T0 + timedelta(days=7)),
    InvitationOutcomeUnknown(last_error="ServiceUnavailable: 503"),
    InvitationUnconfirmed(last_error="ReinvitationLimit: no user", at=T1),
    Redeemed(
        redeemed_at=T0 + timedelta(days=8),
        redeemed_after_reminder=2,
        seconds_to_redeem=691200,
        at=T1,
    ),
    Removed(at=T1),
    Expired(expired_at=T0 + timedelta(days=30), at=T1),
    Disabled(disabled_at=T0 + timedelta(days=30), at=T1),
    Deleted(deleted_at=T0 + timedelta(days=31), at=T1),
    Adopted(
        user_id="u3",
        first_sent_at=T0,
        invitation=Invitation(redirect_url="https://myapps.example"),
        at=T1,
    ),
    SponsorsRecorded(
        invitation=Invitation(redirect_url="https://myapps.example", sponsors=("s1", "s2")),
        sponsor_contact="pm@contoso.example",
    ),
    ProfileRecorded(
        profile={"companyName": "Fabrikäm", "department": None},
        steps={"p_profile": StepStatus.QUEUED},
    ),
    OffboardingClearsProfile(
        offboard_started_at=T1,
        offboard_action="disable",
        steps={"o_revoke": StepStatus.QUEUED, "p_profile": StepStatus.QUEUED},
        profile={"companyName": None, "department": None, "jobTitle": "Engineer"},
        at=T1,
    ),
    EmailClaimed(
        invitation=Invitation(redirect_url="https://myapps.example", message_body="Hi"),
        sponsor_contact="pm@contoso.example",
        claim_token="m2",
        claimed_at=T1,
    ),
    EmailReleased(
        invitation=Invitation(redirect_url="https://myapps.example", send_message=False),
        sponsor_contact=None,
    ),
    EmailSent(first_sent_at=T1, last_sent_at=T1),
    ComebackUndone.of(
        LedgerEntry(
            email="ada@fabrikam.example",
            status=GuestStatus.DISABLED,
            user_id="u4",
            invitation=Invitation(redirect_url="https://myapps.example", display_name="Ada"),
            first_sent_at=T0,
            send_count=4,
            reminders_scheduled=3,
            reminders_sent=3,
            expired_at=T0 + timedelta(days=30),
            disabled_at=T0 + timedelta(days=30),
            created_at=T0,
            steps={"g_1": StepStatus.DONE},
            reinvitations=1,
        ),
        at=T1,
    ),
]


def every_change_class() -> set[type[Change]]:
    found: set[type[Change]] = set()
    pending = [Change]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            found.add(sub)
    return found - {Transition}


def test_every_kind_of_change_is_covered() -> None:
    assert {type(c) for c in CHANGES} == every_change_class()


async def test_transitions_keep_every_status_with_its_time(ledger: TableLedger) -> None:
    assert await ledger.claim(dataclasses.replace(claimed(), history=("inviting@x",)))
    assert await ledger.update(
        EMAIL, Invited(user_id="u1", first_sent_at=T0, last_sent_at=T0, send_count=1, at=T0)
    )
    assert await ledger.update(EMAIL, Expired(expired_at=T1, at=T1))
    stored = await ledger.get(EMAIL)
    assert stored is not None
    assert stored.history == (
        "inviting@x",
        f"invited@{T0.isoformat()}",
        f"expired@{T1.isoformat()}",
    )


def comparable(entry: LedgerEntry) -> LedgerEntry:
    return dataclasses.replace(entry, etag=None, updated_at=None)


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: type(c).__name__)
async def test_each_change_reads_back_as_apply_says(ledger: TableLedger, change: Change) -> None:
    row = claimed()
    assert await ledger.claim(row)
    assert await ledger.update(EMAIL, change)
    stored = await ledger.get(EMAIL)
    assert stored is not None
    assert comparable(stored) == comparable(apply(row, change))


async def test_etag_guards_and_missing_rows(ledger: TableLedger) -> None:
    assert not await ledger.update(EMAIL, Removed(at=T0))  # no row: nothing is created
    assert await ledger.get(EMAIL) is None
    assert await ledger.claim(claimed())
    assert not await ledger.claim(claimed())
    first = await ledger.get(EMAIL)
    assert first is not None and first.etag
    assert await ledger.update(EMAIL, ReminderScheduled(reminders_scheduled=1), etag=first.etag)
    assert not await ledger.update(EMAIL, ReminderScheduled(reminders_scheduled=2), etag=first.etag)
    assert not await ledger.take_over(claimed(), etag=first.etag)


async def test_entries_stream_every_row_or_those_in_a_status(ledger: TableLedger) -> None:
    for i, status in enumerate([GuestStatus.INVITED, GuestStatus.REDEEMED, GuestStatus.INVITED]):
        entry = dataclasses.replace(claimed(), email=f"g{i}@fabrikam.example", status=status)
        assert await ledger.claim(entry)
    everyone = [e.email async for e in ledger.entries()]
    invited = [e async for e in ledger.entries(statuses=frozenset({GuestStatus.INVITED}))]
    assert sorted(everyone) == [f"g{i}@fabrikam.example" for i in range(3)]
    assert sorted(e.email for e in invited) == ["g0@fabrikam.example", "g2@fabrikam.example"]
    assert all(e.invitation == claimed().invitation for e in invited)  # whole rows


async def test_an_end_date_cleared_reads_back_as_none(ledger: TableLedger) -> None:
    ending = dataclasses.replace(claimed(), access_ends_on=date(2027, 3, 31))
    assert await ledger.claim(ending)
    assert (await ledger.get(EMAIL)).access_ends_on == date(2027, 3, 31)  # type: ignore[union-attr]
    assert await ledger.update(EMAIL, AccessEndRecorded(access_ends_on=None))
    assert (await ledger.get(EMAIL)).access_ends_on is None  # type: ignore[union-attr]


async def test_ending_entries_are_the_onboarded_guests_whose_day_has_come(
    ledger: TableLedger,
) -> None:
    rows = {
        "past@a.example": (GuestStatus.REDEEMED, date(2026, 10, 31)),
        "today@a.example": (GuestStatus.INVITED, date(2026, 11, 1)),
        "later@a.example": (GuestStatus.REDEEMED, date(2026, 11, 2)),
        "none@a.example": (GuestStatus.REDEEMED, None),
        "gone@a.example": (GuestStatus.OFFBOARDED, date(2026, 10, 1)),
        "refused@a.example": (GuestStatus.FAILED, date(2026, 10, 1)),
    }
    for email, (status, ends) in rows.items():
        row = dataclasses.replace(claimed(), email=email, status=status, access_ends_on=ends)
        assert await ledger.claim(row)
    ending = [e async for e in ledger.ending_entries(on_or_before=date(2026, 11, 1))]
    assert sorted(e.email for e in ending) == ["past@a.example", "today@a.example"]


async def test_the_brake_record_reads_back_and_is_etag_guarded(ledger: TableLedger) -> None:
    assert await ledger.brake() == BrakeState()
    state = BrakeState(
        admitted=(("k1", T0), ("k2", T1)),
        engaged_at=T1,
        decisions=(Decided(decision=Decision.RELEASE, at=T0),),
    )
    assert await ledger.write_brake(state)
    assert not await ledger.write_brake(state)  # no etag: only when there is no record yet
    read = await ledger.brake()
    assert dataclasses.replace(read, etag=None) == state
    assert await ledger.write_brake(dataclasses.replace(read, engaged_at=None))
    assert not await ledger.write_brake(dataclasses.replace(read, engaged_at=None))  # stale etag
    assert (await ledger.brake()).engaged_at is None
    assert [e async for e in ledger.entries()] == []  # not a guest's row
