"""Dynamic groups in the emulator: members follow the rule as user properties change, after the
processing delay on the emulator's clock; a manual `$ref` add is refused as Graph refuses it.
Over raw HTTP (exact statuses, codes and messages) and through the real msgraph-sdk."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from devstack.seeds import ALAN, GRACE, GROUP_PARTNERS, sample_tenant
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

FABRIKAM_GUESTS = "dddddddd-0000-4000-8000-000000000001"
PAUSED = "dddddddd-0000-4000-8000-000000000002"
ENABLED_GUESTS = "dddddddd-0000-4000-8000-000000000003"
FABRIKAM_RULE = '(user.userType -eq "Guest") -and (user.companyName -eq "Fabrikam")'
ENABLED_GUESTS_RULE = 'user.userType -eq "guest" and user.accountEnabled -eq true'
DELAY = 300
REDIRECT = "https://myapps.microsoft.com"
INSUFFICIENT = "Insufficient privileges to complete the operation."


def dynamic(group_id: str, rule: str, state: str | None = "On", **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": group_id,
        "displayName": group_id[-1],
        "groupTypes": ["DynamicMembership"],
        "membershipRule": rule,
        **extra,
    }
    if state is not None:
        group["membershipRuleProcessingState"] = state
    return group


def tenant(*extra_groups: dict[str, Any], permissions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The sample tenant with Alan at Fabrikam, User.ReadWrite.All and three dynamic groups."""
    seed = sample_tenant()
    # GroupMember.Read.All: GET /groups/{id} needs a group read permission (graph_reference).
    seed["identity"]["permissions"] += ["User.ReadWrite.All", "GroupMember.Read.All", *permissions]
    for user in seed["users"]:
        if user["id"] == ALAN:
            user["companyName"] = "Fabrikam"
    seed["groups"] += [
        dynamic(FABRIKAM_GUESTS, FABRIKAM_RULE),
        dynamic(PAUSED, FABRIKAM_RULE, "Paused"),
        dynamic(ENABLED_GUESTS, ENABLED_GUESTS_RULE, None),
        *extra_groups,
    ]
    return seed


@pytest.fixture
def dynamic_tenant(graph: GraphEmulator) -> GraphEmulator:
    graph.control.reset(tenant())
    graph.control.set_faults(dynamic_membership_lag_seconds=DELAY)
    return graph


def members(graph: GraphEmulator, group_id: str) -> set[str]:
    with graph.http() as http:
        response = http.get(f"/groups/{group_id}/members")
    assert response.status_code == 200, response.text
    return {member["id"] for member in response.json()["value"]}


async def sdk_members(client: Any, group_id: str) -> set[str]:
    page = await client.groups.by_group_id(group_id).members.get()
    return {member.id for member in page.value}


# ----- groups as Graph shows them -------------------------------------------------------------


async def test_a_seeded_dynamic_group_shows_its_rule_and_the_users_it_matches(
    graph_client: Any, dynamic_tenant: GraphEmulator
) -> None:
    group = await graph_client.groups.by_group_id(FABRIKAM_GUESTS).get()
    assert group.group_types == ["DynamicMembership"]
    assert group.membership_rule == FABRIKAM_RULE
    assert group.membership_rule_processing_state == "On"
    assert await sdk_members(graph_client, FABRIKAM_GUESTS) == {ALAN}
    # No processing state in the seed means On; Grace is a member, not a guest.
    assert await sdk_members(graph_client, ENABLED_GUESTS) == {ALAN}
    # A group created paused has not been processed.
    assert await sdk_members(graph_client, PAUSED) == set()
    assigned = await graph_client.groups.by_group_id(GROUP_PARTNERS).get()
    assert (assigned.group_types, assigned.membership_rule) == ([], None)
    state = {g["id"]: g for g in dynamic_tenant.control.state()["groups"]}
    assert state[PAUSED]["membershipRuleProcessingState"] == "Paused"
    assert state[FABRIKAM_GUESTS]["members"] == [ALAN]


# ----- membership follows the properties, after the delay ---------------------------------------


async def test_a_profile_change_moves_a_guest_in_and_out_after_the_processing_delay(
    graph_client: Any, dynamic_tenant: GraphEmulator
) -> None:
    graph = dynamic_tenant
    invited = await graph_client.invitations.post(
        Invitation(invited_user_email_address="bea@fabrikam.example", invite_redirect_url=REDIRECT)
    )
    bea = invited.invited_user.id
    assert bea not in members(graph, ENABLED_GUESTS)
    graph.control.advance_clock(DELAY + 1)
    assert bea in await sdk_members(graph_client, ENABLED_GUESTS)
    assert bea not in members(graph, FABRIKAM_GUESTS)

    user = graph_client.users.by_user_id(bea)
    await user.patch(User(company_name="Fabrikam", department="Research"))
    params = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["companyName", "department"]
    )
    read = await user.get(RequestConfiguration(query_parameters=params))
    assert (read.company_name, read.department) == ("Fabrikam", "Research")
    assert bea not in members(graph, FABRIKAM_GUESTS)
    graph.control.advance_clock(DELAY - 5)
    assert bea not in members(graph, FABRIKAM_GUESTS)
    graph.control.advance_clock(6)
    assert bea in await sdk_members(graph_client, FABRIKAM_GUESTS)

    await user.patch(User(company_name="Contoso"))
    assert bea in members(graph, FABRIKAM_GUESTS)
    graph.control.advance_clock(DELAY + 1)
    assert bea not in await sdk_members(graph_client, FABRIKAM_GUESTS)
    assert members(graph, PAUSED) == set()


async def test_processing_reads_the_user_as_it_is_when_it_runs(
    graph_client: Any, dynamic_tenant: GraphEmulator
) -> None:
    graph = dynamic_tenant
    user = graph_client.users.by_user_id(ALAN)
    await user.patch(User(company_name="Contoso"))
    graph.control.advance_clock(DELAY / 2)
    await user.patch(User(company_name="Fabrikam"))
    graph.control.advance_clock(DELAY / 2 + 1)
    # The first change is processed now, and Alan is at Fabrikam again: he stays.
    assert members(graph, FABRIKAM_GUESTS) == {ALAN}

    await user.patch(User(account_enabled=False))
    graph.control.advance_clock(DELAY + 1)
    assert members(graph, ENABLED_GUESTS) == set()
    assert members(graph, FABRIKAM_GUESTS) == {ALAN}


def test_clearing_a_property_with_null_takes_the_user_out(dynamic_tenant: GraphEmulator) -> None:
    graph = dynamic_tenant
    with graph.http() as http:
        cleared = http.patch(f"/users/{ALAN}", json={"companyName": None})
    assert cleared.status_code == 204
    graph.control.advance_clock(DELAY + 1)
    assert members(graph, FABRIKAM_GUESTS) == set()
    assert graph.control.user(ALAN)["companyName"] is None


def test_a_deleted_user_leaves_at_once_and_a_restored_one_returns_when_processed(
    dynamic_tenant: GraphEmulator,
) -> None:
    graph = dynamic_tenant
    with graph.http() as http:
        assert http.delete(f"/users/{ALAN}").status_code == 204
        assert members(graph, FABRIKAM_GUESTS) == set()
        restored = http.post(f"/directory/deletedItems/{ALAN}/restore")
    assert restored.status_code == 200
    assert members(graph, FABRIKAM_GUESTS) == set()
    assert ALAN in members(graph, GROUP_PARTNERS)
    graph.control.advance_clock(DELAY + 1)
    assert members(graph, FABRIKAM_GUESTS) == {ALAN}


def test_without_a_delay_a_change_shows_at_the_next_call(graph: GraphEmulator) -> None:
    graph.control.reset(tenant())  # a reset clears the fault model: no delay
    with graph.http() as http:
        http.patch(f"/users/{ALAN}", json={"companyName": "Contoso"})
    assert members(graph, FABRIKAM_GUESTS) == set()


# ----- manual changes are refused ---------------------------------------------------------------


@pytest.mark.parametrize("extra", [(), ("Directory.ReadWrite.All", "Group.ReadWrite.All")])
def test_adding_a_member_to_a_dynamic_group_is_refused_as_graph_refuses_it(
    graph: GraphEmulator, extra: tuple[str, ...]
) -> None:
    graph.control.reset(tenant(permissions=extra))
    body = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{GRACE}"}
    with graph.http() as http:
        refused = http.post(f"/groups/{FABRIKAM_GUESTS}/members/$ref", json=body)
        paused = http.post(f"/groups/{PAUSED}/members/$ref", json=body)
        assigned = http.post(f"/groups/{GROUP_PARTNERS}/members/$ref", json=body)
    for response in (refused, paused):
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["message"]) == (
            403,
            "Authorization_RequestDenied",
            INSUFFICIENT,
        )
    assert assigned.status_code == 204
    assert members(graph, FABRIKAM_GUESTS) == {ALAN}
    assert members(graph, PAUSED) == set()


async def test_the_sdk_sees_the_refusal_as_an_odata_error(
    graph_client: Any, dynamic_tenant: GraphEmulator
) -> None:
    with pytest.raises(ODataError) as caught:
        await graph_client.groups.by_group_id(FABRIKAM_GUESTS).members.ref.post(
            ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{GRACE}")
        )
    assert caught.value.response_status_code == 403
    assert caught.value.error.code == "Authorization_RequestDenied"
    assert await sdk_members(graph_client, FABRIKAM_GUESTS) == {ALAN}


# ----- PATCH /users/{id}: profile properties ----------------------------------------------------


def test_profile_properties_need_user_readwrite_all(graph: GraphEmulator) -> None:
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.EnableDisableAccount.All"]
    graph.control.reset(seed)
    with graph.http() as http:
        profile = http.patch(f"/users/{ALAN}", json={"companyName": "Fabrikam"})
        enabled = http.patch(f"/users/{ALAN}", json={"accountEnabled": False})
    error = profile.json()["error"]
    assert (profile.status_code, error["code"], error["message"]) == (
        403,
        "Authorization_RequestDenied",
        INSUFFICIENT,
    )
    assert enabled.status_code == 204
    assert graph.control.user(ALAN)["companyName"] is None


@pytest.mark.parametrize(
    "body",
    [{"companyName": 7}, {"department": ["R&D"]}, {"accountEnabled": "no"}, {"surnam": "X"}],
)
def test_profile_values_are_strings_or_null_and_only_known_properties(
    graph: GraphEmulator, body: dict[str, Any]
) -> None:
    graph.control.reset(tenant())
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json=body)
    # The code is Graph's for the case: BadRequest (a value of the wrong type, the OData
    # reader) or Request_BadRequest (a property the directory's user does not declare).
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"BadRequest", "Request_BadRequest"}
    assert graph.control.user(ALAN)["companyName"] == "Fabrikam"


def test_every_profile_property_is_set_and_read_back(graph: GraphEmulator) -> None:
    graph.control.reset(tenant())
    profile = {
        "companyName": "Fabrikam",
        "department": "Research",
        "jobTitle": "Engineer",
        "employeeType": "Contractor",
        "employeeId": "HR-000123",
        "officeLocation": "B1",
        "usageLocation": "GB",
        "city": "London",
        "country": "United Kingdom",
    }
    with graph.http() as http:
        assert http.patch(f"/users/{ALAN}", json=profile).status_code == 204
        read = http.get(f"/users/{ALAN}", params={"$select": ",".join(profile)}).json()
    assert {name: read[name] for name in profile} == profile


# ----- seeds Graph would not have accepted ------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "says"),
    [
        (dynamic("dddddddd-0000-4000-8000-00000000000a", 'user.city -eq "a" -and'), "ends early"),
        (dynamic("dddddddd-0000-4000-8000-00000000000b", 'user.state -eq "WA"'), "state"),
        (
            dynamic("dddddddd-0000-4000-8000-00000000000c", 'user.city -eq "a"', members=[ALAN]),
            "come from its rule",
        ),
        (
            dynamic("dddddddd-0000-4000-8000-00000000000d", 'user.city -eq "a"', "Off"),
            "On or Paused",
        ),
        (
            {"id": "dddddddd-0000-4000-8000-00000000000e", "membershipRule": 'user.city -eq "a"'},
            "DynamicMembership",
        ),
        (
            dynamic(
                "dddddddd-0000-4000-8000-00000000000f",
                'user.city -eq "a"',
                isAssignableToRole=True,
            ),
            "role-assignable",
        ),
    ],
)
def test_a_seed_with_a_group_graph_would_refuse_is_refused(
    graph: GraphEmulator, group: dict[str, Any], says: str
) -> None:
    seed = tenant(group)
    response = graph.control._http.post("/reset", json=seed)
    assert response.status_code == 400
    assert says in response.json()["error"]
