"""Requests checked against Graph's published schema: each refusal with Graph's own status, code
and words (written out here from their sources, not imported from the emulator), and what Graph
accepts passes, dynamic groups included.

Sources of the wording: OData/odata.net ``SRResources.resx`` (the OData reader Graph's front end
uses), the directory's "does not exist as a declared property or extension property" and "is
read-only and cannot be set" (see graph_emulator/schema_checks.py for the citations).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from devstack.seeds import ALAN, GRACE, GROUP_PROJECT_X, PORTAL_SP, READER_ROLE, sample_tenant
from graph_emulator.calls import GraphRequest, GraphResponse
from graph_emulator.emulator import Emulator
from graph_emulator.errors import GraphError
from graph_emulator.schema_checks import check_request
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

REDIRECT = "https://myapps.microsoft.com"
DIRECTORY = "https://graph.microsoft.com/v1.0/directoryObjects/"


def invitation(**extra: Any) -> dict[str, Any]:
    return {
        "invitedUserEmailAddress": "zoe@fabrikam.example",
        "inviteRedirectUrl": REDIRECT,
        **extra,
    }


def error_of(response: Any) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def not_on_type(name: str, type_name: str) -> str:
    return (
        f"The property '{name}' does not exist on type '{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type."
    )


def not_declared(name: str) -> str:
    return f"Property '{name}' does not exist as a declared property or extension property."


# ---- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            invitation(invitedUserEmail="zoe@fabrikam.example"),
            (400, "BadRequest", not_on_type("invitedUserEmail", "microsoft.graph.invitation")),
        ),
        (
            invitation(invitedUserMessageInfo={"customisedMessageBody": "Hi"}),
            (
                400,
                "BadRequest",
                not_on_type("customisedMessageBody", "microsoft.graph.invitedUserMessageInfo"),
            ),
        ),
        (
            invitation(
                invitedUserMessageInfo={"ccRecipients": [{"emailAddress": {"adress": "a@b.c"}}]}
            ),
            (400, "BadRequest", not_on_type("adress", "microsoft.graph.emailAddress")),
        ),
        (
            invitation(sendInvitationMessage="yes"),
            (
                400,
                "BadRequest",
                "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'.",
            ),
        ),
        (
            invitation(inviteRedirectUrl=None),
            (
                400,
                "BadRequest",
                "A null value was found for the property named 'inviteRedirectUrl', which has "
                "the expected type 'Edm.String[Nullable=False]'. The expected type "
                "'Edm.String[Nullable=False]' does not allow null values.",
            ),
        ),
        (
            invitation(invitedUserMessageInfo="Hello"),
            (
                400,
                "BadRequest",
                "A node of type 'PrimitiveValue' was read from the JSON reader when trying to "
                "read the contents of the property 'invitedUserMessageInfo'; however, a "
                "'StartObject' node or 'PrimitiveValue' node with null value was expected.",
            ),
        ),
        (
            invitation(invitedUserSponsors={"id": GRACE}),
            (
                400,
                "BadRequest",
                "A node of type 'StartObject' was read from the JSON reader when trying to read "
                "the contents of the property 'invitedUserSponsors'; however, a 'StartArray' "
                "node was expected.",
            ),
        ),
    ],
    ids=[
        "unknown property",
        "unknown nested property",
        "unknown property deep in a collection",
        "string for a boolean",
        "null for a non-nullable property",
        "string for an object",
        "object for a collection",
    ],
)
def test_invitation_bodies_graph_refuses(
    graph: GraphEmulator, body: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    with graph.http() as http:
        response = http.post("/invitations", json=body)
    assert error_of(response) == expected
    # Refused before anything happened: no guest, no email.
    assert all(u["mail"] != "zoe@fabrikam.example" for u in graph.control.state()["users"])
    assert graph.control.mailbox() == []


def test_what_the_app_sends_with_an_invitation_is_accepted(graph: GraphEmulator) -> None:
    body = invitation(
        invitedUserDisplayName="Zoe",
        sendInvitationMessage=True,
        invitedUserMessageInfo={
            "customizedMessageBody": "Welcome",
            "messageLanguage": "en-US",
            "ccRecipients": [{"emailAddress": {"address": "pm@contoso.example"}}],
        },
        invitedUserSponsors=[{"id": GRACE}],
    )
    with graph.http() as http:
        response = http.post("/invitations", json=body)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"acountEnabled": False}, (400, "Request_BadRequest", not_declared("acountEnabled"))),
        (
            {"createdDateTime": "2020-01-01T00:00:00Z"},
            (
                400,
                "Request_BadRequest",
                "Property 'createdDateTime' is read-only and cannot be set.",
            ),
        ),
        (
            {"accountEnabled": "false"},
            (
                400,
                "BadRequest",
                "Cannot convert the literal 'false' to the expected type 'Edm.Boolean'.",
            ),
        ),
        (
            {"businessPhones": "+1 555 0100"},
            (
                400,
                "BadRequest",
                "A node of type 'PrimitiveValue' was read from the JSON reader when trying to "
                "read the contents of the property 'businessPhones'; however, a 'StartArray' "
                "node was expected.",
            ),
        ),
        (
            {"sponsors": [{"id": GRACE}]},
            (
                400,
                "Request_BadRequest",
                "Property 'sponsors' is a relationship: write it through 'sponsors/$ref', not in "
                "the request body.",
            ),
        ),
    ],
    ids=["unknown property", "read-only", "wrong type", "value for a collection", "relationship"],
)
def test_user_updates_graph_refuses(
    graph: GraphEmulator, body: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.ReadWrite.All"]
    graph.control.reset(seed)
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json=body)
    assert error_of(response) == expected
    assert graph.control.user(ALAN)["accountEnabled"] is True


def test_a_directory_extension_property_is_a_users_to_set(graph: GraphEmulator) -> None:
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.ReadWrite.All"]
    graph.control.reset(seed)
    name = "extension_0123456789abcdef0123456789abcdef_costCentre"
    with graph.http() as http:
        response = http.patch(f"/users/{ALAN}", json={name: "CC-12"})
    assert response.status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"@odata.id": DIRECTORY + ALAN, "id": ALAN},
            "A property with name 'id' was found when reading an entity reference link. No "
            "properties other than the entity reference link property with name 'odata.id' are "
            "allowed.",
        ),
        ({}, "The required property 'odata.id' for an entity reference link was not found."),
    ],
)
def test_reference_bodies_graph_refuses(
    graph: GraphEmulator, body: dict[str, Any], message: str
) -> None:
    with graph.http() as http:
        response = http.post(f"/groups/{GROUP_PROJECT_X}/members/$ref", json=body)
    assert error_of(response) == (400, "BadRequest", message)
    assert ALAN not in graph.control.state()["groups"][0]["members"]


def test_app_role_assignment_ids_must_be_guids(graph: GraphEmulator) -> None:
    body = {"principalId": "alan", "resourceId": PORTAL_SP, "appRoleId": READER_ROLE}
    with graph.http() as http:
        response = http.post(f"/servicePrincipals/{PORTAL_SP}/appRoleAssignedTo", json=body)
    assert error_of(response) == (
        400,
        "BadRequest",
        "Cannot convert the literal 'alan' to the expected type 'Edm.Guid'.",
    )


def test_an_action_parameter_the_operation_lacks(graph: GraphEmulator) -> None:
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.DeleteRestore.All"]
    graph.control.reset(seed)
    with graph.http() as http:
        http.delete(f"/users/{ALAN}")
        response = http.post(f"/directory/deletedItems/{ALAN}/restore", json={"newUpn": "x"})
        restored = http.post(
            f"/directory/deletedItems/{ALAN}/restore", json={"autoReconcileProxyConflict": True}
        )
    assert error_of(response) == (
        400,
        "BadRequest",
        "The parameter 'newUpn' in the request payload is not a valid parameter for the "
        "operation 'restore'.",
    )
    assert restored.status_code == 200


# ---- $select and $filter ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        (
            "/users",
            {"$select": "id,shoeSize"},
            (400, "Request_UnsupportedQuery", not_declared("shoeSize")),
        ),
        (
            "/users",
            {"$filter": "shoeSize eq 'x'"},
            (400, "Request_UnsupportedQuery", not_declared("shoeSize")),
        ),
        (
            "/users",
            {"$filter": "accountEnabled eq 'false'"},
            (
                400,
                "BadRequest",
                "A binary operator with incompatible types was detected. Found operand types "
                "'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'.",
            ),
        ),
        (
            f"/users/{ALAN}/appRoleAssignments",
            {"$filter": f"resourceId eq '{PORTAL_SP}'"},
            (
                400,
                "BadRequest",
                "A binary operator with incompatible types was detected. Found operand types "
                "'Edm.Guid' and 'Edm.String' for operator kind 'Equal'.",
            ),
        ),
    ],
    ids=["select", "filter property", "filter literal", "guid as a string"],
)
def test_queries_graph_refuses(
    graph: GraphEmulator, path: str, params: dict[str, str], expected: tuple[int, str, str]
) -> None:
    with graph.http() as http:
        response = http.get(path, params=params)
    assert error_of(response) == expected


def test_select_takes_any_property_graph_has(graph: GraphEmulator) -> None:
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["GroupMember.Read.All"]
    graph.control.reset(seed)
    with graph.http() as http:
        user = http.get(f"/users/{ALAN}", params={"$select": "id,department,birthday"}).json()
        group = http.get(f"/groups/{GROUP_PROJECT_X}", params={"$select": "id,membershipRule"})
    assert user["@odata.context"].endswith("#users(id,department,birthday)/$entity")
    assert (user["department"], user["birthday"]) == (None, "0001-01-01T00:00:00Z")
    assert group.status_code == 200
    assert set(group.json()) == {"@odata.context", "id", "membershipRule"}


# ---- what Graph accepts for groups (the dynamic groups routes use these bodies) ----------------


def request(method: str, path: str, body: Any) -> GraphRequest:
    return GraphRequest(method=method, path=path, query={}, headers={}, body=body, origin="")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/groups",
            {
                "displayName": "Fabrikam guests",
                "mailEnabled": False,
                "mailNickname": "fabrikam-guests",
                "securityEnabled": True,
                "groupTypes": ["DynamicMembership"],
                "membershipRule": '(user.userType -eq "Guest")',
                "membershipRuleProcessingState": "On",
                "owners@odata.bind": [DIRECTORY + GRACE],
            },
        ),
        ("PATCH", f"/groups/{GROUP_PROJECT_X}", {"membershipRuleProcessingState": "Paused"}),
        ("PATCH", f"/groups/{GROUP_PROJECT_X}", {"members@odata.bind": [DIRECTORY + ALAN]}),
        ("POST", f"/users/{ALAN}/revokeSignInSessions", {}),
        ("DELETE", f"/groups/{GROUP_PROJECT_X}/members/{ALAN}/$ref", None),
    ],
)
def test_bodies_graph_accepts_pass(method: str, path: str, body: Any) -> None:
    check_request(request(method, path, body))


def test_a_group_body_with_a_misspelled_rule_is_refused() -> None:
    with pytest.raises(GraphError) as refused:
        check_request(request("PATCH", f"/groups/{GROUP_PROJECT_X}", {"membershipRules": "x"}))
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        400,
        "Request_BadRequest",
        not_declared("membershipRules"),
    )


# ---- the rule breaks, the tests above fail (mutation) --------------------------------------------


Dispatch = Callable[[str, str, Any], Awaitable[GraphResponse]]


def in_process_emulator() -> Dispatch:
    """Calls through the emulator's one dispatch path, no HTTP server (for mutations)."""
    emulator = Emulator(sample_tenant(), "header")
    token, _ = emulator.tokens.issue(
        "https://graph.microsoft.com", emulator.tenant.client_id, emulator.tenant.tenant_id
    )

    async def dispatch(method: str, path: str, body: Any) -> GraphResponse:
        return await emulator.dispatch(
            GraphRequest(
                method=method,
                path=path,
                query={},
                headers={"Authorization": f"Bearer {token}"},
                body=body,
                origin="http://127.0.0.1",
            )
        )

    return dispatch


async def assert_unknown_property_refused(dispatch: Dispatch) -> None:
    """The rule: an invitation body naming a property invitation lacks is Graph's 400."""
    response = await dispatch("POST", "/invitations", invitation(invitedUserEmail="z@f.example"))
    assert response.status == 400, response.body
    assert response.body["error"]["message"] == not_on_type(
        "invitedUserEmail", "microsoft.graph.invitation"
    )


async def test_the_rule_holds_in_process() -> None:
    await assert_unknown_property_refused(in_process_emulator())


async def test_an_emulator_accepting_unknown_properties_fails_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("graph_emulator.emulator.check_request", lambda request: None)
    with pytest.raises(AssertionError):
        await assert_unknown_property_refused(in_process_emulator())


def test_in_process_dispatch_is_the_servers() -> None:
    # The mutation above patches the name the server's dispatch path calls.
    response = asyncio.run(in_process_emulator()("GET", f"/users/{ALAN}", None))
    assert response.status == 200
