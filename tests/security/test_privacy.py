"""Privacy: no address, display name or external id in any log record, even at DEBUG (the
Storage and HTTP libraries log URLs, and the ledger's row keys and Graph's filters are addresses);
poison messages never expire; finished rows lose their personal fields after the retention
period."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.changes import Redeemed
from guest_onboarding.domain.ledger import RETIRED_PREFIX, GuestStatus
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.integration.stack import Stack
from tests.integration.test_reminder_sweep import DAY, follow_emulator_clock
from tests.security.conftest import make_tenant
from tests.support import T0

pytestmark = pytest.mark.integration

ADA = "ada.private@fabrikam.example"
SECRETS = ("ada.private", "ada%2Eprivate", "ada%2eprivate", "Lovelace", "HR-SECRET-4242")


def leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        text = record.getMessage() + (record.exc_text or "") + str(record.__dict__.get("args"))
        found += [f"{record.name}: {s}" for s in SECRETS if s.lower() in text.lower()]
    return found


async def test_an_onboarding_a_reminder_and_a_poisoning_log_nothing_personal(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    follow_emulator_clock(stack)
    stack.send(
        {
            "email": ADA,
            "displayName": "Ada Lovelace",
            "externalId": "HR-SECRET-4242",
            "groups": [GROUP_X],
        }
    )
    assert await stack.drain() == ["invited", "done"]
    stack.graph.control.advance_clock(3 * DAY)
    await run_reminder_sweep(rt=stack.rt)
    assert await stack.drain() == ["sent"]
    stack.send({"email": ADA, "displayName": "Ada Lovelace", "groups": ["not-a-guid"]})
    assert await stack.drain() == ["rejected"]
    assert len(caplog.records) > 5  # the app did log, at DEBUG
    assert leaks(caplog.records) == []


async def test_poison_messages_never_expire(stack: Stack) -> None:
    stack.send({"email": ADA, "groupz": []})
    assert await stack.drain() == ["rejected"]
    client = stack.queues.get_queue_client(f"{stack.settings.invitations_queue}-poison")
    [message] = client.peek_messages()
    assert message.expires_on is not None and message.expires_on.year == 9999


async def test_finished_rows_lose_personal_fields_after_the_retention_period() -> None:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="30")
    message = {"email": ADA, "displayName": "Ada Lovelace", "externalId": "HR-SECRET-4242"}
    assert await tenant.invite(message) == "invited"
    assert await tenant.invite({"email": "still@fabrikam.example"}) == "invited"
    user_id = tenant.ledger.rows[ADA].user_id
    assert user_id is not None
    await tenant.ledger.update(
        ADA,
        Redeemed(
            redeemed_at=T0 + timedelta(days=2),
            redeemed_after_reminder=0,
            seconds_to_redeem=None,
            at=T0,
        ),
    )
    tenant.clock.now = T0 + timedelta(days=29)
    summary = await run_reminder_sweep(rt=tenant.rt)
    assert summary.retired == 0  # not yet
    tenant.clock.now = T0 + timedelta(days=33)
    summary = await run_reminder_sweep(rt=tenant.rt)
    assert summary.retired == 1
    assert ADA not in tenant.ledger.rows and "still@fabrikam.example" in tenant.ledger.rows
    [retired] = [r for r in tenant.ledger.rows.values() if r.email.startswith(RETIRED_PREFIX)]
    assert retired.status == GuestStatus.REDEEMED
    assert retired.redeemed_at == T0 + timedelta(days=2) and retired.first_sent_at == T0
    dump = repr(retired)
    assert all(s.lower() not in dump.lower() for s in SECRETS)
    assert retired.invitation is None
    # the account only as a hash of its object id (a returning person's account recognised)
    assert retired.user_id == "sha256:" + hashlib.sha256(user_id.encode()).hexdigest()


async def test_retiring_on_the_table_keeps_only_the_hash(stack: Stack) -> None:
    stack.send({"email": ADA, "displayName": "Ada Lovelace", "externalId": "HR-SECRET-4242"})
    assert await stack.drain() == ["invited"]
    await stack.rt.ledger.update(
        ADA,
        Redeemed(
            redeemed_at=datetime.now(UTC), redeemed_after_reminder=0, seconds_to_redeem=None, at=T0
        ),
    )
    stack.rt.clock = lambda: datetime.now(UTC) + timedelta(days=366)
    summary = await run_reminder_sweep(rt=stack.rt)
    assert summary.retired == 1
    rows = [e async for e in stack.rt.ledger.entries()]
    assert [r.email[: len(RETIRED_PREFIX)] for r in rows] == [RETIRED_PREFIX]
    assert all(s.lower() not in repr(rows).lower() for s in SECRETS)


def test_a_retired_record_keeps_no_sponsor_and_one_per_lifecycle() -> None:
    from guest_onboarding.domain.ledger import LedgerEntry, retired_record

    first = LedgerEntry(
        email=ADA,
        status=GuestStatus.REDEEMED,
        created_at=T0,
        sponsor_contact="grace@contoso.example",
    )
    again = dataclasses.replace(first, created_at=T0 + timedelta(days=400))
    one, two = retired_record(first), retired_record(again)
    assert one.sponsor_contact is None and "grace" not in repr(one)
    assert one.email != two.email  # the person came back: both lifecycles are kept
