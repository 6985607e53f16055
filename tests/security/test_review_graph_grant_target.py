"""Review (attacker's view): ``graph_grants --grant`` grants to whatever principal it is told.

The command reads the principal from the resource group's deployment ``identity`` (its
``principalId`` output) or from ``AZURE_IDENTITY_PRINCIPAL_ID``: places anyone with Contributor on
the resource group can write. Such a Contributor publishes a deployment named ``identity`` whose
output is the service principal of an app registration they hold credentials for, and a
``graph-permission-list`` asking for ``AppRoleAssignment.ReadWrite.All`` (a permission the app
does need, so the list check lets it through). The Privileged Role Administrator's routine
``--grant`` then gives that app a permission with which it grants itself any other: the tenant.

And when the list also asked for a permission the command refuses, the ones it allows were
granted first and the refusal came afterwards.

The oracles: what the emulator's own state says was granted, to whom; the target's identity is
the one the resource group's ARM identity resource names (recorded ``az identity list``), which
a deployment output cannot change.
"""

from __future__ import annotations

from typing import Any

from infra.hooks.graph_grants import MISSING, Graph, parse_args, run
from tests.fixtures.graph_emulator import GraphEmulator
from tests.infra.test_graph_grants_hook import (
    ADMIN,
    GRAPH_SP,
    GROUP,
    IDENTITY_SP,
    ROLES,
    Recorded,
    deployment,
    graph_api,  # noqa: F401 (the fixture)
    identity_list,
    identity_resource_id,
    load,
    no_tool,
    seed,
)

#: The attacker's own app registration's service principal: they hold its credentials.
ATTACKER_SP = "5a0b7c1e-0000-4000-8000-0000000000ad"
ESCALATION = "AppRoleAssignment.ReadWrite.All"


def assignments_to(emulator: GraphEmulator, principal: str) -> list[str]:
    """App role ids assigned to ``principal`` on Microsoft Graph, from the emulator's state."""
    (graph_sp,) = [
        sp for sp in emulator.control.state()["servicePrincipals"] if sp["id"] == GRAPH_SP
    ]
    return [a["appRoleId"] for a in graph_sp["assignments"] if a["principalId"] == principal]


def attackers_deployments(principal: str, permissions: list[str]) -> Recorded:
    """The resource group as the Contributor left it: their deployment outputs, and the ARM
    identity resource main.bicep created (which they did not change)."""
    return Recorded(
        {
            deployment(GROUP, "identity"): {"principalId": {"type": "String", "value": principal}},
            deployment(GROUP, "graph-permission-list"): {
                "permissions": {"type": "Array", "value": permissions}
            },
            **dict([identity_list(GROUP)]),
        }
    )


def tenant_with_attacker_app(*, spoofed_names: bool) -> dict[str, Any]:
    tenant = seed(caller=ADMIN)
    app: dict[str, Any] = {
        "id": ATTACKER_SP,
        "appId": "3b8f1d2e-9a4c-4e6b-8d7f-1c2e3a4b5c6d",
        "displayName": "build-helper",
        "servicePrincipalType": "Application",
    }
    if spoofed_names:  # an app's owner may write its service principal's alternativeNames
        app["alternativeNames"] = ["isExplicit=True", identity_resource_id(GROUP)]
    tenant["servicePrincipals"].append(app)
    return tenant


def grant_command(graph: Graph, az: Recorded, lines: list[str]) -> int:
    """The administrator's routine command: ``--grant --resource-group rg-...``."""
    return run(
        parse_args(["--grant", "--resource-group", GROUP]), {}, graph=graph, az=az,
        azd=no_tool, out=lines.append, sleep=lambda seconds: None,
    )  # fmt: skip


def test_review_an_app_named_by_a_deployment_output_gets_nothing(
    graph_identity_env: GraphEmulator,
    graph_api: Graph,  # noqa: F811
    monkeypatch: Any,
) -> None:
    # Microsoft Graph's app role id of AppRoleAssignment.ReadWrite.All.
    monkeypatch.setitem(ROLES, ESCALATION, "06b708a9-e830-4db3-a914-8e69da51d44f")
    for spoofed_names in (False, True):
        load(graph_identity_env, tenant_with_attacker_app(spoofed_names=spoofed_names))
        lines: list[str] = []

        code = grant_command(graph_api, attackers_deployments(ATTACKER_SP, [ESCALATION]), lines)

        text = "\n".join(lines)
        assert assignments_to(graph_identity_env, ATTACKER_SP) == [], text
        assert code == MISSING, text
        assert f"REFUSED to grant to {ATTACKER_SP}" in text, text
        assert "build-helper" in text  # the administrator sees whom it was asked to grant


def test_review_a_refused_permission_stops_every_grant(
    graph_identity_env: GraphEmulator,
    graph_api: Graph,  # noqa: F811
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    lines: list[str] = []
    takeover = "Directory.Read.All"  # on Graph (ROLES), needed by no call of the app
    assert takeover in ROLES

    code = grant_command(
        graph_api, attackers_deployments(IDENTITY_SP, ["User.Invite.All", takeover]), lines
    )

    assert code == MISSING
    assert assignments_to(graph_identity_env, IDENTITY_SP) == [], "\n".join(lines)
    assert f"REFUSED {takeover}" in "\n".join(lines)


def test_the_resource_groups_own_identity_is_still_granted(
    graph_identity_env: GraphEmulator,
    graph_api: Graph,  # noqa: F811
) -> None:
    """The check does not refuse the real target: the same command, the output unchanged."""
    load(graph_identity_env, tenant_with_attacker_app(spoofed_names=True))
    lines: list[str] = []

    code = grant_command(graph_api, attackers_deployments(IDENTITY_SP, ["User.Invite.All"]), lines)

    assert code == 0, "\n".join(lines)
    assert assignments_to(graph_identity_env, IDENTITY_SP) == [ROLES["User.Invite.All"]]
    assert identity_resource_id(GROUP) in "\n".join(lines)
