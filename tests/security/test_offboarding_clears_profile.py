"""Offboarding clears the profile this app set, so the dynamic groups that matched it drop the
leaver (``domain.profile.profile_to_clear``, issue 26's finding N2): on a guest this app
invited, every attribute this app wrote is cleared by the profile step; an attribute someone
else set, and every attribute of a guest someone else invited, is left alone. The clearing is
recorded with the offboarding's start, so a crash before it was queued is made good by the
redelivery. Oracle: the attributes the fake directory holds for each user (what a dynamic
group's rule reads), set here or by this app's own onboarding."""

from __future__ import annotations

import asyncio

from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.domain.profile_changes import ProfileRecorded
from tests.security.conftest import Tenant, make_tenant
from tests.security.test_offboarding import redelivered

FIELDS = "companyName,department"
ADA = "ada@fabrikam.example"
BOB = "bob@fabrikam.example"
PROFILE = {"companyName": "Fabrikam", "department": "Sales"}


async def invited_with_profile(t: Tenant) -> str:
    """Ada invited by this app with a profile, written; someone else sets her job title."""
    assert await t.invite({"email": ADA, "profile": PROFILE}) == "invited"
    await t.drain_assignments()
    row = await t.ledger.get(ADA)
    assert row is not None and row.user_id
    assert t.directory.profiles[row.user_id] == PROFILE  # this app wrote it
    t.directory.profiles[row.user_id]["jobTitle"] = "Engineer"  # not this app's
    return row.user_id


async def test_a_leaver_this_app_invited_loses_the_attributes_this_app_set() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    user_id = await invited_with_profile(t)

    assert await t.invite({"email": ADA, "action": "offboard"}, "leave") == "offboarding"
    await t.drain_assignments()

    assert t.directory.profiles[user_id] == {"jobTitle": "Engineer"}
    row = await t.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.OFFBOARDED
    assert t.poison_codes("guest-assignments") == []


async def test_a_crash_before_the_clearing_was_queued_is_made_good_by_the_redelivery() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    user_id = await invited_with_profile(t)
    assert await t.invite({"email": ADA, "action": "offboard"}, "leave") == "offboarding"
    t.outbox.assignments.clear()  # the process died after the row's write, before queueing

    await t.invite({"email": ADA, "action": "offboard"}, "leave")  # the queue delivers again
    await t.drain_assignments()

    assert t.directory.profiles[user_id] == {"jobTitle": "Engineer"}


async def test_the_clearing_step_run_twice_clears_once_and_touches_nothing_else() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    user_id = await invited_with_profile(t)
    assert await t.invite({"email": ADA, "action": "offboard"}, "leave") == "offboarding"
    steps = [s.model_dump_json() for s, _ in t.outbox.assignments]
    await t.drain_assignments()
    t.directory.profiles[user_id]["department"] = "Set by an administrator since"

    for body in steps:  # every step of the offboarding delivered again
        await t.assign(body)

    assert t.directory.profiles[user_id] == {
        "jobTitle": "Engineer",
        "department": "Set by an administrator since",
    }


async def test_a_guest_someone_else_invited_keeps_every_attribute() -> None:
    # Even with a profile on the row (an older version's): no clearing is queued, none refused.
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    bob = t.directory.add_user(BOB, state="Accepted")  # invited by someone else
    t.directory.profiles[bob.id] = dict(PROFILE)
    await t.invite({"email": BOB, "profile": {"companyName": "Contoso"}})
    await t.drain_assignments()
    row = await t.ledger.get(BOB)  # a row as an older version left it: a profile recorded
    assert row is not None and row.status == GuestStatus.EXISTING
    recorded = ProfileRecorded.stating(row, {"companyName": "Contoso"})
    assert recorded is not None
    await t.ledger.update(BOB, recorded)

    await t.invite({"email": BOB, "action": "offboard"}, "leave")
    await t.drain_assignments()

    assert t.directory.profiles[bob.id] == PROFILE
    assert "update_profile" not in t.directory.calls
    assert t.poison_codes("guest-assignments") == []


async def test_concurrent_deliveries_of_the_offboarding_and_its_steps_clear_the_profile() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    user_id = await invited_with_profile(t)
    leave = {"email": ADA, "action": "offboard"}
    names = [f"m{i}" for i in range(3)]
    results = await asyncio.gather(*(t.invite(leave, n) for n in names), return_exceptions=True)
    await redelivered(list(zip(results, names, strict=True)), lambda n: t.invite(leave, n))
    steps = sorted({s.model_dump_json() for s, _ in t.outbox.assignments})
    t.outbox.assignments.clear()

    copies = steps * 2
    results = await asyncio.gather(*(t.assign(b) for b in copies), return_exceptions=True)
    await redelivered(list(zip(results, copies, strict=True)), t.assign)
    while t.outbox.assignments:  # a copy that lost a race was put back
        await t.drain_assignments()

    assert t.directory.profiles[user_id] == {"jobTitle": "Engineer"}
    row = await t.ledger.get(ADA)
    assert row is not None and row.status == GuestStatus.OFFBOARDED
    assert t.poison_codes("guest-assignments") == []


async def test_a_leaver_who_comes_back_gets_the_profile_hr_sends_again() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    user_id = await invited_with_profile(t)
    await t.invite({"email": ADA, "action": "offboard"}, "leave")
    await t.drain_assignments()
    assert t.directory.profiles[user_id] == {"jobTitle": "Engineer"}

    back = {"email": ADA, "profile": {"companyName": "Fabrikam", "department": "Ops"}}
    assert await t.invite(back, "back") == "returned"
    await t.drain_assignments()

    assert t.directory.profiles[user_id] == {
        "jobTitle": "Engineer",
        "companyName": "Fabrikam",
        "department": "Ops",
    }
