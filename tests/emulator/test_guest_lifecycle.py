"""Look-up lag, invitation refusals, sponsors, enabling/disabling and deleting guests: over raw
HTTP (exact statuses, codes and messages) and through the real msgraph-sdk client."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.directory_object import DirectoryObject
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from devstack.seeds import (
    ALAN,
    BLOCKED_DOMAIN,
    GRACE,
    GRACE_UPN,
    GROUP_PARTNERS,
    GROUP_PROJECT_X,
    sample_tenant,
)
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

REDIRECT = "https://myapps.microsoft.com"
NOBODY = "0badc0de-0000-4000-8000-000000000000"
SUSPICIOUS = (
    "Invitations are blocked for this directory due to suspicious activity. "
    "Please contact Microsoft support for help."
)


def invitation(address: str, **extra: Any) -> dict[str, Any]:
    return {"invitedUserEmailAddress": address, "inviteRedirectUrl": REDIRECT, **extra}


def ref(kind: str, object_id: str) -> dict[str, str]:
    return {"@odata.id": f"https://graph.microsoft.com/v1.0/{kind}/{object_id}"}


def error_of(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def with_permissions(graph: GraphEmulator, *extra: str, without: tuple[str, ...] = ()) -> None:
    seed = sample_tenant(without_permissions=without)
    seed["identity"]["permissions"] += list(extra)
    graph.control.reset(seed)


async def sdk_error(awaitable: Any) -> ODataError:
    with pytest.raises(ODataError) as caught:
        await awaitable
    return caught.value


# ----- a. look-up lag --------------------------------------------------------------------------


def test_lookup_lag_hides_a_new_guest_from_lookups_but_not_from_a_second_invitation(
    graph: GraphEmulator,
) -> None:
    graph.control.set_faults(lookup_lag_seconds=60)
    lookup = {"$filter": "mail eq 'ada@fabrikam.example'"}
    with graph.http() as http:
        first = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()
        user_id = first["invitedUser"]["id"]
        hidden_list = http.get("/users", params=lookup).json()["value"]
        hidden_get = http.get(f"/users/{user_id}")
        hidden_upn = http.get("/users/ada_fabrikam.example%23EXT%23@contoso.onmicrosoft.com")
        again = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()
        seeded = http.get(f"/users/{ALAN}")
        graph.control.advance_clock(61)
        found = http.get("/users", params=lookup).json()["value"]
        fetched = http.get(f"/users/{user_id}")
    assert hidden_list == []
    assert hidden_get.status_code == 404 and hidden_upn.status_code == 404
    assert error_of(hidden_get)[1] == "Request_ResourceNotFound"
    assert again["invitedUser"]["id"] == user_id
    assert seeded.status_code == 200
    assert [u["id"] for u in found] == [user_id]
    assert fetched.status_code == 200
    assert len(graph.control.state()["users"]) == 3


def test_no_lookup_lag_by_default(graph: GraphEmulator) -> None:
    with graph.http() as http:
        user_id = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()[
            "invitedUser"
        ]["id"]
        assert http.get(f"/users/{user_id}").status_code == 200


async def test_sdk_sees_404_during_lookup_lag(graph_client: Any, graph: GraphEmulator) -> None:
    graph.control.set_faults(lookup_lag_seconds=60)
    invited = await graph_client.invitations.post(
        Invitation(invited_user_email_address="ada@fabrikam.example", invite_redirect_url=REDIRECT)
    )
    error = await sdk_error(graph_client.users.by_user_id(invited.invited_user.id).get())
    assert (error.response_status_code, error.error.code) == (404, "Request_ResourceNotFound")


# ----- b. invitation refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("suspiciousActivity", SUSPICIOUS),
        (
            "externalCollaborationDisabled",
            "Guest invitations not allowed for your company. "
            "Contact your company administrator for more details.",
        ),
        ("crossTenantAccess", "This invitation is blocked by cross-tenant access settings."),
    ],
)
def test_tenant_wide_refusals_switch_on_and_off(
    graph: GraphEmulator, block: str, message: str
) -> None:
    graph.control.set_invitation_policy(tenant_block=block)
    with graph.http() as http:
        refused = http.post("/invitations", json=invitation("ada@fabrikam.example"))
        # Re-inviting an existing guest is refused too.
        resend = http.post("/invitations", json=invitation("alan@fabrikam.example"))
        graph.control.set_invitation_policy()
        accepted = http.post("/invitations", json=invitation("ada@fabrikam.example"))
    assert error_of(refused) == (403, "Forbidden", message)
    assert error_of(resend) == (403, "Forbidden", message)
    assert accepted.status_code == 201


def test_domain_lists_and_cross_tenant_blocks_are_per_domain(graph: GraphEmulator) -> None:
    with graph.http() as http:
        seeded_block = http.post("/invitations", json=invitation(f"x@{BLOCKED_DOMAIN}"))
        graph.control.set_invitation_policy(
            denied_domains=["denied.example"], cross_tenant_blocked_domains=["partner.example"]
        )
        denied = http.post("/invitations", json=invitation("a@DENIED.example"))
        cross = http.post("/invitations", json=invitation("a@partner.example"))
        unblocked = http.post("/invitations", json=invitation(f"x@{BLOCKED_DOMAIN}"))
        graph.control.set_invitation_policy(allowed_domains=["fabrikam.example"])
        allowed = http.post("/invitations", json=invitation("b@fabrikam.example"))
        not_allowed = http.post("/invitations", json=invitation("b@other.example"))
    assert seeded_block.status_code == 400
    assert error_of(denied) == (
        400,
        "BadRequest",
        "The invitation to 'a@DENIED.example' is blocked by the tenant's B2B collaboration "
        "policy (external collaboration settings: domain 'denied.example' is on the deny list).",
    )
    assert error_of(cross)[:2] == (403, "Forbidden")
    assert "cross-tenant access settings" in error_of(cross)[2]
    assert unblocked.status_code == 201
    assert allowed.status_code == 201
    assert error_of(not_allowed)[:2] == (400, "BadRequest")
    assert "not on the allow list" in error_of(not_allowed)[2]


def test_policy_reads_back_and_reset_restores_the_seeds(graph: GraphEmulator) -> None:
    graph.control.set_invitation_policy(tenant_block="suspiciousActivity")
    assert graph.control.invitation_policy()["tenantBlock"] == "suspiciousActivity"
    graph.control.reset()
    assert graph.control.invitation_policy() == {
        "tenantBlock": None,
        "deniedDomains": [BLOCKED_DOMAIN],
        "allowedDomains": None,
        "crossTenantBlockedDomains": [],
    }


def test_an_unknown_block_is_refused_by_the_control_api(graph: GraphEmulator) -> None:
    with pytest.raises(Exception, match="400"):
        graph.control.set_invitation_policy(tenant_block="sometimes")


async def test_sdk_sees_the_refusal_as_odata_error(graph_client: Any, graph: GraphEmulator) -> None:
    graph.control.set_invitation_policy(tenant_block="suspiciousActivity")
    error = await sdk_error(
        graph_client.invitations.post(
            Invitation(
                invited_user_email_address="ada@fabrikam.example", invite_redirect_url=REDIRECT
            )
        )
    )
    assert (error.response_status_code, error.error.code, error.error.message) == (
        403,
        "Forbidden",
        SUSPICIOUS,
    )


# ----- c. sponsors -----------------------------------------------------------------------------


def test_invited_user_sponsors_by_reference_or_id_are_listed(graph: GraphEmulator) -> None:
    sponsors = [ref("users", GRACE), {"id": GROUP_PROJECT_X}]
    with graph.http() as http:
        invited = http.post(
            "/invitations", json=invitation("ada@fabrikam.example", invitedUserSponsors=sponsors)
        ).json()
        listed = http.get(f"/users/{invited['invitedUser']['id']}/sponsors").json()["value"]
    assert [(s["@odata.type"], s["id"]) for s in listed] == [
        ("#microsoft.graph.user", GRACE),
        ("#microsoft.graph.group", GROUP_PROJECT_X),
    ]
    assert graph.control.user("ada@fabrikam.example")["sponsors"] == [GRACE, GROUP_PROJECT_X]


def test_at_most_five_sponsors_and_only_known_ones(graph: GraphEmulator) -> None:
    six = [{"id": GRACE}] * 6
    with graph.http() as http:
        too_many = http.post(
            "/invitations", json=invitation("ada@fabrikam.example", invitedUserSponsors=six)
        )
        unknown = http.post(
            "/invitations",
            json=invitation(
                "ada@fabrikam.example", invitedUserSponsors=[{"id": GROUP_PARTNERS[:-1]}]
            ),
        )
    assert too_many.status_code == 400
    assert unknown.status_code == 404
    assert graph.control.mailbox() == [] and len(graph.control.state()["users"]) == 2


def test_adding_a_sponsor_needs_user_readwrite_all_and_refuses_an_existing_one(
    graph: GraphEmulator,
) -> None:
    with graph.http() as http:
        denied = http.post(f"/users/{ALAN}/sponsors/$ref", json=ref("users", GRACE))
    assert error_of(denied)[:2] == (403, "Authorization_RequestDenied")

    with_permissions(graph, "User.ReadWrite.All")
    with graph.http() as http:
        added = http.post(f"/users/{ALAN}/sponsors/$ref", json=ref("users", GRACE))
        again = http.post(f"/users/{ALAN}/sponsors/$ref", json=ref("directoryObjects", GRACE))
        listed = http.get(f"/users/{ALAN}/sponsors").json()["value"]
    assert added.status_code == 204
    assert error_of(again) == (
        400,
        "Request_BadRequest",
        "One or more added object references already exist for the following modified "
        "properties: 'sponsors'.",
    )
    assert [s["id"] for s in listed] == [GRACE]


def test_sponsor_resolution_by_upn_with_select(graph: GraphEmulator) -> None:
    select = {"$select": "id,userType,accountEnabled"}
    with graph.http() as http:
        by_upn = http.get(f"/users/{GRACE_UPN}", params=select)
        unknown = http.get("/users/nobody@contoso.onmicrosoft.com", params=select)
    body = by_upn.json()
    assert {k: body[k] for k in ("id", "userType", "accountEnabled")} == {
        "id": GRACE,
        "userType": "Member",
        "accountEnabled": True,
    }
    assert error_of(unknown)[:2] == (404, "Request_ResourceNotFound")


async def test_sdk_sponsors(graph_client: Any, graph: GraphEmulator) -> None:
    invited = await graph_client.invitations.post(
        Invitation(
            invited_user_email_address="ada@fabrikam.example",
            invite_redirect_url=REDIRECT,
            invited_user_sponsors=[DirectoryObject(id=GRACE)],
        )
    )
    user_id = invited.invited_user.id
    listed = await graph_client.users.by_user_id(user_id).sponsors.get()
    assert [s.id for s in listed.value] == [GRACE]

    params = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "userType", "accountEnabled"]
    )
    sponsor = await graph_client.users.by_user_id(GRACE_UPN).get(
        RequestConfiguration(query_parameters=params)
    )
    assert (sponsor.id, sponsor.user_type, sponsor.account_enabled) == (GRACE, "Member", True)

    with_permissions(graph, "User.ReadWrite.All")
    await graph_client.users.by_user_id(ALAN).sponsors.ref.post(
        ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/users/{GRACE}")
    )
    assert graph.control.user(ALAN)["sponsors"] == [GRACE]


# ----- d. disabling and deleting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [
        ((), False),
        (("User.EnableDisableAccount.All",), True),  # with the seed's User.Read.All
        (("User.ReadWrite.All",), True),
        (("Directory.ReadWrite.All",), True),
    ],
)
def test_disabling_needs_enable_disable_with_read_or_a_broader_permission(
    graph: GraphEmulator, extra: tuple[str, ...], allowed: bool
) -> None:
    # The sample tenant holds User.EnableDisableAccount.All (leavers are disabled by default).
    with_permissions(graph, *extra, without=("User.EnableDisableAccount.All",))
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json={"accountEnabled": False})
        shown = http.get(f"/users/{ALAN}", params={"$select": "accountEnabled"}).json()
    assert response.status_code == (204 if allowed else 403)
    assert shown["accountEnabled"] is (not allowed)


def test_enable_disable_without_a_read_permission_is_refused(graph: GraphEmulator) -> None:
    with_permissions(graph, "User.EnableDisableAccount.All", without=("User.Read.All",))
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json={"accountEnabled": False})
    assert error_of(response)[:2] == (403, "Authorization_RequestDenied")


def test_reenabling_and_other_properties(graph: GraphEmulator) -> None:
    with_permissions(graph, "User.EnableDisableAccount.All")
    with graph.http() as http:
        http.patch(f"/users/{ALAN}", json={"accountEnabled": False})
        enabled = http.patch(f"/users/{ALAN}", json={"accountEnabled": True})
        other = http.patch(f"/users/{ALAN}", json={"displayName": "Alan"})
        disabled = http.get("/users", params={"$filter": "accountEnabled eq false"})
    assert enabled.status_code == 204
    assert graph.control.user(ALAN)["accountEnabled"] is True
    # Any other property needs User.ReadWrite.All ("Update user"), not the enable/disable one.
    assert error_of(other)[:2] == (403, "Authorization_RequestDenied")
    assert disabled.json()["value"] == []


def test_profile_properties_need_user_read_write_all_and_read_back(graph: GraphEmulator) -> None:
    with_permissions(graph, "User.ReadWrite.All")
    profile = {"displayName": "Alan T.", "department": "Research", "jobTitle": None}
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json=profile)
        shown = http.get(f"/users/{ALAN}", params={"$select": "displayName,department,jobTitle"})
    assert response.status_code == 204
    assert {k: v for k, v in shown.json().items() if not k.startswith("@")} == profile


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [
        (("User-LifeCycleInfo.ReadWrite.All",), True),  # with the seed's User.Read.All
        (("User.ReadWrite.All",), False),  # "Higher privileged permissions: Not available."
        (("User.EnableDisableAccount.All",), False),
    ],
)
def test_employee_leave_date_needs_the_lifecycle_permission(
    graph: GraphEmulator, extra: tuple[str, ...], allowed: bool
) -> None:
    with_permissions(graph, *extra)
    leave = {"employeeLeaveDateTime": "2030-09-30T23:59:59Z"}
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json=leave)
        shown = http.get(f"/users/{ALAN}", params={"$select": "employeeLeaveDateTime"}).json()
    assert response.status_code == (204 if allowed else 403)
    assert shown["employeeLeaveDateTime"] == (leave["employeeLeaveDateTime"] if allowed else None)


@pytest.mark.parametrize(
    ("permission", "allowed"),
    [
        ("User.DeleteRestore.All", True),
        ("User.ReadWrite.All", True),
        ("Directory.ReadWrite.All", False),
    ],
)
def test_deletion_permissions(graph: GraphEmulator, permission: str, allowed: bool) -> None:
    with_permissions(graph, permission)
    with graph.http() as http:
        response = http.delete(f"/users/{ALAN}")
    assert response.status_code == (204 if allowed else 403)


def test_a_deleted_user_is_restorable_with_its_groups(graph: GraphEmulator) -> None:
    with_permissions(graph, "User.DeleteRestore.All")
    with graph.http() as http:
        http.delete(f"/users/{ALAN}")
        gone = http.get(f"/users/{ALAN}")
        deleted = graph.control.state()["deletedUsers"]
        restored = http.post(f"/directory/deletedItems/{ALAN}/restore")
        again = http.post(f"/directory/deletedItems/{ALAN}/restore")
        back = http.get(f"/users/{ALAN}")
    assert gone.status_code == 404
    assert [u["id"] for u in deleted] == [ALAN]
    assert restored.status_code == 200 and restored.json()["id"] == ALAN
    assert again.status_code == 404
    assert back.status_code == 200
    partners = next(g for g in graph.control.state()["groups"] if g["id"] == GROUP_PARTNERS)
    assert ALAN in partners["members"]


async def test_sdk_disables_and_deletes(graph_client: Any, graph: GraphEmulator) -> None:
    with_permissions(graph, "User.EnableDisableAccount.All", "User.DeleteRestore.All")
    await graph_client.users.by_user_id(ALAN).patch(User(account_enabled=False))
    assert graph.control.user(ALAN)["accountEnabled"] is False
    await graph_client.users.by_user_id(ALAN).delete()
    assert ALAN not in {u["id"] for u in graph.control.state()["users"]}
