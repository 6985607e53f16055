"""Every emulated endpoint and error case, driven through the real msgraph-sdk client with
tokens from DefaultAzureCredential via the emulator's managed-identity endpoint."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.invitation import Invitation
from msgraph.generated.models.invited_user_message_info import InvitedUserMessageInfo
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.users.item.app_role_assignments.app_role_assignments_request_builder import (
    AppRoleAssignmentsRequestBuilder,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from devstack.seeds import (
    ALAN,
    GRACE,
    GROUP_PARTNERS,
    GROUP_PROJECT_X,
    GROUP_ROLE_ASSIGNABLE,
    PORTAL_SP,
    READER_ROLE,
    sample_tenant,
)
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

PROJECT_X, PARTNERS, ROLE_ASSIGNABLE = GROUP_PROJECT_X, GROUP_PARTNERS, GROUP_ROLE_ASSIGNABLE
REDIRECT = "https://myapps.microsoft.com"


def directory_object(object_id: str) -> str:
    return f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}"


async def invite(client: Any, address: str, **kwargs: Any) -> Any:
    return await client.invitations.post(
        Invitation(invited_user_email_address=address, invite_redirect_url=REDIRECT, **kwargs)
    )


async def graph_error(awaitable: Any) -> ODataError:
    with pytest.raises(ODataError) as caught:
        await awaitable
    return caught.value


def users_query(**kwargs: Any) -> UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration:
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**kwargs)
    return UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(query_parameters=params)


# ----- invitations -----------------------------------------------------------------------------


async def test_invitation_creates_pending_guest(graph_client: Any, graph: GraphEmulator) -> None:
    invitation = await invite(graph_client, "ada@fabrikam.example", invited_user_display_name="Ada")

    assert invitation.status == "PendingAcceptance"
    assert invitation.send_invitation_message is False
    assert invitation.invite_redeem_url.startswith(graph.root_url)
    user = next(u for u in graph.control.state()["users"] if u["id"] == invitation.invited_user.id)
    assert user["userType"] == "Guest"
    assert user["creationType"] == "Invitation"
    assert user["externalUserState"] == "PendingAcceptance"
    assert user["mail"] == "ada@fabrikam.example"
    assert user["userPrincipalName"] == "ada_fabrikam.example#EXT#@contoso.onmicrosoft.com"
    assert user["createdDateTime"] == user["externalUserStateChangeDateTime"]
    assert graph.control.mailbox() == []  # sendInvitationMessage defaults to false


async def test_reinvite_returns_same_user_and_sends_another_email(
    graph_client: Any, graph: GraphEmulator
) -> None:
    info = InvitedUserMessageInfo(
        customized_message_body="Welcome to Project X.",
        message_language="fr-FR",
        cc_recipients=[Recipient(email_address=EmailAddress(address="sponsor@contoso.example"))],
    )
    first = await invite(
        graph_client,
        "ada@fabrikam.example",
        send_invitation_message=True,
        invited_user_message_info=info,
    )
    second = await invite(graph_client, "ADA@fabrikam.example", send_invitation_message=True)

    assert second.invited_user.id == first.invited_user.id
    mails = graph.control.mailbox(to="ada@fabrikam.example")
    assert len(mails) == 2
    assert mails[0]["cc"] == ["sponsor@contoso.example"]
    assert mails[0]["messageBody"] == "Welcome to Project X."
    assert mails[0]["language"] is None  # ignored when a customised body is given
    assert mails[0]["redirectUrl"] == REDIRECT
    assert mails[0]["userId"] == first.invited_user.id
    assert mails[0]["redeemUrl"] == first.invite_redeem_url


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("ada+test@fabrikam.example", "+"),
        ("ada@blocked.example", "policy"),
        ("not-an-address", "not valid"),
    ],
)
async def test_invitation_refuses_addresses_graph_refuses(
    graph_client: Any, graph: GraphEmulator, address: str, fragment: str
) -> None:
    error = await graph_error(invite(graph_client, address))

    assert error.response_status_code == 400
    assert error.error.code == "BadRequest"
    assert fragment in error.error.message
    assert graph.control.state()["users"] == graph.control.state()["users"][:2]


async def test_invitation_accepts_one_cc_recipient_only(graph_client: Any) -> None:
    info = InvitedUserMessageInfo(
        cc_recipients=[
            Recipient(email_address=EmailAddress(address=f"cc{i}@contoso.example"))
            for i in range(2)
        ]
    )
    error = await graph_error(
        invite(graph_client, "ada@fabrikam.example", invited_user_message_info=info)
    )
    assert error.response_status_code == 400


# ----- users -----------------------------------------------------------------------------------


async def test_address_lookup_is_case_insensitive_over_all_address_fields(
    graph_client: Any,
) -> None:
    address = "ALAN@Fabrikam.Example"
    lookup = (
        f"mail eq '{address}' or userPrincipalName eq '{address}' or "
        f"otherMails/any(x:x eq '{address}') or proxyAddresses/any(x:x eq 'smtp:{address}')"
    )
    page = await graph_client.users.get(request_configuration=users_query(filter=lookup))
    assert [u.id for u in page.value] == [ALAN]


async def test_external_user_state_only_when_selected(graph_client: Any) -> None:
    default = await graph_client.users.by_user_id(ALAN).get()
    assert default.external_user_state is None
    assert default.mail == "alan@fabrikam.example"

    query = users_query(
        filter="externalUserState eq 'Accepted' and userType eq 'Guest'",
        select=["id", "externalUserState", "externalUserStateChangeDateTime"],
    )
    page = await graph_client.users.get(request_configuration=query)
    assert [(u.id, u.external_user_state) for u in page.value] == [(ALAN, "Accepted")]
    assert page.value[0].external_user_state_change_date_time.year == 2024
    assert page.value[0].mail is None  # not selected


async def test_paging_follows_next_links_to_the_end(
    graph_client: Any, graph: GraphEmulator
) -> None:
    from msgraph.generated.models.user import User
    from msgraph_core.tasks.page_iterator import PageIterator

    graph.control.reset(
        {"generatedPendingGuests": {"count": 120, "domain": "pending.example", "createdDaysAgo": 5}}
    )
    first = await graph_client.users.get(
        request_configuration=users_query(
            filter="externalUserState eq 'PendingAcceptance'", select=["id"], top=50
        )
    )
    assert first.odata_next_link.startswith(graph.base_url)
    seen: list[str] = []

    def collect(user: User) -> bool:
        seen.append(user.id)
        return True

    iterator = PageIterator(first, graph_client.request_adapter)
    await iterator.iterate(collect)
    assert len(seen) == len(set(seen)) == 120


async def test_top_outside_range_is_refused(graph_client: Any) -> None:
    error = await graph_error(graph_client.users.get(request_configuration=users_query(top=1000)))
    assert error.response_status_code == 400
    assert error.error.message == (
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    )


async def test_unknown_user_is_404(graph_client: Any) -> None:
    error = await graph_error(graph_client.users.by_user_id(str(uuid.uuid4())).get())
    assert (error.response_status_code, error.error.code) == (404, "Request_ResourceNotFound")


async def test_delete_user_needs_user_readwrite_all(
    graph_client: Any, graph: GraphEmulator
) -> None:
    error = await graph_error(graph_client.users.by_user_id(ALAN).delete())
    assert (error.response_status_code, error.error.code) == (403, "Authorization_RequestDenied")

    seed = _demo_seed_with_permissions(graph, extra=["User.ReadWrite.All"])
    graph.control.reset(seed)
    await graph_client.users.by_user_id(ALAN).delete()
    state = graph.control.state()
    assert ALAN not in {u["id"] for u in state["users"]}
    partners = next(g for g in state["groups"] if g["id"] == PARTNERS)
    assert ALAN not in partners["members"]


# ----- groups ----------------------------------------------------------------------------------


async def test_add_member_then_duplicate_is_refused(
    graph_client: Any, graph: GraphEmulator
) -> None:
    invited = await invite(graph_client, "ada@fabrikam.example")
    members = graph_client.groups.by_group_id(PROJECT_X).members
    await members.ref.post(ReferenceCreate(odata_id=directory_object(invited.invited_user.id)))

    error = await graph_error(
        members.ref.post(ReferenceCreate(odata_id=directory_object(invited.invited_user.id)))
    )
    assert (error.response_status_code, error.error.code) == (400, "Request_BadRequest")
    assert error.error.message == (
        "One or more added object references already exist for the following modified "
        "properties: 'members'."
    )
    listed = await members.get()
    assert {m.id for m in listed.value} == {GRACE, invited.invited_user.id}


async def test_add_member_refuses_unknown_objects_and_foreign_hosts(graph_client: Any) -> None:
    unknown_group = await graph_error(
        graph_client.groups.by_group_id(str(uuid.uuid4())).members.ref.post(
            ReferenceCreate(odata_id=directory_object(ALAN))
        )
    )
    assert (unknown_group.response_status_code, unknown_group.error.code) == (
        404,
        "Request_ResourceNotFound",
    )
    members = graph_client.groups.by_group_id(PROJECT_X).members
    unknown_user = await graph_error(
        members.ref.post(ReferenceCreate(odata_id=directory_object(str(uuid.uuid4()))))
    )
    assert unknown_user.response_status_code == 404
    foreign = await graph_error(
        members.ref.post(
            ReferenceCreate(odata_id=f"http://127.0.0.1:1/v1.0/directoryObjects/{ALAN}")
        )
    )
    assert (foreign.response_status_code, foreign.error.code) == (400, "Request_BadRequest")


async def test_role_assignable_group_refuses_member_permission(graph_client: Any) -> None:
    error = await graph_error(
        graph_client.groups.by_group_id(ROLE_ASSIGNABLE).members.ref.post(
            ReferenceCreate(odata_id=directory_object(ALAN))
        )
    )
    assert (error.response_status_code, error.error.code) == (403, "Authorization_RequestDenied")


async def test_get_group_needs_a_group_read_permission(
    graph_client: Any, graph: GraphEmulator
) -> None:
    # Microsoft's permissions table and "Get group": GroupMember.Read.All (or a broader group
    # read), not GroupMember.ReadWrite.All alone.
    graph.control.reset(sample_tenant(without_permissions=["GroupMember.Read.All"]))
    with pytest.raises(ODataError) as refused:
        await graph_client.groups.by_group_id(PROJECT_X).get()
    assert refused.value.response_status_code == 403
    graph.control.reset(sample_tenant())  # the sample holds it (DETECT_DYNAMIC_GROUPS)
    group = await graph_client.groups.by_group_id(ROLE_ASSIGNABLE).get()
    assert group.is_assignable_to_role is True
    assert (await graph_client.groups.by_group_id(PROJECT_X).get()).display_name == (
        "Project X members"
    )


# ----- app roles -------------------------------------------------------------------------------


async def test_app_role_assignment_and_duplicate(graph_client: Any, graph: GraphEmulator) -> None:
    assigned_to = graph_client.service_principals.by_service_principal_id(
        PORTAL_SP
    ).app_role_assigned_to
    body = AppRoleAssignment(
        principal_id=uuid.UUID(ALAN),
        resource_id=uuid.UUID(PORTAL_SP),
        app_role_id=uuid.UUID(READER_ROLE),
    )
    created = await assigned_to.post(body)
    assert created.principal_type == "User"
    assert created.principal_display_name == "Alan Turing"
    assert created.resource_display_name == "Project X portal"
    assert created.created_date_time is not None

    error = await graph_error(assigned_to.post(body))
    assert (error.response_status_code, error.error.code) == (400, "Request_BadRequest")
    assert error.error.message == "Permission being assigned already exists on the object"

    listed = await assigned_to.get()
    assert [a.id for a in listed.value] == [created.id]
    params = AppRoleAssignmentsRequestBuilder.AppRoleAssignmentsRequestBuilderGetQueryParameters(
        filter=f"resourceId eq {PORTAL_SP}"
    )
    config = (
        AppRoleAssignmentsRequestBuilder.AppRoleAssignmentsRequestBuilderGetRequestConfiguration(
            query_parameters=params
        )
    )
    mine = await graph_client.users.by_user_id(ALAN).app_role_assignments.get(
        request_configuration=config
    )
    assert [a.id for a in mine.value] == [created.id]
    params.filter = f"resourceId eq {uuid.uuid4()}"
    assert (
        await graph_client.users.by_user_id(ALAN).app_role_assignments.get(
            request_configuration=config
        )
    ).value == []


async def test_app_role_assignment_unknown_objects(graph_client: Any) -> None:
    unknown_sp = str(uuid.uuid4())
    error = await graph_error(
        graph_client.service_principals.by_service_principal_id(
            unknown_sp
        ).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.UUID(ALAN),
                resource_id=uuid.UUID(unknown_sp),
                app_role_id=uuid.UUID(READER_ROLE),
            )
        )
    )
    assert (error.response_status_code, error.error.code) == (404, "Request_ResourceNotFound")
    error = await graph_error(
        graph_client.service_principals.by_service_principal_id(
            PORTAL_SP
        ).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.uuid4(),
                resource_id=uuid.UUID(PORTAL_SP),
                app_role_id=uuid.UUID(READER_ROLE),
            )
        )
    )
    assert error.response_status_code == 404


async def test_app_role_assignment_needs_application_read_all(
    graph_client: Any, graph: GraphEmulator
) -> None:
    graph.control.reset(_demo_seed_with_permissions(graph, remove=["Application.Read.All"]))
    error = await graph_error(
        graph_client.service_principals.by_service_principal_id(
            PORTAL_SP
        ).app_role_assigned_to.post(
            AppRoleAssignment(
                principal_id=uuid.UUID(ALAN),
                resource_id=uuid.UUID(PORTAL_SP),
                app_role_id=uuid.UUID(READER_ROLE),
            )
        )
    )
    assert (error.response_status_code, error.error.code) == (403, "Authorization_RequestDenied")
    assert error.error.message == "Insufficient privileges to complete the operation."
    assert graph.control.state()["servicePrincipals"][0]["assignments"] == []


async def test_get_service_principal(graph_client: Any) -> None:
    sp = await graph_client.service_principals.by_service_principal_id(PORTAL_SP).get()
    assert sp.display_name == "Project X portal"
    assert [(str(r.id), r.value) for r in sp.app_roles] == [(READER_ROLE, "Project.Reader")]


async def test_application_permissions_for_a_service_principal(
    graph_client: Any, graph: GraphEmulator
) -> None:
    """What `python -m infra.hooks.graph_grants` calls: the API found by appId, an app role
    granted to another service principal (a managed identity), read back from that principal."""
    seed = sample_tenant()
    identity_sp = "5a0b7c1e-0000-4000-8000-0000000000aa"
    seed["servicePrincipals"].append({"id": identity_sp, "displayName": "id-func"})
    graph.control.reset(seed)
    portal_app_id = seed["servicePrincipals"][0]["appId"]
    api = await graph_client.service_principals_with_app_id(portal_app_id).get()
    assert str(api.id) == PORTAL_SP

    granted = await graph_client.service_principals.by_service_principal_id(
        PORTAL_SP
    ).app_role_assigned_to.post(
        AppRoleAssignment(
            principal_id=uuid.UUID(identity_sp),
            resource_id=uuid.UUID(PORTAL_SP),
            app_role_id=uuid.UUID(READER_ROLE),
        )
    )
    assert granted.principal_type == "ServicePrincipal"
    held = await graph_client.service_principals.by_service_principal_id(
        identity_sp
    ).app_role_assignments.get()
    assert [(str(a.resource_id), str(a.app_role_id)) for a in held.value] == [
        (PORTAL_SP, READER_ROLE)
    ]
    missing = await graph_error(
        graph_client.service_principals_with_app_id(str(uuid.uuid4())).get()
    )
    assert missing.response_status_code == 404


# ----- replication lag, faults, batch ----------------------------------------------------------


async def test_replication_lag_hides_new_user_from_reference_writes(
    graph_client: Any, graph: GraphEmulator
) -> None:
    graph.control.set_faults(replication_lag_ms=400, replication_lag_status=400)
    invited = await invite(graph_client, "ada@fabrikam.example")
    reference = ReferenceCreate(odata_id=directory_object(invited.invited_user.id))
    members = graph_client.groups.by_group_id(PROJECT_X).members

    error = await graph_error(members.ref.post(reference))
    assert (error.response_status_code, error.error.code) == (400, "Request_BadRequest")
    assert "do not exist" in error.error.message

    deadline = time.monotonic() + 10
    while True:  # retrying after a short delay succeeds, as on Graph
        try:
            await members.ref.post(reference)
            break
        except ODataError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    assert invited.invited_user.id in _members(graph, PROJECT_X)


async def test_sdk_retries_injected_503_honouring_retry_after(
    graph_client: Any, graph: GraphEmulator
) -> None:
    graph.control.set_faults(
        errors=[
            {
                "endpoint": "GET /groups/*",
                "kind": "status",
                "status": 503,
                "retryAfter": 1,
                "count": 1,
            }
        ]
    )
    members = await graph_client.groups.by_group_id(PROJECT_X).members.get()
    assert members.value is not None
    assert graph.control.counters()["requests"]["GET /groups/{id}/members"] == 2


# ----- auth ------------------------------------------------------------------------------------


async def test_request_without_token_is_401(graph: GraphEmulator) -> None:
    """An auth provider whose allowed hosts exclude the emulator sends no token: 401."""
    from azure.identity.aio import DefaultAzureCredential
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient

    credential = DefaultAzureCredential()
    auth = AzureIdentityAuthenticationProvider(credential, allowed_hosts=["graph.microsoft.com"])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = graph.base_url
    client = GraphServiceClient(request_adapter=adapter)
    try:
        error = await graph_error(client.groups.by_group_id(PROJECT_X).get())
    finally:
        await credential.close()
    assert (error.response_status_code, error.error.code) == (401, "InvalidAuthenticationToken")


async def test_missing_permission_is_403(graph_client: Any, graph: GraphEmulator) -> None:
    graph.control.reset(_demo_seed_with_permissions(graph, remove=["User.Invite.All"]))
    error = await graph_error(invite(graph_client, "ada@fabrikam.example"))
    assert (error.response_status_code, error.error.code) == (403, "Authorization_RequestDenied")
    assert len(graph.control.state()["users"]) == 2


# ----- helpers ---------------------------------------------------------------------------------


def _members(graph: GraphEmulator, group_id: str) -> list[str]:
    group = next(g for g in graph.control.state()["groups"] if g["id"] == group_id)
    members: list[str] = group["members"]
    return members


def _demo_seed_with_permissions(
    graph: GraphEmulator, extra: list[str] | None = None, remove: list[str] | None = None
) -> dict[str, Any]:
    seed = sample_tenant(without_permissions=remove or [])
    seed["identity"]["permissions"] += extra or []
    return seed
