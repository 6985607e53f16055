"""assign_fn re-validates every step it reads: someone who can write to the assignments queue
cannot grant what invite_fn did not decide (any app role of any service principal, Graph's own
included, to any principal)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.seeds import GROUP_PARTNERS, NOT_ALLOWED_GROUP, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from tests.security.conftest import Tenant

ADA = "ada@fabrikam.example"
#: Microsoft Graph's own service principal and RoleManagement.ReadWrite.Directory.
GRAPH_SP = "00000003-0000-0000-c000-000000000000"
ROLE_MANAGEMENT = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"
MALLORY = "00000000-0000-4000-8000-00000000beef"


async def ada_onboarded(tenant: Tenant) -> str:
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    assert await tenant.drain_assignments() == ["done"]
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.user_id
    return row.user_id


def forged(**fields: Any) -> dict[str, Any]:
    return {"kind": "group", "email": ADA, "userId": MALLORY, "groupId": GROUP_X, **fields}


@pytest.mark.parametrize(
    ("step", "code"),
    [
        ({"userId": "not-a-guid"}, "InvalidField"),
        ({"groupId": "../../directoryRoles"}, "InvalidField"),
        ({"groupId": NOT_ALLOWED_GROUP}, "GroupNotAllowed"),
        (
            {"kind": "appRole", "resourceId": GRAPH_SP, "appRoleId": ROLE_MANAGEMENT},
            "AppRoleNotAllowed",
        ),
        ({"email": "mallory@evil.example"}, "UnknownGuest"),
        ({}, "UserMismatch"),  # an allowed group, for another principal
        ({"extra": "field"}, "UnknownField"),
    ],
)
async def test_forged_steps_are_refused_before_graph(
    tenant: Tenant, step: dict[str, Any], code: str
) -> None:
    await ada_onboarded(tenant)
    writes_before = tenant.writes()
    body = forged(**step)
    if body["kind"] == "appRole":
        body.pop("groupId")
    assert await tenant.assign(body) == "rejected"
    assert tenant.poison_codes("guest-assignments") == [code]
    assert tenant.writes() == writes_before
    assert MALLORY not in tenant.directory.members[GROUP_X]


async def test_a_step_invite_fn_did_not_queue_is_refused_even_for_the_right_user(
    tenant: Tenant,
) -> None:
    user_id = await ada_onboarded(tenant)
    # GROUP_PARTNERS is on the allow-list, but nobody asked for it for Ada.
    step = forged(userId=user_id, groupId=GROUP_PARTNERS)
    assert await tenant.assign(step) == "rejected"
    assert tenant.poison_codes("guest-assignments") == ["UnknownStep"]
    assert user_id not in tenant.directory.members[GROUP_PARTNERS]
    row = await tenant.ledger.get(ADA)
    assert row is not None and set(row.steps) == {"g_" + GROUP_X.replace("-", "")}


async def test_a_replayed_step_for_a_recorded_role_is_harmless(tenant: Tenant) -> None:
    assert (
        await tenant.invite(
            {"email": ADA, "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}]}
        )
        == "invited"
    )
    step, _ = tenant.outbox.assignments[0]
    body = step.model_dump_json()
    assert await tenant.drain_assignments() == ["done"]
    assert await tenant.assign(body) == "already_done"  # a replay: no second Graph call
    assert tenant.directory.calls.count("assign_app_role") == 1
