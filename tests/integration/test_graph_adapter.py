"""GraphDirectory against the Graph emulator: real msgraph-sdk, real DefaultAzureCredential
(managed identity pointed at the emulator's token endpoint), real HTTP."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devstack.seeds import ALAN, GRACE, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PARTNERS as PARTNERS
from devstack.seeds import GROUP_PROJECT_X as PROJECT_X
from devstack.seeds import GROUP_ROLE_ASSIGNABLE as ROLE_ASSIGNABLE
from guest_onboarding import errors
from guest_onboarding.adapters.graph import GraphDirectory
from guest_onboarding.domain.invitation import Invitation
from tests.fixtures.graph_emulator import DEMO_SEED_PATH, GraphEmulator
from tests.support import graph_directory

pytestmark = pytest.mark.integration

UNKNOWN = "99999999-0000-4000-8000-999999999999"
REDIRECT = "https://myapps.microsoft.com"


@pytest.fixture
async def directory(graph_identity_env: GraphEmulator) -> AsyncIterator[GraphDirectory]:
    """The adapter as the composition root builds it: no credential passed, so
    DefaultAzureCredential finds the managed identity through IDENTITY_ENDPOINT/HEADER."""
    graph = graph_directory(graph_identity_env.base_url)
    yield graph
    await graph.aclose()


def requests_to(graph: GraphEmulator, key: str) -> int:
    count: int = graph.control.counters()["requests"].get(key, 0)
    return count


async def invite(directory: GraphDirectory, email: str) -> str:
    result = await directory.invite(email, Invitation(redirect_url=REDIRECT))
    return result.user_id


async def test_invite_then_find_and_get(directory: GraphDirectory, graph: GraphEmulator) -> None:
    request = Invitation(
        redirect_url=REDIRECT,
        display_name="Ada Lovelace",
        message_body="Welcome to Project X.",
        cc_recipient="sponsor@contoso.example",
    )
    result = await directory.invite("ada@fabrikam.example", request)

    (found,) = await directory.find_users("ADA@fabrikam.example")
    assert found.id == result.user_id
    assert found.mail == "ada@fabrikam.example"
    assert found.user_type == "Guest"
    assert found.external_user_state == "PendingAcceptance"
    assert found.state_changed_at is not None

    fetched = await directory.get_user(result.user_id)
    assert fetched == found
    assert await directory.find_users("nobody@fabrikam.example") == ()
    assert len(graph.control.mailbox(to="ada@fabrikam.example")) == 1


async def test_find_user_by_upn_and_quoted_address(directory: GraphDirectory) -> None:
    user_id = await invite(directory, "o'brien@fabrikam.example")
    (by_mail,) = await directory.find_users("o'brien@fabrikam.example")
    assert by_mail.id == user_id
    (grace,) = await directory.find_users("grace@contoso.onmicrosoft.com")
    assert grace.id == GRACE


async def test_reinvite_returns_the_same_user(directory: GraphDirectory) -> None:
    first = await invite(directory, "bob@fabrikam.example")
    assert await invite(directory, "bob@fabrikam.example") == first


async def test_invite_refused_address_is_invalid_request(directory: GraphDirectory) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        await invite(directory, "ada+x@fabrikam.example")
    assert caught.value.status == 400
    assert caught.value.request_id


async def test_add_member_then_duplicate_is_already_done(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    await directory.add_group_member(group_id=PARTNERS, user_id=GRACE)
    members = {g["id"]: g["members"] for g in graph.control.state()["groups"]}
    assert GRACE in members[PARTNERS]
    with pytest.raises(errors.AlreadyDone) as caught:
        await directory.add_group_member(group_id=PARTNERS, user_id=GRACE)
    assert caught.value.code == "Request_BadRequest"
    assert requests_to(graph, "GET /groups/{id}/members") == 0  # no probe on the "already" path


async def test_unknown_group_is_not_found_after_one_probe(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    with pytest.raises(errors.NotFound) as caught:
        await directory.add_group_member(group_id=UNKNOWN, user_id=GRACE)
    assert caught.value.request_id
    assert requests_to(graph, "POST /groups/{id}/members/$ref") == 1
    # The probe lists members: GET /groups/{id} needs a group read permission the app does not
    # hold (Microsoft's permissions table; the emulator refuses it with the sample's grants).
    assert requests_to(graph, "GET /groups/{id}/members") == 1
    assert requests_to(graph, "GET /groups/{id}") == 0


async def test_role_assignable_group_is_refused(directory: GraphDirectory) -> None:
    with pytest.raises(errors.Refused) as caught:
        await directory.add_group_member(group_id=ROLE_ASSIGNABLE, user_id=GRACE)
    assert caught.value.status == 403
    assert caught.value.code == "Authorization_RequestDenied"


@pytest.mark.parametrize("lag_status", [404, 400])
async def test_replication_lag_is_not_yet_replicated_then_succeeds(
    directory: GraphDirectory, graph: GraphEmulator, lag_status: int
) -> None:
    graph.control.set_faults(replication_lag_ms=400, replication_lag_status=lag_status)
    user_id = await invite(directory, f"lagging{lag_status}@fabrikam.example")

    with pytest.raises(errors.NotYetReplicated):
        await directory.add_group_member(group_id=PROJECT_X, user_id=user_id)
    with pytest.raises(errors.NotYetReplicated):
        await directory.assign_app_role(
            user_id=user_id, resource_id=PORTAL_SP, app_role_id=READER_ROLE
        )
    # What the queue does: come back later. Poll instead of asserting on timing.
    for _ in range(100):
        try:
            await directory.add_group_member(group_id=PROJECT_X, user_id=user_id)
            break
        except errors.NotYetReplicated:
            await asyncio.sleep(0.1)
    else:
        pytest.fail("the user never replicated")
    await directory.assign_app_role(user_id=user_id, resource_id=PORTAL_SP, app_role_id=READER_ROLE)
    members = {g["id"]: g["members"] for g in graph.control.state()["groups"]}
    assert user_id in members[PROJECT_X]


async def test_app_role_assign_duplicate_and_unknown_principal(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    await directory.assign_app_role(user_id=ALAN, resource_id=PORTAL_SP, app_role_id=READER_ROLE)
    with pytest.raises(errors.AlreadyDone):
        await directory.assign_app_role(
            user_id=ALAN, resource_id=PORTAL_SP, app_role_id=READER_ROLE
        )
    with pytest.raises(errors.NotFound):
        await directory.assign_app_role(user_id=ALAN, resource_id=UNKNOWN, app_role_id=READER_ROLE)
    assert requests_to(graph, "GET /servicePrincipals/{id}") == 1


async def test_throttled_write_is_raised_not_retried(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    graph.control.set_limits(writes_per_window=1, window_seconds=60)
    await invite(directory, "first@fabrikam.example")
    with pytest.raises(errors.Throttled) as caught:
        await invite(directory, "second@fabrikam.example")
    assert caught.value.retry_after > 0
    assert caught.value.code == "TooManyRequests"
    assert requests_to(graph, "POST /invitations") == 2  # the SDK did not retry the 429
    assert graph.control.counters()["throttled"] == 1


async def test_5xx_is_retried_quickly_in_process(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    graph.control.set_faults(errors=[{"endpoint": "GET /users/{id}", "status": 503, "count": 2}])
    user = await directory.get_user(GRACE)
    assert user is not None and user.id == GRACE
    assert requests_to(graph, "GET /users/{id}") == 3


async def test_invitation_5xx_is_not_retried_in_process(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    """Graph may have sent the email before failing: a retry here could send a second one, so
    the queue redelivers and the handler looks the address up first."""
    graph.control.set_faults(
        errors=[{"endpoint": "POST /invitations", "status": 504, "afterApply": True}]
    )
    with pytest.raises(errors.ServiceUnavailable) as caught:
        await invite(directory, "ada@fabrikam.example")
    assert caught.value.code == "timeout"
    assert requests_to(graph, "POST /invitations") == 1
    assert len(graph.control.mailbox(to="ada@fabrikam.example")) == 1


async def test_dropped_connection_is_service_unavailable(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    graph.control.set_faults(errors=[{"endpoint": "GET /users", "kind": "reset"}])
    with pytest.raises(errors.ServiceUnavailable):
        await directory.find_users("grace@contoso.example")


def demo_seed() -> dict[str, Any]:
    seed: dict[str, Any] = json.loads(Path(DEMO_SEED_PATH).read_text(encoding="utf-8"))
    return seed


async def test_delete_user(directory: GraphDirectory, graph: GraphEmulator) -> None:
    user_id = await invite(directory, "leaving@fabrikam.example")
    with pytest.raises(errors.Refused):  # the demo identity lacks User.ReadWrite.All
        await directory.delete_user(user_id)

    seed = demo_seed()
    seed["identity"]["permissions"].append("User.ReadWrite.All")
    graph.control.reset(seed)
    user_id = await invite(directory, "leaving@fabrikam.example")
    await directory.delete_user(user_id)
    assert await directory.get_user(user_id) is None
    with pytest.raises(errors.NotFound):
        await directory.delete_user(user_id)


async def test_pending_guests_pages_with_select(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    seed = demo_seed()
    seed["generatedPendingGuests"] = {"count": 2500, "createdDaysAgo": 5}
    graph.control.reset(seed)

    seen: set[str] = set()
    async for user in directory.pending_guests():
        assert user.external_user_state == "PendingAcceptance"
        assert user.mail and user.state_changed_at is not None
        assert user.user_type is None  # not $selected, so Graph does not return it
        seen.add(user.id)
    assert len(seen) == 2500
    assert requests_to(graph, "GET /users") == math.ceil(2500 / 999)


async def test_one_token_for_many_calls(directory: GraphDirectory, graph: GraphEmulator) -> None:
    """The credential is built once and caches its token across calls."""
    for _ in range(3):
        await directory.get_user(GRACE)
    await directory.find_users("grace@contoso.example")
    assert requests_to(graph, "GET /msi/token") == 1


async def test_update_profile_writes_and_clears_with_user_readwrite_all(
    directory: GraphDirectory, graph: GraphEmulator
) -> None:
    user_id = await invite(directory, "profiled@fabrikam.example")
    with pytest.raises(errors.Refused):  # the demo identity lacks User.ReadWrite.All
        await directory.update_profile(user_id=user_id, values={"companyName": "Fabrikam"})

    seed = demo_seed()
    seed["identity"]["permissions"].append("User.ReadWrite.All")
    graph.control.reset(seed)
    user_id = await invite(directory, "profiled@fabrikam.example")
    values = {"companyName": "Fabrikam", "department": "Research", "usageLocation": "GB"}
    await directory.update_profile(user_id=user_id, values=values)
    await directory.update_profile(user_id=user_id, values={**values, "department": None})
    shown = graph.control.user(user_id)
    assert (shown["companyName"], shown["department"], shown["usageLocation"]) == (
        "Fabrikam",
        None,
        "GB",
    )
