"""What the sweep keeps of a finished guest after ``LEDGER_RETENTION_DAYS`` (365 by default), on
the fake ledger: the fast-tier twin of tests/security/test_privacy.py (which runs on Azurite).
The record's key is worked out here from the address with hashlib, as the retention rule states
it: ``retired-<sha256 of the address>-<the row's creation, in epoch seconds>``."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import cast

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.domain.invitation import Invitation, group_step_key
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.fakes import FakeLedger
from tests.support import T0, Clock

ADA = "ada@fabrikam.example"
GROUP = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
PERSONAL = ("ada@", "'ada'", "fabrikam", "grace", "contoso", "user-ada", "hr-4711")


def finished_row(created_at: object, *, error: bool = True) -> LedgerEntry:
    return LedgerEntry(
        email=ADA,
        status=GuestStatus.FAILED,
        user_id="user-ada",
        external_id="hr-4711",
        invitation=Invitation(redirect_url="https://myapps.microsoft.com", display_name="Ada"),
        claim_token="a-stale-claim",
        first_sent_at=T0,
        send_count=1,
        sponsor_contact="grace@contoso.example",
        created_at=created_at,  # type: ignore[arg-type]
        updated_at=T0,
        last_error="Refused: Graph said: ada@fabrikam.example is not allowed" if error else None,
        steps={group_step_key(GROUP): StepStatus.REMOVED},  # a done grant would keep the row
        etag="W/0",
    )


async def sweep_a_year_later(rt: Runtime, clock: Clock) -> list[LedgerEntry]:
    clock.now = T0 + timedelta(days=366)
    summary = await run_reminder_sweep(rt=rt)
    assert summary.retired == 1
    return list(cast(FakeLedger, rt.ledger).rows.values())


async def test_a_finished_guest_is_kept_as_a_record_without_personal_data(
    rt: Runtime, clock: Clock
) -> None:
    ledger = cast(FakeLedger, rt.ledger)
    ledger.rows[ADA] = finished_row(created_at=T0)
    [record] = await sweep_a_year_later(rt, clock)
    digest = hashlib.sha256(b"ada@fabrikam.example").hexdigest()
    assert record.email == f"retired-{digest}-{int(T0.timestamp())}"
    assert (record.status, record.first_sent_at, record.send_count) == (
        GuestStatus.FAILED,
        T0,
        1,
    )
    assert record.steps == {group_step_key(GROUP): StepStatus.REMOVED}
    assert record.last_error == "Refused"
    # The account only as a hash of its object id (enough to recognise it if the person returns)
    user_hash = "sha256:" + hashlib.sha256(b"user-ada").hexdigest()
    assert (record.user_id, record.external_id, record.invitation) == (user_hash, None, None)
    assert (record.sponsor_contact, record.claim_token) == (None, None)
    assert not any(word in repr(record).lower() for word in PERSONAL)


async def test_a_row_without_a_creation_time_is_keyed_by_epoch_zero(
    rt: Runtime, clock: Clock
) -> None:
    ledger = cast(FakeLedger, rt.ledger)
    ledger.rows[ADA] = finished_row(created_at=None, error=False)
    [record] = await sweep_a_year_later(rt, clock)
    digest = hashlib.sha256(b"ada@fabrikam.example").hexdigest()
    assert record.email == f"retired-{digest}-0"
    assert record.last_error is None
