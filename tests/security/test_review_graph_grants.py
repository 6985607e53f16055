"""Review (attacker's view): ``infra.hooks.graph_grants --grant`` grants whatever it is told to.

With ``GRANT_GRAPH_PERMISSIONS=false`` (the CI workflow) the pipeline's principal deploys and a
Privileged Role Administrator runs ``python -m infra.hooks.graph_grants --grant`` once. The
command reads the identity and the permission list from the azd outputs or, with
``--resource-group``, from the outputs of two nested deployments in the resource group
(``identity``, ``graph-permission-list``), and grants every listed permission that Microsoft
Graph has, to the listed principal. Nothing checks the list against the permissions this app can
ever need. Anyone who may write deployments in the resource group (the CI principal, a
Contributor, a change to main.bicep) can put ``RoleManagement.ReadWrite.Directory`` there, and
the administrator's routine command grants it: a tenant takeover from a resource-group role.

The oracle is the contract's list of Graph permissions (CONTRACT.md "Graph permissions",
stated here again, with ``User.EnableDisableAccount.All`` from infra/app/graph-permissions.bicep);
what was granted is read from the Graph emulator's own state.
"""

from __future__ import annotations

from typing import Any

from infra.hooks.graph_grants import Graph, parse_args, run
from tests.fixtures.graph_emulator import GraphEmulator
from tests.infra.test_graph_grants_hook import (
    ADMIN,
    GRAPH_SP,
    IDENTITY_SP,
    ROLES,
    Recorded,
    deployment,
    granted,
    graph_api,  # noqa: F401 (the fixture)
    load,
    no_tool,
    seed,
)

#: Every Graph permission this app may hold, whatever its switches.
THE_APPS_PERMISSIONS = {
    "User.Invite.All",
    "User.Read.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
    "User.DeleteRestore.All",
    "User.EnableDisableAccount.All",
    "User.ReadWrite.All",
}
TAKEOVER = "RoleManagement.ReadWrite.Directory"


def test_review_the_grant_command_grants_nothing_the_app_cannot_need(
    graph_identity_env: GraphEmulator,
    graph_api: Graph,  # noqa: F811
    monkeypatch: Any,
) -> None:
    monkeypatch.setitem(ROLES, TAKEOVER, "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8")
    load(graph_identity_env, seed(caller=ADMIN))
    # What someone who may write deployments in the resource group left there.
    az = Recorded(
        {
            deployment("rg-guest-onboarding", "identity"): {
                "principalId": {"type": "String", "value": IDENTITY_SP}
            },
            deployment("rg-guest-onboarding", "graph-permission-list"): {
                "permissions": {"type": "Array", "value": ["User.Invite.All", TAKEOVER]}
            },
        }
    )
    args = parse_args(["--grant", "--resource-group", "rg-guest-onboarding"])

    run(args, {}, graph=graph_api, az=az, azd=no_tool, out=lambda _: None)

    extra = set(granted(graph_identity_env)) - THE_APPS_PERMISSIONS
    assert extra == set(), f"granted to {IDENTITY_SP} on {GRAPH_SP}: {sorted(extra)}"
