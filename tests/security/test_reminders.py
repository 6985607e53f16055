"""Reminders: the ledger decides, a reminder message only nudges. Forged, repeated, huge or
concurrent reminder messages on the HR-writable invitations queue send nothing extra."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from tests.security.conftest import Tenant

ADA = "ada@fabrikam.example"


async def invited_and_due(tenant: Tenant) -> None:
    assert await tenant.invite({"email": ADA}) == "invited"
    tenant.clock.now += timedelta(days=3)


def emails_to_ada(tenant: Tenant) -> int:
    return tenant.directory.emails_to(ADA)


async def test_twenty_forged_reminders_send_nothing(tenant: Tenant) -> None:
    await invited_and_due(tenant)
    for number in range(1, 21):
        await tenant.invite({"reminder": {"email": ADA, "number": number}}, f"forged-{number}")
    assert emails_to_ada(tenant) == 1  # the invitation only: the sweep scheduled nothing yet


async def test_forged_reminders_do_not_add_to_the_one_the_sweep_scheduled(tenant: Tenant) -> None:
    await invited_and_due(tenant)
    assert await tenant.sweep_and_remind() == ["sent"]
    for number in (1, 2, 3):
        await tenant.invite({"reminder": {"email": ADA, "number": number}}, f"forged-{number}")
    assert emails_to_ada(tenant) == 2


async def test_a_huge_number_cannot_suppress_the_real_reminders(tenant: Tenant) -> None:
    await invited_and_due(tenant)
    assert await tenant.invite({"reminder": {"email": ADA, "number": 99}}) == "rejected"
    assert await tenant.invite({"reminder": {"email": ADA, "number": 2**31 + 1}}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["InvalidField", "InvalidField"]
    assert await tenant.sweep_and_remind() == ["sent"]  # the real reminder still goes out
    assert emails_to_ada(tenant) == 2


@pytest.mark.parametrize("number", [0, -1, "1", 1.5, None])
async def test_malformed_numbers_are_rejected_with_a_reason(tenant: Tenant, number: object) -> None:
    await invited_and_due(tenant)
    assert await tenant.invite({"reminder": {"email": ADA, "number": number}}) == "rejected"
    assert emails_to_ada(tenant) == 1


async def test_concurrent_deliveries_of_one_real_reminder_send_one_email(tenant: Tenant) -> None:
    await invited_and_due(tenant)
    from guest_onboarding.entrypoints import run_reminder_sweep

    await run_reminder_sweep(rt=tenant.rt)
    [reminder] = tenant.outbox.reminders
    body = json.dumps({"reminder": reminder.model_dump()})
    outcomes = await asyncio.gather(*(tenant.invite(body, f"copy-{i}") for i in range(4)))
    assert sorted(outcomes) == ["already_sent"] * 3 + ["sent"]
    assert emails_to_ada(tenant) == 2


async def test_a_reminder_for_an_address_never_invited_does_nothing(tenant: Tenant) -> None:
    outcome = await tenant.invite({"reminder": {"email": "mallory@evil.example", "number": 1}})
    assert outcome == "skipped" and tenant.directory.calls == []
