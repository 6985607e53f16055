"""Tests whose oracle is the harm, not the outcome label (issue 27): emails counted in the
tenant's mailbox, memberships and account states read from the directory. Each case is one
where a label could be right while the harm happened: a forged step for another user while the
guest's real step is still queued, a reminder for a guest who asked for no email, the bound on
disables and deletions per sweep, a reminder paused by Graph (a 429, a tenant-wide stop) and
delivered again. The same cases against the Graph emulator's mailbox and directory are in
tests/integration/test_harm_on_graph.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.changes import ReminderScheduled
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.errors import DirectoryError, InvitationsStopped, Throttled
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
GUESTS = [f"guest{i}@fabrikam.example" for i in range(5)]


async def test_a_forged_step_for_another_user_while_the_real_step_is_queued_adds_nobody(
    tenant: Tenant,
) -> None:
    """Ada's step for GROUP_X is queued, not done: the ledger records that step for her
    address. A forged step with her address and that group but Mallory's id must add nobody,
    and must not use up Ada's step: her real step still adds her."""
    mallory = tenant.directory.add_user("mallory@fabrikam.example", user_type="Guest")
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    [(real_step, _)] = tenant.outbox.assignments  # queued, not delivered yet
    forged = {"kind": "group", "email": ADA, "userId": mallory.id, "groupId": GROUP_X}
    assert await tenant.assign(forged) == "rejected"
    assert tenant.directory.members[GROUP_X] == set()
    assert await tenant.drain_assignments() == ["done"]
    assert tenant.directory.members[GROUP_X] == {real_step.userId}
    assert mallory.id not in tenant.directory.members[GROUP_X]


async def test_a_forged_step_for_another_guests_address_adds_nobody_either(
    tenant: Tenant,
) -> None:
    """Mallory is a guest onboarded without GROUP_X; Ada's GROUP_X step is queued. A step
    naming Mallory's address, her own id and GROUP_X asks for what nobody decided for her."""
    assert await tenant.invite({"email": "mallory@fabrikam.example"}) == "invited"
    mallory = await tenant.ledger.get("mallory@fabrikam.example")
    assert mallory is not None and mallory.user_id is not None
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    forged = {
        "kind": "group",
        "email": "mallory@fabrikam.example",
        "userId": mallory.user_id,
        "groupId": GROUP_X,
    }
    assert await tenant.assign(forged) == "rejected"
    await tenant.drain_assignments()
    assert mallory.user_id not in tenant.directory.members[GROUP_X]
    assert len(tenant.directory.members[GROUP_X]) == 1  # Ada, by her own step


async def no_email_guest(tenant: Tenant) -> None:
    message = {"email": ADA, "sendInvitationMessage": False}
    assert await tenant.invite(message) == "invited"
    assert tenant.directory.emails_to(ADA) == 0


async def test_a_guest_who_asked_for_no_email_gets_no_reminder_email(tenant: Tenant) -> None:
    await no_email_guest(tenant)
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        await tenant.sweep_and_remind()
        for number in (1, 2, 3):  # and forged reminders on the HR-writable queue
            await tenant.invite({"reminder": {"email": ADA, "number": number}}, f"f{number}")
    assert tenant.directory.emails_to(ADA) == 0


async def test_a_reminder_the_ledger_scheduled_for_a_no_email_guest_sends_no_email(
    tenant: Tenant,
) -> None:
    """Even when the row says reminder 1 is scheduled (a row from before the rule, a sweep of
    an older version), the guest's own choice decides: no email."""
    await no_email_guest(tenant)
    tenant.clock.now = T0 + timedelta(days=3)
    assert await tenant.ledger.update(ADA, ReminderScheduled(reminders_scheduled=1))
    await tenant.invite({"reminder": {"email": ADA, "number": 1}}, "r")
    assert tenant.directory.emails_to(ADA) == 0
    assert tenant.directory.calls.count("invite") == 1  # the first, silent, invitation only


async def all_expired(tenant: Tenant) -> list[str]:
    """Five guests invited, their whole schedule sent, pending past expiry; their user ids."""
    for i, email in enumerate(GUESTS):
        assert await tenant.invite({"email": email}, f"m{i}") == "invited"
    for day in (3, 7, 14):
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == ["sent"] * 5
    tenant.clock.now = T0 + timedelta(days=30)
    ids = [u.id for u in tenant.directory.users.values() if u.mail in GUESTS]
    assert len(ids) == 5
    return ids


def disabled(tenant: Tenant, ids: list[str]) -> set[str]:
    users = tenant.directory.users
    return {i for i in ids if i in users and users[i].account_enabled is False}


def deleted(tenant: Tenant, ids: list[str]) -> set[str]:
    return {i for i in ids if i not in tenant.directory.users}


async def test_disables_count_against_the_deletion_bound() -> None:
    tenant = make_tenant(EXPIRED_GUEST_ACTION="disable", MAX_DELETIONS_PER_RUN="3")
    ids = await all_expired(tenant)
    await run_reminder_sweep(rt=tenant.rt)
    assert len(disabled(tenant, ids)) == 3  # read from the directory, not the summary
    await run_reminder_sweep(rt=tenant.rt)
    assert len(disabled(tenant, ids)) == 5
    assert deleted(tenant, ids) == set()


async def test_disables_and_deletions_together_stay_within_the_bound() -> None:
    """disable-then-delete: three disabled on day 30 (two wait); on day 40 the three are due
    for deletion and the two for disabling: three accounts change, not five."""
    tenant = make_tenant(
        EXPIRED_GUEST_ACTION="disable-then-delete",
        DELETE_GRACE_DAYS="10",
        MAX_DELETIONS_PER_RUN="3",
    )
    ids = await all_expired(tenant)
    await run_reminder_sweep(rt=tenant.rt)
    first = disabled(tenant, ids)
    assert len(first) == 3 and deleted(tenant, ids) == set()
    tenant.clock.now = T0 + timedelta(days=40)
    await run_reminder_sweep(rt=tenant.rt)
    changed = deleted(tenant, ids) | (disabled(tenant, ids) - first)
    assert len(changed) == 3
    for day in (41, 42, 51):
        tenant.clock.now = T0 + timedelta(days=day)
        await run_reminder_sweep(rt=tenant.rt)
    assert deleted(tenant, ids) == set(ids)  # everyone, within the bound, in the end


def pauses() -> list[tuple[str, DirectoryError]]:
    return [
        ("429", Throttled("Too many requests", retry_after=5, code="TooManyRequests")),
        (
            "tenant stop",
            InvitationsStopped("Invitations are blocked", retry_after=0, code="Forbidden"),
        ),
    ]


@pytest.mark.parametrize(("why", "pause"), pauses(), ids=[w for w, _ in pauses()])
@pytest.mark.parametrize("number", [1, 2])
async def test_a_paused_reminder_delivered_again_is_sent_exactly_once(
    tenant: Tenant, why: str, pause: DirectoryError, number: int
) -> None:
    """Graph paused reminder ``number`` (nothing sent): the queue's copy, delivered again once
    the pause is over, sends it, and sends it once however often it comes back."""
    assert await tenant.invite({"email": ADA}) == "invited"
    for day in (3, 7)[: number - 1]:  # the reminders before it went out
        tenant.clock.now = T0 + timedelta(days=day)
        assert await tenant.sweep_and_remind() == ["sent"]
    tenant.clock.now = T0 + timedelta(days=(3, 7)[number - 1])
    await run_reminder_sweep(rt=tenant.rt)
    [reminder] = tenant.outbox.reminders
    assert reminder.number == number
    body = json.dumps({"reminder": reminder.model_dump()})
    emails = tenant.directory.emails_to(ADA)
    tenant.directory.fail_next["invite"] = [pause]
    assert await tenant.invite(body, "r") in {"throttled", "tenant_stop"}
    assert tenant.directory.emails_to(ADA) == emails
    [(copy, delay)] = tenant.outbox.requeued
    tenant.clock.now += timedelta(seconds=delay + 601)  # the pause (and any probe wait) is over
    assert await tenant.invite(copy, "r-again") == "sent"
    assert await tenant.invite(copy, "r-third") == "already_sent"
    assert tenant.directory.emails_to(ADA) == emails + 1
