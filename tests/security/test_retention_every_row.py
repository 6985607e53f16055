"""Retention for every row (issue 24, item 6): ``LEDGER_RETENTION_DAYS`` applies to every row not
written for that long, whatever its status (existing, expired, disabled, failed...): after 800
simulated days no row holds a name, an address or a message body. A person who comes back is
onboarded afresh: a guest this system had expired or disabled is invited again (enabled first),
one disabled by someone else is not enabled. Oracles: every field of every ledger row, the fake
tenant's emails and accounts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from guest_onboarding.domain.changes import Expired
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.errors import PermanentDirectoryError
from tests.integration.stack import Stack
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

BODY = "Welcome to the secret merger room."
NAME = "Ada Lovelace"
GUESTS = {
    "existing": "eve@fabrikam.example",  # a user who already existed
    "disabled": "dan@fabrikam.example",  # never redeemed: disabled at expiry
    "failed": "fay@fabrikam.example",  # Graph refused the invitation
}


def message(email: str) -> dict[str, str]:
    return {"email": email, "displayName": NAME, "customizedMessageBody": BODY}


def user_of(tenant: Tenant, email: str):  # type: ignore[no-untyped-def]
    return next(u for u in tenant.directory.users.values() if u.mail == email)


async def sweep_until(tenant: Tenant, day: int) -> None:
    """A sweep a day up to ``day``, as the timer would run it (reminders sent as they fall)."""
    start = (tenant.clock.now - T0).days
    for d in range(start + 1, day + 1):
        tenant.clock.now = T0 + timedelta(days=d)
        await tenant.sweep_and_remind()


async def lifecycle(**settings: str) -> Tenant:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="90", EXPIRED_GUEST_ACTION="disable", **settings)
    tenant.directory.add_user(GUESTS["existing"], state="Accepted")
    assert await tenant.invite(message(GUESTS["existing"]), "m1") == "existing"
    assert await tenant.invite(message(GUESTS["disabled"]), "m2") == "invited"
    refusal = PermanentDirectoryError("refused", code="BadRequest", status=400)
    tenant.directory.fail_next["invite"] = [refusal]
    assert await tenant.invite(message(GUESTS["failed"]), "m3") == "poisoned"
    return tenant


async def test_after_800_days_no_row_in_any_status_keeps_personal_data() -> None:
    tenant = await lifecycle()
    await sweep_until(tenant, 40)  # reminders, then expiry: disabled
    assert not user_of(tenant, GUESTS["disabled"]).account_enabled
    statuses = {e.email: e.status.value for e in tenant.ledger.rows.values()}
    assert statuses == {GUESTS["existing"]: "existing", GUESTS["disabled"]: "disabled",
                        GUESTS["failed"]: "failed"}  # fmt: skip
    tenant.clock.now = T0 + timedelta(days=800)
    await run_reminder_sweep(rt=tenant.rt)
    dump = repr(list(tenant.ledger.rows.values())).lower()
    for email in GUESTS.values():
        assert email not in dump and email.split("@")[0] not in dump
    assert NAME.lower() not in dump and BODY.lower() not in dump
    assert len(tenant.ledger.rows) == 3  # still counted, by a hash


async def test_a_person_disabled_here_who_comes_back_is_enabled_and_invited_afresh() -> None:
    tenant = await lifecycle()
    await sweep_until(tenant, 40)
    tenant.clock.now = T0 + timedelta(days=800)
    await run_reminder_sweep(rt=tenant.rt)  # retired
    before = tenant.directory.emails_to(GUESTS["disabled"])
    assert await tenant.invite(message(GUESTS["disabled"]), "back") == "invited"
    assert user_of(tenant, GUESTS["disabled"]).account_enabled
    assert tenant.directory.emails_to(GUESTS["disabled"]) == before + 1


async def test_a_person_expired_here_who_comes_back_is_invited_again() -> None:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="90")  # expiry without removal
    email = GUESTS["disabled"]
    assert await tenant.invite({"email": email}, "m") == "invited"
    await sweep_until(tenant, 40)
    tenant.clock.now = T0 + timedelta(days=800)
    await run_reminder_sweep(rt=tenant.rt)
    assert email not in tenant.ledger.rows
    before = tenant.directory.emails_to(email)
    assert await tenant.invite({"email": email}, "back") == "invited"
    assert tenant.directory.emails_to(email) == before + 1


async def test_a_user_disabled_by_someone_else_is_not_enabled_by_a_return() -> None:
    tenant = make_tenant(LEDGER_RETENTION_DAYS="90")
    email = GUESTS["disabled"]
    assert await tenant.invite({"email": email}, "m") == "invited"
    await sweep_until(tenant, 40)  # expired here, not disabled
    user = user_of(tenant, email)
    tenant.directory.users[user.id] = dataclasses.replace(user, account_enabled=False)  # admin
    tenant.clock.now = T0 + timedelta(days=800)
    await run_reminder_sweep(rt=tenant.rt)
    assert await tenant.invite({"email": email}, "back") == "existing"
    assert not user_of(tenant, email).account_enabled


async def test_another_disabled_account_with_the_address_is_not_enabled_by_a_return() -> None:
    """The retired record says this system disabled Dan's account; the disabled, pending user
    the address finds today is another one (Dan's deleted, a new one disabled by an admin):
    not for this system to enable (the record keeps a hash of the account it disabled)."""
    tenant = await lifecycle()
    await sweep_until(tenant, 40)
    tenant.clock.now = T0 + timedelta(days=800)
    await run_reminder_sweep(rt=tenant.rt)  # retired
    old = user_of(tenant, GUESTS["disabled"])
    del tenant.directory.users[old.id]
    other = tenant.directory.add_user(GUESTS["disabled"], state="PendingAcceptance")
    tenant.directory.users[other.id] = dataclasses.replace(other, account_enabled=False)
    assert await tenant.invite(message(GUESTS["disabled"]), "back") == "existing"
    assert not user_of(tenant, GUESTS["disabled"]).account_enabled


@pytest.mark.integration
async def test_on_the_table_an_expired_row_is_retired_and_its_guest_invited_afresh(
    stack: Stack,
) -> None:
    email = GUESTS["disabled"]
    stack.send({"email": email, "displayName": NAME, "customizedMessageBody": BODY})
    assert await stack.drain() == ["invited"]
    now = datetime.now(UTC)
    await stack.rt.ledger.update(email, Expired(expired_at=now, at=now))  # as the sweep does
    stack.rt.clock = lambda: now + timedelta(days=800)
    summary = await run_reminder_sweep(rt=stack.rt)
    assert summary.retired == 1
    rows = repr([e async for e in stack.rt.ledger.entries()]).lower()
    assert email not in rows and NAME.lower() not in rows and BODY.lower() not in rows
    record = await stack.rt.ledger.last_retired(email)
    assert record is not None and record.status == GuestStatus.EXPIRED
    stack.send({"email": email})
    assert await stack.drain() == ["invited"]  # afresh: a new invitation email
    assert len(stack.graph.control.mailbox(to=email)) == 2
