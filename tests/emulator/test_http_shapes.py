"""Exact wire shapes over raw HTTP: error bodies, headers, paging, the token endpoint, faults
and the control API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from devstack.seeds import ALAN, GRACE
from devstack.seeds import GROUP_PROJECT_X as PROJECT_X
from graph_emulator.serializers import DEFAULT_USER_SELECT
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

REDIRECT = "https://myapps.microsoft.com"


def invitation(address: str, **extra: Any) -> dict[str, Any]:
    return {"invitedUserEmailAddress": address, "inviteRedirectUrl": REDIRECT, **extra}


def seed_with_guests(count: int) -> dict[str, Any]:
    return {"generatedPendingGuests": {"count": count, "domain": "pending.example"}}


# ----- errors and headers ----------------------------------------------------------------------


def test_error_body_and_request_id_headers(graph: GraphEmulator) -> None:
    with graph.http() as http:
        response = http.get(f"/users/{uuid.uuid4()}", headers={"client-request-id": "abc-123"})

    assert response.status_code == 404
    assert response.headers["client-request-id"] == "abc-123"
    request_id = response.headers["request-id"]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert error["code"] == "Request_ResourceNotFound"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["innerError"]["request-id"] == request_id
    assert error["innerError"]["client-request-id"] == "abc-123"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Access token is empty."),
        ("Bearer not-a-token", "IDX14100: JWT is not well formed, there are no dots (.)."),
        ("Bearer a.b.c", "Access token validation failure. Invalid signature."),
    ],
)
def test_bad_tokens_are_401(graph: GraphEmulator, authorization: str | None, message: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{graph.base_url}/users", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert response.json()["error"]["message"] == message


def test_token_for_another_resource_is_refused(graph: GraphEmulator) -> None:
    token = httpx.get(
        graph.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://storage.azure.com"},
        headers={"X-IDENTITY-HEADER": graph.identity_header},
    ).json()["access_token"]
    response = httpx.get(f"{graph.base_url}/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "Invalid audience" in response.json()["error"]["message"]


def test_unknown_segment_is_400(graph: GraphEmulator) -> None:
    with graph.http() as http:
        response = http.get("/contacts")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Resource not found for the segment 'contacts'."


# ----- managed identity ------------------------------------------------------------------------


def test_token_endpoint_shape_and_header_check(graph: GraphEmulator) -> None:
    params = {
        "api-version": "2019-08-01",
        "resource": "https://graph.microsoft.com",
        "client_id": "0f0f0f0f-0000-4000-8000-000000000000",
    }
    refused = httpx.get(graph.identity_endpoint, params=params)
    assert refused.status_code == 401

    answer = httpx.get(
        graph.identity_endpoint, params=params, headers={"X-IDENTITY-HEADER": graph.identity_header}
    ).json()
    assert set(answer) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert answer["token_type"] == "Bearer"
    assert answer["resource"] == "https://graph.microsoft.com"
    assert answer["client_id"] == params["client_id"]
    assert answer["expires_on"].isdigit()


def test_sync_managed_identity_credential_reaches_graph(graph_identity_env: GraphEmulator) -> None:
    from azure.identity import ManagedIdentityCredential

    credential = ManagedIdentityCredential()
    token = credential.get_token("https://graph.microsoft.com/.default").token
    response = httpx.get(
        f"{graph_identity_env.base_url}/groups/{PROJECT_X}/members",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert graph_identity_env.control.counters()["requests"]["GET /msi/token"] == 1


# ----- invitations -----------------------------------------------------------------------------


def test_invitation_response_shape(graph: GraphEmulator) -> None:
    with graph.http() as http:
        response = http.post("/invitations", json=invitation("ada@fabrikam.example"))
    assert response.status_code == 201
    body = response.json()
    assert {
        "id",
        "inviteRedeemUrl",
        "inviteRedirectUrl",
        "status",
        "invitedUser",
        "sendInvitationMessage",
        "resetRedemption",
    } <= set(body)
    assert body["status"] == "PendingAcceptance"
    assert body["sendInvitationMessage"] is False


def test_redeem_link_accepts_the_invitation(graph: GraphEmulator) -> None:
    with graph.http() as http:
        body = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()
    graph.control.advance_clock(3600)
    assert httpx.get(body["inviteRedeemUrl"]).status_code == 200

    user = next(u for u in graph.control.state()["users"] if u["id"] == body["invitedUser"]["id"])
    assert user["externalUserState"] == "Accepted"
    assert user["externalUserStateChangeDateTime"] > user["createdDateTime"]


# ----- users: select, filter, top, count, paging -----------------------------------------------


def test_default_property_set_and_select(graph: GraphEmulator) -> None:
    with graph.http() as http:
        default = http.get(f"/users/{ALAN}").json()
        selected = http.get(f"/users/{ALAN}", params={"$select": "id,externalUserState"}).json()
        unknown = http.get(f"/users/{ALAN}", params={"$select": "shoeSize"})
    assert set(default) - {"@odata.context"} == set(DEFAULT_USER_SELECT)
    assert "externalUserState" not in default
    assert set(selected) - {"@odata.context"} == {"id", "externalUserState"}
    assert unknown.status_code == 400


@pytest.mark.parametrize("top", ["0", "1000"])
def test_top_range(graph: GraphEmulator, top: str) -> None:
    with graph.http() as http:
        response = http.get("/users", params={"$top": top})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
    )


def test_default_page_is_100_and_next_link_is_absolute(graph: GraphEmulator) -> None:
    graph.control.reset(seed_with_guests(150))
    with graph.http() as http:
        first = http.get("/users", params={"$select": "id"}).json()
        assert len(first["value"]) == 100
        link = first["@odata.nextLink"]
        assert link.startswith(f"{graph.base_url}/users?")
        second = http.get(link).json()
    assert len(second["value"]) == 50
    assert "@odata.nextLink" not in second
    ids = [u["id"] for u in first["value"] + second["value"]]
    assert len(set(ids)) == 150


def test_count_needs_eventual_consistency(graph: GraphEmulator) -> None:
    graph.control.reset(seed_with_guests(30))
    params = {"$count": "true", "$filter": "externalUserState eq 'PendingAcceptance'", "$top": "10"}
    with graph.http() as http:
        plain = http.get("/users", params=params)
        counted = http.get("/users", params=params, headers={"ConsistencyLevel": "eventual"})
    assert plain.status_code == 400
    assert counted.json()["@odata.count"] == 30
    assert len(counted.json()["value"]) == 10
    assert "count" not in counted.json()["@odata.nextLink"].lower().split("?")[1]


def test_ne_is_an_advanced_query(graph: GraphEmulator) -> None:
    params = {"$filter": "userType ne 'Member'"}
    with graph.http() as http:
        refused = http.get("/users", params=params)
        served = http.get(
            "/users",
            params={**params, "$count": "true"},
            headers={"ConsistencyLevel": "eventual"},
        )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    assert [u["id"] for u in served.json()["value"]] == [ALAN]


def test_later_pages_of_an_advanced_query_need_no_headers(graph: GraphEmulator) -> None:
    graph.control.reset(seed_with_guests(15))
    with graph.http() as http:
        first = http.get(
            "/users",
            params={"$filter": "userType ne 'Member'", "$count": "true", "$top": "10"},
            headers={"ConsistencyLevel": "eventual"},
        ).json()
        second = http.get(first["@odata.nextLink"])
    assert first["@odata.count"] == 15
    assert second.status_code == 200
    assert len(second.json()["value"]) == 5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("mail eq 'GRACE@contoso.example'", [GRACE]),
        ("userType eq 'Guest' and creationType eq 'Invitation'", [ALAN]),
        ("mail eq 'grace@contoso.example' or mail eq 'alan@fabrikam.example'", [GRACE, ALAN]),
        ("userPrincipalName eq 'grace@contoso.onmicrosoft.com'", [GRACE]),
        ("mail eq 'o''brien@x.example'", []),
    ],
)
def test_filters(graph: GraphEmulator, expression: str, expected: list[str]) -> None:
    with graph.http() as http:
        response = http.get("/users", params={"$filter": expression})
    assert [u["id"] for u in response.json()["value"]] == expected


def test_filter_syntax_error_and_unsupported_property(graph: GraphEmulator) -> None:
    with graph.http() as http:
        syntax = http.get("/users", params={"$filter": "mail eq"})
        unsupported = http.get("/users", params={"$filter": "shoeSize eq 'x'"})
    assert syntax.status_code == 400
    assert syntax.json()["error"]["message"].startswith("Invalid filter clause")
    assert unsupported.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_listing_generated_guests_with_top_999(graph: GraphEmulator) -> None:
    graph.control.reset(
        {"generatedPendingGuests": {"count": 3000, "domain": "bulk.example", "createdDaysAgo": 5}}
    )
    pages = 0
    states: set[str] = set()
    ids: set[str] = set()
    url: str | None = "/users"
    params: dict[str, str] | None = {
        "$filter": "externalUserState eq 'PendingAcceptance'",
        "$select": "id,externalUserState,createdDateTime",
        "$top": "999",
    }
    with graph.http() as http:
        while url:
            body = http.get(url, params=params).json()
            pages += 1
            ids |= {u["id"] for u in body["value"]}
            states |= {u["externalUserState"] for u in body["value"]}
            url, params = body.get("@odata.nextLink"), None
    assert (pages, len(ids), states) == (4, 3000, {"PendingAcceptance"})


# ----- what the app never calls is not served -------------------------------------------------


def test_batch_and_group_patch_are_not_served(graph: GraphEmulator) -> None:
    bind = {"members@odata.bind": [f"https://graph.microsoft.com/v1.0/users/{ALAN}"]}
    with graph.http() as http:
        batch = http.post(
            "/$batch", json={"requests": [{"id": "1", "method": "GET", "url": "/users"}]}
        )
        patch = http.patch(f"/groups/{PROJECT_X}", json=bind)
    assert batch.status_code == 400
    assert batch.json()["error"]["message"] == "Resource not found for the segment '$batch'."
    assert patch.status_code == 405
    assert graph.control.counters()["requests"]["POST (unmatched)"] == 1


# ----- faults ----------------------------------------------------------------------------------


def test_injected_status_fault_has_graph_body(graph: GraphEmulator) -> None:
    graph.control.set_faults(errors=[{"endpoint": "GET /users", "status": 504, "count": 1}])
    with graph.http() as http:
        failed = http.get("/users")
        healed = http.get("/users")
    assert failed.status_code == 504
    assert failed.json()["error"]["code"] == "timeout"
    assert healed.status_code == 200


def test_fault_after_apply_leaves_the_write_done(graph: GraphEmulator) -> None:
    graph.control.set_faults(
        errors=[{"endpoint": "POST /invitations", "status": 500, "afterApply": True}]
    )
    with graph.http() as http:
        response = http.post("/invitations", json=invitation("ada@fabrikam.example"))
    assert response.status_code == 500
    assert "ada@fabrikam.example" in {u["mail"] for u in graph.control.state()["users"]}


def test_connection_reset_fault(graph: GraphEmulator) -> None:
    graph.control.set_faults(errors=[{"endpoint": "POST /invitations", "kind": "reset"}])
    with graph.http() as http, pytest.raises(httpx.TransportError):
        http.post("/invitations", json=invitation("ada@fabrikam.example"))
    assert len(graph.control.state()["users"]) == 2


def test_slow_fault_times_the_client_out_but_applies(graph: GraphEmulator) -> None:
    graph.control.set_faults(
        errors=[{"endpoint": "POST /invitations", "kind": "slow", "delayMs": 1500}]
    )
    with graph.http() as http, pytest.raises(httpx.ReadTimeout):
        http.post("/invitations", json=invitation("ada@fabrikam.example"), timeout=0.2)
    assert "ada@fabrikam.example" in {u["mail"] for u in graph.control.state()["users"]}


def test_fault_rate_is_deterministic_for_a_seed(graph: GraphEmulator) -> None:
    def statuses() -> list[int]:
        graph.control.set_faults(
            errors=[{"endpoint": "GET /groups/*", "rate": 0.5, "status": 503}], seed=7
        )
        with graph.http() as http:
            return [http.get(f"/groups/{PROJECT_X}/members").status_code for _ in range(20)]

    first, second = statuses(), statuses()
    assert first == second
    assert {200, 503} == set(first)


# ----- control API -----------------------------------------------------------------------------


def test_clock_drives_timestamps(graph: GraphEmulator) -> None:
    before = graph.control.now()
    after = graph.control.advance_clock(10 * 86400)
    with graph.http() as http:
        body = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()
    user = next(u for u in graph.control.state()["users"] if u["id"] == body["invitedUser"]["id"])
    assert after > before
    assert user["createdDateTime"] >= after
    graph.control.reset()
    assert graph.control.now() < after


def test_redeem_by_email_and_user_id(graph: GraphEmulator) -> None:
    with graph.http() as http:
        ada = http.post("/invitations", json=invitation("ada@fabrikam.example")).json()
        http.post("/invitations", json=invitation("bob@fabrikam.example"))
    assert graph.control.redeem(user_id=ada["invitedUser"]["id"])["externalUserState"] == "Accepted"
    assert graph.control.redeem(email="BOB@fabrikam.example")["externalUserState"] == "Accepted"


def test_reset_with_seed_then_startup_seed(graph: GraphEmulator) -> None:
    graph.control.reset({"tenant": {"domain": "other.onmicrosoft.com"}, "users": []})
    assert graph.control.state()["users"] == []
    graph.control.reset()
    assert {u["id"] for u in graph.control.state()["users"]} == {GRACE, ALAN}


def test_counter_keys(graph: GraphEmulator) -> None:
    with graph.http() as http:
        http.get("/users")
        http.get(f"/users/{ALAN}/appRoleAssignments")
        http.get(f"/groups/{PROJECT_X}/members")
        http.post("/invitations", json=invitation("ada@fabrikam.example"))
    counters = graph.control.counters()
    assert counters["requests"] == {
        "GET /msi/token": 1,
        "GET /users": 1,
        "GET /users/{id}/appRoleAssignments": 1,
        "GET /groups/{id}/members": 1,
        "POST /invitations": 1,
    }
    assert counters["writes"] == 1
    assert counters["throttled"] == 0
