"""invite_fn and assign_fn through the real adapters: msgraph-sdk against the Graph emulator,
the ledger and queues on Azurite. Graph call counts come from the emulator's counters."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.changes import Change, Invited, Removed
from guest_onboarding.domain.invitation import app_role_step_key as role_step
from guest_onboarding.domain.invitation import group_step_key as group_step
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.entrypoints import handle_invitation_message
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

ADA = {
    "email": "ada@fabrikam.example",
    "displayName": "Ada Lovelace",
    "accessProfiles": ["fabrikam-project-x"],
    "groups": [GROUP_PARTNERS],
    "redirectUrl": "https://projectx.fabrikam.example/welcome",
    "externalId": "HR-000123",
}


def graph_calls(stack: Stack) -> dict[str, int]:
    """Requests per Graph endpoint (the token endpoint is not Graph)."""
    counts: dict[str, int] = stack.graph.control.counters()["requests"]
    return {k: v for k, v in counts.items() if "/msi/" not in k}


def user_by_mail(state: dict[str, Any], email: str) -> dict[str, Any]:
    return next(u for u in state["users"] if (u["mail"] or "").lower() == email)


def members(state: dict[str, Any], group_id: str) -> set[str]:
    return set(next(g for g in state["groups"] if g["id"] == group_id)["members"])


def role_holders(state: dict[str, Any]) -> set[tuple[str, str, str]]:
    sp = next(s for s in state["servicePrincipals"] if s["id"] == PORTAL_SP)
    return {(a["principalId"], a["resourceId"], a["appRoleId"]) for a in sp["assignments"]}


async def test_new_guest_one_email_exact_state_and_minimal_graph_calls(stack: Stack) -> None:
    stack.send(ADA)
    outcomes = await stack.drain()
    assert sorted(outcomes) == ["done", "done", "done", "invited"]

    mail = stack.graph.control.mailbox(to="ada@fabrikam.example")
    assert len(mail) == 1
    assert mail[0]["redirectUrl"] == "https://projectx.fabrikam.example/welcome"
    state = stack.graph.control.state()
    ada = user_by_mail(state, "ada@fabrikam.example")
    assert ada["userType"] == "Guest" and ada["externalUserState"] == "PendingAcceptance"
    assert ada["id"] in members(state, GROUP_X) and ada["id"] in members(state, GROUP_PARTNERS)
    assert role_holders(state) >= {(ada["id"], PORTAL_SP, READER_ROLE)}

    requests = graph_calls(stack)
    assert requests == {
        "GET /users": 1,
        "POST /invitations": 1,
        "POST /groups/{id}/members/$ref": 2,
        "POST /servicePrincipals/{id}/appRoleAssignedTo": 1,
        # The process's one read of each allow-listed group (dynamic groups, handlers/groups.py).
        "GET /groups/{id}": 2,
    }
    row = await stack.rt.ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED and row.user_id == ada["id"]
    assert row.steps == {
        group_step(GROUP_X): "done",
        group_step(GROUP_PARTNERS): "done",
        role_step(PORTAL_SP, READER_ROLE): "done",
    }
    assert row.invitation is not None
    assert row.invitation.redirect_url == "https://projectx.fabrikam.example/welcome"


async def test_same_message_three_times_and_concurrently(stack: Stack) -> None:
    for _ in range(3):
        stack.send(ADA)
    # three concurrent deliveries of the same message, as three instances would make them
    bodies = [json.dumps(ADA)] * 3
    results = await asyncio.gather(
        *(
            handle_invitation_message(body=b, message_id=f"copy-{i}", rt=stack.rt)
            for i, b in enumerate(bodies)
        )
    )
    assert results.count("invited") == 1
    outcomes = await stack.drain(rounds=60)
    assert "error" not in outcomes and "poisoned" not in outcomes
    assert len(stack.graph.control.mailbox(to="ada@fabrikam.example")) == 1
    state = stack.graph.control.state()
    ada = user_by_mail(state, "ada@fabrikam.example")
    assert ada["id"] in members(state, GROUP_X) and ada["id"] in members(state, GROUP_PARTNERS)
    assert stack.poison(stack.settings.invitations_queue) == []
    assert stack.poison(stack.settings.assignments_queue) == []


@pytest.mark.parametrize(("email", "state_before"), [("alan@fabrikam.example", "Accepted")])
async def test_existing_guest_gets_no_email_only_missing_access(
    stack: Stack, email: str, state_before: str | None
) -> None:
    """(A member of the tenant is refused instead: tests/security/test_members_refused.py.)"""
    before = user_by_mail(stack.graph.control.state(), email)
    assert before["externalUserState"] == state_before
    stack.send(
        {"email": email, "accessProfiles": ["fabrikam-project-x"], "groups": [GROUP_PARTNERS]}
    )
    outcomes = await stack.drain()
    assert "existing" in outcomes
    assert stack.graph.control.mailbox(to=email) == []
    state = stack.graph.control.state()
    assert before["id"] in members(state, GROUP_X) and before["id"] in members(
        state, GROUP_PARTNERS
    )
    assert (before["id"], PORTAL_SP, READER_ROLE) in role_holders(state)
    # the group the user was already in answered "already there": success, not poison
    assert outcomes.count("already_done") == 1
    assert stack.poison(stack.settings.assignments_queue) == []


async def test_existing_pending_guest_gets_no_second_email(stack: Stack) -> None:
    stack.send({"email": "pat@fabrikam.example"})
    await stack.drain()
    await stack.rt.ledger.update("pat@fabrikam.example", Removed(at=datetime.now(UTC)))
    stack.send({"email": "pat@fabrikam.example", "groups": [GROUP_PARTNERS]})
    assert "existing" in await stack.drain()
    assert len(stack.graph.control.mailbox(to="pat@fabrikam.example")) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("this is not json", "InvalidJson"),
        (json.dumps({"email": "a@fabrikam.example", "group": [GROUP_X]}), "UnknownField"),
        (json.dumps({"displayName": "Nobody"}), "MissingField"),
        (json.dumps({"email": "ada+test@fabrikam.example"}), "ForbiddenCharacter"),
        (json.dumps({"email": "a@blocked.example"}), "DomainBlocked"),
        (
            json.dumps(
                {"email": "a@fabrikam.example", "groups": ["99999999-9999-9999-9999-999999999999"]}
            ),
            "GroupNotAllowed",
        ),
        (
            json.dumps({"email": "a@fabrikam.example", "redirectUrl": "https://evil.example/"}),
            "RedirectNotAllowed",
        ),
        (
            json.dumps(
                {
                    "email": "a@fabrikam.example",
                    "ccRecipient": ["x@contoso.example", "y@contoso.example"],
                }
            ),
            "TooManyCcRecipients",
        ),
    ],
)
async def test_invalid_message_poisoned_on_first_delivery_without_graph(
    stack: Stack, body: str, code: str
) -> None:
    stack.send(body)
    assert await stack.drain() == ["rejected"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert poisoned["error"]["code"] == code
    assert poisoned["original"] == body
    assert graph_calls(stack) == {}


async def test_crash_between_invitation_and_ledger_then_redelivery(stack: Stack) -> None:
    ledger = stack.rt.ledger
    real_update = ledger.update
    crashes = 0

    async def crash_after_invitation(
        email: str, change: Change, *, etag: str | None = None
    ) -> bool:
        nonlocal crashes
        if isinstance(change, Invited) and crashes == 0:
            crashes += 1
            raise RuntimeError("host killed after POST /invitations")
        return await real_update(email, change, etag=etag)

    ledger.update = crash_after_invitation  # type: ignore[method-assign]
    stack.send(ADA)
    first = await stack.drain(rounds=1)
    assert first == ["error"] and crashes == 1
    assert len(stack.graph.control.mailbox(to="ada@fabrikam.example")) == 1
    await asyncio.sleep(1.2)  # the failed delivery becomes visible again
    outcomes = await stack.drain()
    assert "invited" in outcomes and outcomes.count("done") == 3
    assert len(stack.graph.control.mailbox(to="ada@fabrikam.example")) == 1
    row = await stack.rt.ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED and row.send_count == 1


async def test_role_assignable_group_is_poisoned_with_graph_error(stack: Stack) -> None:
    privileged = "55555555-5555-5555-5555-555555555555"
    # Put the role-assignable group on the allow-list, so Graph is the one that refuses it.
    policy = stack.settings.policy
    stack.rt.settings = dataclasses.replace(
        stack.settings,
        policy=dataclasses.replace(
            policy, allowed_group_ids=policy.allowed_group_ids | {privileged}
        ),
    )
    stack.send({"email": "ada@fabrikam.example", "groups": [privileged]})
    outcomes = await stack.drain()
    assert outcomes == ["invited", "poisoned"]
    [poisoned] = stack.poison(stack.settings.assignments_queue)
    assert poisoned["error"]["code"] == "Authorization_RequestDenied"
    assert poisoned["error"]["status"] == "403"
    row = await stack.rt.ledger.get("ada@fabrikam.example")
    assert row is not None and row.steps[group_step(privileged)] == "failed"
