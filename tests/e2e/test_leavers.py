"""A leaver through the local host: HR's offboarding message on the real invitations queue,
the removal and account steps on the real assignments queue, Graph's emulator answering. The
oracle is the emulator's directory."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.seeds import ACCESS_PROFILE, ALAN, ALAN_MAIL, GROUP_PARTNERS, PORTAL_SP
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from devstack.stack import LocalStack

pytestmark = pytest.mark.e2e

LEAVER = "leaver@partner.example"


def access(state: dict[str, Any], user_id: str) -> set[str]:
    """The user's memberships and app role assignments, as the directory holds them."""
    groups = {g["id"] for g in state["groups"] if user_id in g["members"]}
    roles = {
        f"{sp['id']}:{a['appRoleId']}"
        for sp in state["servicePrincipals"]
        for a in sp["assignments"]
        if a["principalId"] == user_id
    }
    return groups | roles


def test_a_guest_offboarded_by_hr_keeps_nothing_this_app_granted(local: LocalStack) -> None:
    onboard = {"accessProfiles": [ACCESS_PROFILE], "groups": [GROUP_PARTNERS]}
    local.send(json.dumps({"email": LEAVER, "displayName": "Lea Ver", **onboard}))
    # Alan was a guest before this app, in Partners by someone else's hand.
    local.send(json.dumps({"email": ALAN_MAIL, **onboard}))
    assert local.wait_until_drained(timeout=90)
    control = local.emulator.control
    before = control.state()
    leaver = next(u["id"] for u in before["users"] if u["mail"] == LEAVER)
    assert len(access(before, leaver)) == 3
    assert len(access(before, ALAN)) == 3

    for email in (LEAVER, ALAN_MAIL, "nobody@partner.example"):
        local.send(json.dumps({"email": email, "action": "offboard"}))
    assert local.wait_until_drained(timeout=90)

    after = control.state()
    assert access(after, leaver) == set()
    user = next(u for u in after["users"] if u["id"] == leaver)
    assert user["accountEnabled"] is False
    assert user.get("signInSessionsValidFromDateTime")  # sessions revoked
    # Alan keeps the membership someone else gave him, and his account: this app did not
    # onboard him.
    assert access(after, ALAN) == {GROUP_PARTNERS}
    alan = next(u for u in after["users"] if u["id"] == ALAN)
    assert alan["accountEnabled"] is not False
    assert not alan.get("signInSessionsValidFromDateTime")
    assert PORTAL_SP not in {k.split(":")[0] for k in access(after, ALAN)}
    rows = {e.email: e for e in local.ledger_entries()}
    statuses = [line.split("@")[0] for line in rows[LEAVER].history]
    assert statuses == ["inviting", "invited", "offboarding", "offboarded"]
    assert local.poison(local.invitations_queue) == []
    assert local.poison(local.assignments_queue) == []
    assert GROUP_X not in access(after, ALAN)
