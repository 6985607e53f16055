"""The emulator's answers against Graph's published schema: every route's body conforms (names,
types, nullability, ``@odata.context``, ``@odata.nextLink``, ``@odata.type``), and a body that
would not conform becomes a 500 instead of reaching a test that would pass on it."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.seeds import (
    ALAN,
    GRACE,
    GROUP_PARTNERS,
    GROUP_PROJECT_X,
    PORTAL_SP,
    READER_ROLE,
    sample_tenant,
)
from graph_emulator import serializers
from graph_emulator.calls import GraphRequest, GraphResponse
from graph_emulator.emulator import Emulator
from graph_emulator.routes import ROUTES
from graph_reference import graph_schema
from graph_reference.conformance import Conformance

CONFORMANCE = Conformance(graph_schema())
DIRECTORY = "https://graph.microsoft.com/v1.0/directoryObjects/"
EVERY_PERMISSION = [
    "User.Invite.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "User.DeleteRestore.All",
    "GroupMember.ReadWrite.All",
    "GroupMember.Read.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
]


class InProcess:
    """The emulator's dispatch path without a server, with every permission the routes need."""

    def __init__(self, *, check_responses: bool = True) -> None:
        seed = sample_tenant()
        seed["identity"]["permissions"] = EVERY_PERMISSION
        seed["generatedPendingGuests"] = {"count": 3, "domain": "pending.example"}
        self.emulator = Emulator(seed, "header", check_responses=check_responses)
        self.token, _ = self.emulator.tokens.issue(
            "https://graph.microsoft.com",
            self.emulator.tenant.client_id,
            self.emulator.tenant.tenant_id,
        )

    async def call(self, method: str, path: str, body: Any = None, **query: str) -> GraphResponse:
        return await self.emulator.dispatch(
            GraphRequest(
                method=method,
                path=path,
                query=query,
                headers={"Authorization": f"Bearer {self.token}"},
                body=body,
                origin="http://127.0.0.1:8400",
            )
        )


#: One successful request per route of the emulator (route key -> method, path, body, query).
EXAMPLES: dict[str, tuple[str, str, Any, dict[str, str]]] = {
    "POST /invitations": (
        "POST",
        "/invitations",
        {
            "invitedUserEmailAddress": "zoe@fabrikam.example",
            "inviteRedirectUrl": "https://myapps.microsoft.com",
            "sendInvitationMessage": True,
            "invitedUserMessageInfo": {
                "ccRecipients": [{"emailAddress": {"address": "pm@contoso.example"}}]
            },
            "invitedUserSponsors": [{"id": GRACE}],
        },
        {},
    ),
    "GET /users": ("GET", "/users", None, {"$top": "2"}),
    "GET /users/{id}": ("GET", f"/users/{ALAN}", None, {"$select": "id,mail,externalUserState"}),
    "PATCH /users/{id}": ("PATCH", f"/users/{ALAN}", {"accountEnabled": False}, {}),
    "DELETE /users/{id}": ("DELETE", f"/users/{ALAN}", None, {}),
    "GET /users/{id}/sponsors": ("GET", f"/users/{ALAN}/sponsors", None, {}),
    "POST /users/{id}/revokeSignInSessions": (
        "POST",
        f"/users/{ALAN}/revokeSignInSessions",
        None,
        {},
    ),
    "POST /users/{id}/sponsors/$ref": (
        "POST",
        f"/users/{GRACE}/sponsors/$ref",
        {"@odata.id": f"https://graph.microsoft.com/v1.0/users/{ALAN}"},
        {},
    ),
    "GET /users/{id}/appRoleAssignments": ("GET", f"/users/{ALAN}/appRoleAssignments", None, {}),
    "POST /directory/deletedItems/{id}/restore": (
        "POST",
        f"/directory/deletedItems/{ALAN}/restore",
        None,
        {},
    ),
    "GET /groups": (
        "GET",
        "/groups",
        None,
        {"$filter": "groupTypes/any(c:c eq 'DynamicMembership')"},
    ),
    "GET /groups/{id}": ("GET", f"/groups/{GROUP_PROJECT_X}", None, {}),
    "GET /groups/{id}/members": (
        "GET",
        f"/groups/{GROUP_PROJECT_X}/members",
        None,
        {"$select": "id,mail,groupTypes"},
    ),
    "POST /groups/{id}/members/$ref": (
        "POST",
        f"/groups/{GROUP_PROJECT_X}/members/$ref",
        {"@odata.id": DIRECTORY + ALAN},
        {},
    ),
    "DELETE /groups/{id}/members/{id}/$ref": (
        "DELETE",
        f"/groups/{GROUP_PARTNERS}/members/{ALAN}/$ref",
        None,
        {},
    ),
    "GET /servicePrincipals/{id}": ("GET", f"/servicePrincipals/{PORTAL_SP}", None, {}),
    "GET /servicePrincipals(appId='{id}')": (
        "GET",
        "/servicePrincipals(appId='88888888-8888-8888-8888-888888888888')",
        None,
        {},
    ),
    "GET /servicePrincipals/{id}/appRoleAssignments": (
        "GET",
        f"/servicePrincipals/{PORTAL_SP}/appRoleAssignments",
        None,
        {},
    ),
    "GET /servicePrincipals/{id}/appRoleAssignedTo": (
        "GET",
        f"/servicePrincipals/{PORTAL_SP}/appRoleAssignedTo",
        None,
        {},
    ),
    "POST /servicePrincipals/{id}/appRoleAssignedTo": (
        "POST",
        f"/servicePrincipals/{PORTAL_SP}/appRoleAssignedTo",
        {"principalId": GRACE, "resourceId": PORTAL_SP, "appRoleId": READER_ROLE},
        {},
    ),
    # the assignment id is the one the POST above answers (made first by the test)
    "DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}": (
        "DELETE",
        f"/servicePrincipals/{PORTAL_SP}/appRoleAssignedTo/{{assignment}}",
        None,
        {},
    ),
}


def test_every_route_has_an_example() -> None:
    assert {route.key for route in ROUTES} == set(EXAMPLES)


@pytest.mark.parametrize("key", list(EXAMPLES))
async def test_every_route_answers_what_graphs_schema_describes(key: str) -> None:
    emulator = InProcess()
    if key == "POST /directory/deletedItems/{id}/restore":
        await emulator.call("DELETE", f"/users/{ALAN}")
    method, path, body, query = EXAMPLES[key]
    if "{assignment}" in path:
        _, made, grant, _ = EXAMPLES["POST /servicePrincipals/{id}/appRoleAssignedTo"]
        created = await emulator.call("POST", made, grant)
        path = path.replace("{assignment}", created.body["id"])
    response = await emulator.call(method, path, body, **query)
    assert 200 <= response.status < 300, response.body
    if response.body is not None:
        assert "@odata.context" in response.body
        assert [str(p) for p in CONFORMANCE.check_response(response.body)] == []


async def test_pages_carry_an_absolute_next_link_and_directory_objects_their_type() -> None:
    emulator = InProcess()
    page = await emulator.call("GET", "/users", None, **{"$top": "1", "$select": "id,mail"})
    members = await emulator.call("GET", f"/groups/{GROUP_PROJECT_X}/members")
    assert page.body["@odata.nextLink"].startswith("http://127.0.0.1:8400/v1.0/users?")
    assert page.body["@odata.context"].endswith("$metadata#users(id,mail)")
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members.body["value"])
    assert CONFORMANCE.check_response(page.body) == []


async def test_error_bodies_are_graphs() -> None:
    response = await InProcess().call("GET", "/users/0badc0de-0000-4000-8000-000000000000")
    assert response.status == 404
    assert set(response.body["error"]) == {"code", "message", "innerError"}


# ---- a misspelled property fails (mutation) ---------------------------------------------------


async def test_a_misspelled_property_in_an_answer_becomes_a_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        "graph_emulator.serializers.DEFAULT_USER_SELECT", ("id", "displayName", "mial")
    )
    response = await InProcess().call("GET", f"/users/{ALAN}")
    assert response.status == 500
    assert response.body["error"]["code"] == "EmulatorResponseNotConformant"
    assert "microsoft.graph.user has no property 'mial'" in response.body["error"]["message"]


async def test_the_same_misspelling_without_the_check_would_have_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the check exists for: unchecked, the emulator answers 200 and a test reading
    # "mail" with .get() sees None instead of failing.
    monkeypatch.setattr(
        "graph_emulator.serializers.DEFAULT_USER_SELECT", ("id", "displayName", "mial")
    )
    response = await InProcess(check_responses=False).call("GET", f"/users/{ALAN}")
    assert response.status == 200
    assert response.body.get("mail") is None


async def test_a_wrong_type_or_a_null_where_graph_never_sends_one_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(serializers.USER_PROPERTIES, "otherMails", lambda user: None)
    response = await InProcess().call("GET", f"/users/{ALAN}", None, **{"$select": "otherMails"})
    assert response.status == 500
    assert (
        "otherMails: null where Collection(Edm.String) is not nullable"
        in (response.body["error"]["message"])
    )
