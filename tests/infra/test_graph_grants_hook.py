"""The postprovision hook finds missing Graph grants, says what to do; azure.yaml runs it."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

import pytest
import yaml

from infra.hooks.graph_grants import REFERENCE_BUG, CheckUnavailable, check

from .conftest import REPO_ROOT

GRAPH_SP_ID = "graph-sp"
ROLES = {
    "r-invite": "User.Invite.All",
    "r-read": "User.Read.All",
    "r-group": "GroupMember.ReadWrite.All",
}


def fake_az(granted_role_ids: list[str]) -> Any:
    def az(arguments: Sequence[str]) -> Any:
        url = arguments[arguments.index("--url") + 1]
        if "appId=" in url:
            roles = [{"id": i, "value": v} for i, v in ROLES.items()]
            return {"id": GRAPH_SP_ID, "appRoles": roles}
        assert url.endswith("/servicePrincipals/identity-sp/appRoleAssignments")
        value = [{"resourceId": GRAPH_SP_ID, "appRoleId": i} for i in granted_role_ids]
        # An assignment on another API with the same role id must not count.
        value.append({"resourceId": "other-api", "appRoleId": "r-group"})
        return {"value": value}

    return az


ENV = {
    "AZURE_IDENTITY_PRINCIPAL_ID": "identity-sp",
    "GRAPH_PERMISSIONS": json.dumps(
        ["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"]
    ),
}


def test_all_granted_passes() -> None:
    lines: list[str] = []
    assert check(ENV, fake_az(list(ROLES)), lines.append) == 0
    assert "all 3" in lines[0]


def test_missing_grant_fails_naming_it_and_the_rerun() -> None:
    lines: list[str] = []
    assert check(ENV, fake_az(["r-invite", "r-read"]), lines.append) == 1
    text = "\n".join(lines)
    assert "MISSING" in text and "GroupMember.ReadWrite.All" in text
    assert "azd provision" in text and REFERENCE_BUG in text


def test_an_unavailable_cli_warns_without_failing() -> None:
    def az(arguments: Sequence[str]) -> Any:
        raise CheckUnavailable("az is not on PATH")

    lines: list[str] = []
    assert check(ENV, az, lines.append) == 0
    assert "WARNING" in lines[0] and "az is not on PATH" in lines[0]


def test_nothing_to_check_without_the_outputs() -> None:
    lines: list[str] = []
    assert check({}, fake_az([]), lines.append) == 0
    assert "skipped" in lines[0]


@pytest.mark.parametrize("platform", ["posix", "windows"])
def test_azure_yaml_runs_the_hook_after_provisioning(platform: str) -> None:
    azure = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())
    hook = azure["hooks"]["postprovision"][platform]
    command = hook["run"].split()
    assert command[1:] == ["-m", "infra.hooks.graph_grants"]
    assert importlib.import_module(command[2]).main is not None
    # The outputs the hook reads are outputs of main.bicep.
    main = (REPO_ROOT / "infra" / "main.bicep").read_text()
    assert "output AZURE_IDENTITY_PRINCIPAL_ID string" in main
    assert "output GRAPH_PERMISSIONS array" in main
