"""GET /groups on the emulator: the list with `$filter=groupTypes/any(c:c eq 'DynamicMembership')`
(how the console's `plan` finds the tenant's dynamic groups), `$select`, paging, and the
permissions it takes. Over raw HTTP and through the real msgraph-sdk."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder

from devstack.seeds import (
    FABRIKAM_GUESTS_RULE,
    GROUP_FABRIKAM_GUESTS,
    GROUP_PARTNERS,
    GROUP_PROJECT_X,
    GROUP_ROLE_ASSIGNABLE,
    sample_tenant,
)
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

DYNAMIC = "groupTypes/any(c:c eq 'DynamicMembership')"


def group_reader_tenant(*extra_groups: dict[str, Any]) -> dict[str, Any]:
    """The sample tenant whose identity may read groups (GroupMember.Read.All), with more
    groups."""
    seed = sample_tenant()
    if "GroupMember.Read.All" not in seed["identity"]["permissions"]:
        seed["identity"]["permissions"].append("GroupMember.Read.All")
    seed["groups"] += list(extra_groups)
    return seed


@pytest.fixture
def readers(graph: GraphEmulator) -> GraphEmulator:
    graph.control.reset(group_reader_tenant())
    return graph


def extra_dynamic(index: int) -> dict[str, Any]:
    return {
        "id": f"aaaaaaaa-0000-4000-8000-{index:012d}",
        "displayName": f"Dynamic {index}",
        "groupTypes": ["DynamicMembership"],
        "membershipRule": f'user.department -eq "D{index}"',
    }


def test_the_filter_finds_the_dynamic_groups_only(readers: GraphEmulator) -> None:
    with readers.http() as http:
        everything = http.get("/groups")
        dynamic = http.get("/groups", params={"$filter": DYNAMIC})
    assert everything.status_code == 200, everything.text
    assert {g["id"] for g in everything.json()["value"]} == {
        GROUP_PROJECT_X,
        GROUP_PARTNERS,
        GROUP_ROLE_ASSIGNABLE,
        GROUP_FABRIKAM_GUESTS,
    }
    assert dynamic.status_code == 200, dynamic.text
    (found,) = dynamic.json()["value"]
    assert found["id"] == GROUP_FABRIKAM_GUESTS
    assert found["membershipRule"] == FABRIKAM_GUESTS_RULE
    assert found["groupTypes"] == ["DynamicMembership"]


def test_select_and_paging_follow_graph(graph: GraphEmulator) -> None:
    graph.control.reset(group_reader_tenant(*(extra_dynamic(n) for n in range(1, 6))))
    seen: list[dict[str, Any]] = []
    with graph.http() as http:
        response = http.get(
            "/groups",
            params={"$filter": DYNAMIC, "$select": "id,displayName,membershipRule", "$top": "2"},
        )
        while True:
            assert response.status_code == 200, response.text
            page = response.json()
            assert all(set(g) == {"id", "displayName", "membershipRule"} for g in page["value"])
            seen += page["value"]
            link = page.get("@odata.nextLink")
            if not link:
                break
            assert len(page["value"]) == 2
            response = http.get(link)
    assert [g["displayName"] for g in seen] == [
        "Fabrikam guests",
        *(f"Dynamic {n}" for n in range(1, 6)),
    ]


def test_a_property_groups_cannot_be_filtered_on_is_graphs_400(readers: GraphEmulator) -> None:
    with readers.http() as http:
        response = http.get("/groups", params={"$filter": "membershipRule eq 'x'"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_listing_groups_needs_a_group_read_permission(graph: GraphEmulator) -> None:
    # The app's GroupMember.ReadWrite.All writes members; Microsoft's table does not list it
    # for reading groups.
    seed = sample_tenant(without_permissions=["GroupMember.Read.All"])
    graph.control.reset(seed)
    with graph.http() as http:
        response = http.get("/groups", params={"$filter": DYNAMIC})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"


async def test_the_sdk_reads_the_dynamic_groups(graph_client: Any, readers: GraphEmulator) -> None:
    query = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
        filter=DYNAMIC, select=["id", "displayName", "membershipRule", "groupTypes"]
    )
    page = await graph_client.groups.get(RequestConfiguration(query_parameters=query))
    assert [(g.id, g.membership_rule) for g in page.value] == [
        (GROUP_FABRIKAM_GUESTS, FABRIKAM_GUESTS_RULE)
    ]
