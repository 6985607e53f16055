"""Issue 26 "done when", through the real app (Azurite queues and tables, msgraph-sdk over HTTP to
the Graph emulator, whose dynamic groups evaluate their rules after a processing delay): a
guest onboarded with a ``companyName`` lands in the dynamic group whose rule reads it, a later
HR message changing it moves them out; a dynamic group on an allow-list is refused by name."""

from __future__ import annotations

import dataclasses

import pytest

from devstack.seeds import GROUP_FABRIKAM_GUESTS, sample_tenant
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

NEW = "newcomer@partner.example"
#: Entra's processing delay on the emulator's clock (seconds).
DELAY = 120.0


def members(stack: Stack, group_id: str) -> set[str]:
    with stack.graph.http() as http:
        response = http.get(f"/groups/{group_id}/members")
    assert response.status_code == 200, response.text
    return {member["id"] for member in response.json()["value"]}


def writing_profiles(stack: Stack, **settings: object) -> None:
    """The deployment with GUEST_PROFILE_FIELDS=companyName (so User.ReadWrite.All granted),
    and the emulator's dynamic groups processing after DELAY."""
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.ReadWrite.All"]
    stack.graph.control.reset(seed)
    stack.graph.control.set_faults(dynamic_membership_lag_seconds=DELAY)
    policy = dataclasses.replace(stack.settings.policy, profile_fields=frozenset({"companyName"}))
    changed = dataclasses.replace(stack.settings, policy=policy, **settings)
    stack.rt = dataclasses.replace(stack.rt, settings=changed)


async def test_a_guest_lands_in_the_dynamic_group_by_company_and_leaves_when_it_changes(
    stack: Stack,
) -> None:
    writing_profiles(stack)
    stack.send({"email": NEW, "profile": {"companyName": "Fabrikam"}})
    assert sorted(await stack.drain()) == ["done", "invited"]  # the invitation, the profile step
    guest = stack.graph.control.user(NEW)["id"]
    assert stack.graph.control.user(NEW)["companyName"] == "Fabrikam"
    assert guest not in members(stack, GROUP_FABRIKAM_GUESTS)  # Entra has not processed it yet
    stack.graph.control.advance_clock(DELAY + 1)
    assert guest in members(stack, GROUP_FABRIKAM_GUESTS)

    stack.send({"email": NEW, "profile": {"companyName": "Contoso"}})
    assert sorted(await stack.drain()) == ["already_onboarded", "done"]
    assert stack.graph.control.user(NEW)["companyName"] == "Contoso"
    stack.graph.control.advance_clock(DELAY + 1)
    assert guest not in members(stack, GROUP_FABRIKAM_GUESTS)
    row = await stack.rt.ledger.get(NEW)
    assert row is not None and dict(row.profile or {}) == {"companyName": "Contoso"}


async def test_a_dynamic_group_on_the_allow_list_is_refused_by_name_not_graphs_403(
    stack: Stack,
) -> None:
    writing_profiles(stack)
    policy = dataclasses.replace(
        stack.settings.policy,
        allowed_group_ids=frozenset(
            {*stack.settings.policy.allowed_group_ids, GROUP_FABRIKAM_GUESTS}
        ),
    )
    stack.rt = dataclasses.replace(
        stack.rt, settings=dataclasses.replace(stack.settings, policy=policy)
    )
    for address in (NEW, "second@partner.example"):
        stack.send({"email": address, "groups": [GROUP_FABRIKAM_GUESTS]})
    assert await stack.drain() == ["rejected", "rejected"]
    codes = [p["error"]["code"] for p in stack.poison(stack.settings.invitations_queue)]
    assert codes == ["DynamicGroupNotAssignable"] * 2
    requests = stack.graph.control.counters()["requests"]
    assert requests.get("GET /groups/{id}") == len(policy.group_allow_list)  # once per group
    assert requests.get("POST /invitations", 0) == 0
    assert requests.get("POST /groups/{id}/members/$ref", 0) == 0
