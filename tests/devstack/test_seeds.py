"""devstack.seeds names what samples/tenant.json and local.settings.example.json hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devstack import seeds

REPO = Path(__file__).resolve().parents[2]


def tenant_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "samples" / "tenant.json").read_text())
    return data


def example_settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((REPO / "local.settings.example.json").read_text())[
        "Values"
    ]
    return values


def test_tenant_and_identity() -> None:
    data = tenant_file()
    assert data["tenant"]["id"] == seeds.TENANT_ID
    assert data["tenant"]["domain"] == seeds.TENANT_DOMAIN
    assert data["tenant"]["blockedDomains"] == [seeds.BLOCKED_DOMAIN]
    assert data["identity"]["clientId"] == seeds.CLIENT_ID


def test_groups_are_the_ones_their_names_say() -> None:
    groups = {g["displayName"]: g for g in tenant_file()["groups"]}
    assert groups["Project X members"]["id"] == seeds.GROUP_PROJECT_X
    assert groups["Partners"]["id"] == seeds.GROUP_PARTNERS
    assert groups["Privileged operators"]["id"] == seeds.GROUP_ROLE_ASSIGNABLE
    assert groups["Privileged operators"]["isAssignableToRole"] is True
    dynamic = groups["Fabrikam guests"]
    assert dynamic["id"] == seeds.GROUP_FABRIKAM_GUESTS
    assert dynamic["groupTypes"] == ["DynamicMembership"]
    assert dynamic["membershipRule"] == seeds.FABRIKAM_GUESTS_RULE
    assert seeds.NOT_ALLOWED_GROUP not in {g["id"] for g in groups.values()}


def test_users_and_their_memberships() -> None:
    data = tenant_file()
    users = {u["displayName"]: u for u in data["users"]}
    grace, alan = users["Grace Hopper"], users["Alan Turing"]
    assert (grace["id"], grace["mail"], grace["userPrincipalName"], grace["userType"]) == (
        seeds.GRACE,
        seeds.GRACE_MAIL,
        seeds.GRACE_UPN,
        "Member",
    )
    assert (alan["id"], alan["mail"], alan["userType"], alan["externalUserState"]) == (
        seeds.ALAN,
        seeds.ALAN_MAIL,
        "Guest",
        "Accepted",
    )
    # Assigned groups list their members; a dynamic group's come from its rule (none listed).
    members = {g["id"]: g.get("members") for g in data["groups"]}
    assert members[seeds.GROUP_PROJECT_X] == [seeds.GRACE]
    assert members[seeds.GROUP_PARTNERS] == [seeds.ALAN]
    assert members[seeds.GROUP_FABRIKAM_GUESTS] is None


def test_portal_and_its_role() -> None:
    (portal,) = tenant_file()["servicePrincipals"]
    assert (portal["id"], portal["appId"]) == (seeds.PORTAL_SP, seeds.PORTAL_APP_ID)
    assert [r["id"] for r in portal["appRoles"]] == [seeds.READER_ROLE]
    assert portal["appRoles"][0]["value"] == "Project.Reader"


def test_the_example_settings_allow_the_sample_ids() -> None:
    values = example_settings()
    profiles = json.loads(values["ACCESS_PROFILES"])
    assert profiles == {
        seeds.ACCESS_PROFILE: {
            "groups": [seeds.GROUP_PROJECT_X],
            "appRoles": [{"resourceId": seeds.PORTAL_SP, "appRoleId": seeds.READER_ROLE}],
        }
    }
    assert values["ALLOWED_GROUP_IDS"] == seeds.GROUP_PARTNERS
    assert values["BLOCKED_EMAIL_DOMAINS"] == seeds.BLOCKED_DOMAIN


def test_sample_tenant_is_a_fresh_copy_and_can_drop_permissions() -> None:
    first = seeds.sample_tenant(without_permissions=["Application.Read.All"])
    first["users"].clear()
    second = seeds.sample_tenant()
    assert len(second["users"]) == len(tenant_file()["users"])
    assert "Application.Read.All" not in first["identity"]["permissions"]
    assert second["identity"]["permissions"] == tenant_file()["identity"]["permissions"]
