"""Retention never retires the record an offboarding needs (review A2): a guest who still holds
a grant this app made, or an end date, keeps their row past ``LEDGER_RETENTION_DAYS`` until
they are offboarded or removed; HR's later offboarding (or the end date) then still removes
their access. A row without either is retired as before. Oracles: the fake directory's
memberships and the ledger's rows."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
BOB = "bob@fabrikam.example"


def in_group(tenant: Tenant, email: str) -> bool:
    user = next(u for u in tenant.directory.users.values() if u.mail == email)
    return user.id in tenant.directory.members[GROUP_X]


async def redeemed_guest(tenant: Tenant, email: str, **fields: object) -> None:
    assert await tenant.invite({"email": email, **fields}, f"m-{email}") == "invited"
    await tenant.drain_assignments()
    user = next(u for u in tenant.directory.users.values() if u.mail == email)
    tenant.directory.users[user.id] = dataclasses.replace(user, external_user_state="Accepted")


async def sweep_on(tenant: Tenant, days: int) -> None:
    tenant.clock.now = T0 + timedelta(days=days)
    await tenant.sweep_and_remind()
    await tenant.drain_assignments()


async def test_a_guest_with_a_grant_and_an_end_date_keeps_the_record_until_offboarded() -> None:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="30")
    await redeemed_guest(tenant, ADA, groups=[GROUP_X], accessEndsOn="2099-12-31")
    await redeemed_guest(tenant, BOB)  # nothing granted, no end date: nothing to remove later
    await sweep_on(tenant, 1)
    await sweep_on(tenant, 40)
    assert await tenant.ledger.get(ADA) is not None
    assert await tenant.ledger.get(BOB) is None  # retired as before

    assert await tenant.invite({"email": ADA, "action": "offboard"}, "leave") == "offboarding"
    await tenant.drain_assignments()
    assert not in_group(tenant, ADA)

    await sweep_on(tenant, 80)  # offboarded and untouched for the retention period: retired
    assert await tenant.ledger.get(ADA) is None


async def test_an_end_date_alone_keeps_the_record_for_the_sweep_that_offboards() -> None:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="30")
    ends = (T0.date() + timedelta(days=60)).isoformat()
    await redeemed_guest(tenant, ADA, groups=[GROUP_X], accessEndsOn=ends)
    await sweep_on(tenant, 1)
    await sweep_on(tenant, 45)
    assert in_group(tenant, ADA)
    await sweep_on(tenant, 60)
    assert not in_group(tenant, ADA)
