"""The profile (``PATCH /users/{id}``, which needs User.ReadWrite.All) is written only on guests
this app invited (review finding P1). An HR message naming a member of the tenant (even with
``ALLOW_MEMBERS``) or a guest someone else invited, with a profile, writes nothing: the step is
not queued, and a step forged or queued by an older version is refused before the PATCH (the
user read first must be a guest, the ledger row must say this app created the account). A
``null`` clears only an attribute this app set. Oracle: the attributes the fake directory holds
for each user, set here before the messages."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from devstack.seeds import sample_tenant
from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.invitation import PROFILE_STEP_KEY
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.profile_changes import ProfileRecorded
from guest_onboarding.internal_messages import ProfileUpdate
from tests.integration.stack import Stack
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

FIELDS = "employeeType,department"
CFO = "cfo@contoso.example"
BOB = "bob@fabrikam.example"
ADA = "ada@fabrikam.example"
CFO_ID = "0c0c0c0c-0000-4000-8000-00000000c0f0"
BOB_ID = "0b0b0b0b-0000-4000-8000-000000000b0b"
ESCALATION = {"employeeType": "Admin-Contractor", "department": None}


def tenant_with_others() -> tuple[Tenant, dict[str, dict[str, str]]]:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS, ALLOW_MEMBERS="true")
    cfo = t.directory.add_user(CFO, user_type="Member")
    bob = t.directory.add_user(BOB, state="Accepted")  # invited by someone else
    t.directory.profiles[cfo.id] = {"employeeType": "Employee", "department": "Finance"}
    t.directory.profiles[bob.id] = {"employeeType": "Partner", "department": "Sales"}
    return t, copy.deepcopy(t.directory.profiles)


async def test_no_profile_is_written_on_a_member_or_someone_elses_guest() -> None:
    t, before = tenant_with_others()
    for who in (CFO, BOB):
        await t.invite({"email": who, "profile": ESCALATION}, who)
        await t.invite({"email": who, "profile": ESCALATION}, who + "-again")  # onboarded branch
    outcomes = await t.drain_assignments()
    assert t.directory.profiles == before
    assert "update_profile" not in t.directory.calls
    assert t.poison_codes("guest-assignments") == []  # no profile step was even queued
    assert outcomes == []  # (no group, role or sponsor asked either)


async def test_a_forged_or_old_profile_step_is_refused_before_the_patch() -> None:
    """Rows as an older version left them: the profile recorded and its step queued for an
    existing user; the step (forged or old) is refused and nothing is written."""
    t, before = tenant_with_others()
    for who in (CFO, BOB):
        await t.invite({"email": who}, who)
        entry = await t.ledger.get(who)
        assert entry is not None and entry.status == GuestStatus.EXISTING and entry.user_id
        recorded = ProfileRecorded.stating(entry, {"employeeType": "Admin-Contractor"})
        assert recorded is not None
        await t.ledger.update(who, recorded)
        queued = StepsRecorded(steps={PROFILE_STEP_KEY: recorded.steps[PROFILE_STEP_KEY]})
        await t.ledger.update(who, queued)
        step = ProfileUpdate(email=who, userId=entry.user_id)
        await t.assign(step.model_dump_json())
    assert t.directory.profiles == before
    assert "update_profile" not in t.directory.calls
    assert len(t.poison_codes("guest-assignments")) == 2


async def test_a_guest_this_app_invited_who_became_a_member_is_not_written() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    await t.invite({"email": ADA, "profile": {"employeeType": "Contractor"}})
    entry = await t.ledger.get(ADA)
    assert entry is not None and entry.user_id
    user = t.directory.users[entry.user_id]
    t.directory.users[entry.user_id] = dataclasses.replace(user, user_type="Member")
    await t.drain_assignments()
    assert entry.user_id not in t.directory.profiles


async def test_a_null_clears_only_what_this_app_set() -> None:
    t = make_tenant(GUEST_PROFILE_FIELDS=FIELDS)
    await t.invite({"email": ADA, "profile": {"employeeType": "Contractor"}})
    await t.drain_assignments()
    entry = await t.ledger.get(ADA)
    assert entry is not None and entry.user_id
    assert t.directory.profiles[entry.user_id] == {"employeeType": "Contractor"}  # control
    t.directory.profiles[entry.user_id]["department"] = "Set by an administrator"
    await t.invite({"email": ADA, "profile": {"employeeType": None, "department": None}}, "m2")
    await t.drain_assignments()
    assert t.directory.profiles[entry.user_id] == {"department": "Set by an administrator"}


async def test_an_adopted_guest_who_redeemed_is_not_written() -> None:
    """Someone else's pending guest, adopted (``RESEND_UNTRACKED``) and redeemed since: the row
    says redeemed, but its history says this app never created the account."""
    t, before = tenant_with_others()
    bob = next(u for u in t.directory.users.values() if u.mail == BOB)
    t.ledger.rows[BOB] = LedgerEntry(
        email=BOB,
        status=GuestStatus.REDEEMED,
        user_id=bob.id,
        profile={"employeeType": "Admin-Contractor"},
        steps={PROFILE_STEP_KEY: StepStatus.QUEUED},
        history=(f"existing@{T0.isoformat()}", f"untracked@{T0.isoformat()}", "redeemed@x"),
    )
    await t.assign(ProfileUpdate(email=BOB, userId=bob.id).model_dump_json())
    assert t.directory.profiles == before
    assert t.poison_codes("guest-assignments") == ["NotInvitedHere"]


@pytest.mark.integration
async def test_on_the_emulator_a_member_and_someone_elses_guest_keep_their_attributes(
    stack: Stack,
) -> None:
    """The same attack through the real app: msgraph-sdk over HTTP to the Graph emulator."""
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.ReadWrite.All"]
    kept = {"employeeType": "Employee", "department": "Finance"}
    seed["users"] += [
        {"id": CFO_ID, "displayName": "The CFO", "userType": "Member", "mail": CFO, **kept},
        {
            "id": BOB_ID,
            "displayName": "Bob",
            "userType": "Guest",
            "mail": BOB,
            "externalUserState": "Accepted",
            **kept,
        },
    ]
    stack.graph.control.reset(seed)
    policy = dataclasses.replace(stack.settings.policy, profile_fields=frozenset(FIELDS.split(",")))
    settings = dataclasses.replace(stack.settings, policy=policy, allow_members=True)
    stack.rt = dataclasses.replace(stack.rt, settings=settings)
    before = {u: {f: stack.graph.control.user(u).get(f) for f in kept} for u in (CFO_ID, BOB_ID)}
    assert before == {CFO_ID: kept, BOB_ID: kept}
    for who in (CFO, BOB):
        stack.send({"email": who, "profile": ESCALATION})
    assert sorted(await stack.drain()) == ["existing", "existing"]
    after = {u: {f: stack.graph.control.user(u).get(f) for f in kept} for u in (CFO_ID, BOB_ID)}
    assert after == before
    assert stack.poison(stack.settings.assignments_queue) == []
