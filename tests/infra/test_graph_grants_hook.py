"""`python -m infra.hooks.graph_grants` checks and grants the identity's Graph permissions.

The Graph side runs against the project's Graph emulator over HTTP with a token from the real
azure-identity (the emulator's managed-identity endpoint stands in for `az`'s sign-in); each test
reads the outcome back through the emulator's control API, not through the command. Where the
identity and the permissions come from (azd outputs, `azd env get-values`, the resource group's
deployments after a failed provisioning) is tested with recorded `az` / `azd` answers.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.identity import ManagedIdentityCredential

from infra.checks.bicep_eval import Template
from infra.hooks import graph_grants
from infra.hooks.graph_grants import (
    GRANT_COMMAND,
    MISSING,
    OK,
    REFERENCE_BUG,
    UNAVAILABLE,
    CheckUnavailable,
    Graph,
    Target,
    grant,
    parse_args,
    read_state,
    run,
)
from tests.fixtures.graph_emulator import GRAPH_SCOPE, GraphEmulator

from .conftest import REPO_ROOT

GRAPH_SP = "5a0b7c1e-0000-4000-8000-000000000001"
IDENTITY_SP = "5a0b7c1e-0000-4000-8000-000000000002"
ROLES = {
    "User.Invite.All": "09850681-111b-4a89-9bed-3f2cae46d706",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
}
WANTED = ["User.Invite.All", "User.Read.All", "GroupMember.ReadWrite.All"]
GROUP = "rg-guest-onboarding"
SUBSCRIPTION = "0c7e4b2a-6f1d-4e8a-9b3c-2d5f7a9e1b40"
#: main.bicep names the identity id-func-<resource token>.
IDENTITY_NAME = "id-func-q4x7kd2mvn3pe"


def identity_resource_id(group: str = GROUP) -> str:
    """The identity's ARM resource id, spelled as `az identity show` prints it."""
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{group}/providers/"
        f"Microsoft.ManagedIdentity/userAssignedIdentities/{IDENTITY_NAME}"
    )


def managed_identity(group: str = GROUP) -> dict[str, Any]:
    """The identity's service principal as Graph shows a user-assigned managed identity's."""
    return {
        "id": IDENTITY_SP,
        "appId": "7d3e9a51-2c6b-4f80-9e14-3a5b6c7d8e9f",
        "displayName": IDENTITY_NAME,
        "servicePrincipalType": "ManagedIdentity",
        "alternativeNames": ["isExplicit=True", identity_resource_id(group)],
    }


def identity_list(group: str = GROUP) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """`az identity list --resource-group GROUP`: the identity main.bicep creates there."""
    return ("identity", "list", "--resource-group", group), [
        {
            "id": identity_resource_id(group),
            "name": IDENTITY_NAME,
            "principalId": IDENTITY_SP,
            "clientId": "7d3e9a51-2c6b-4f80-9e14-3a5b6c7d8e9f",
            "resourceGroup": group,
            "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        }
    ]


def seed(
    *,
    caller: Sequence[str],
    identity_exists: bool = True,
    held: Sequence[str] = (),
    group: str = GROUP,
) -> dict[str, Any]:
    """A tenant with Microsoft Graph's service principal and (maybe) the app's identity, the
    user-assigned managed identity of resource group ``group``.

    ``caller`` is what the signed-in administrator may do in Graph."""
    graph_sp = {
        "id": GRAPH_SP,
        "appId": graph_grants.GRAPH_APP_ID,
        "displayName": "Microsoft Graph",
        "appRoles": [
            {"id": role_id, "value": value, "allowedMemberTypes": ["Application"]}
            for value, role_id in ROLES.items()
        ],
    }
    principals: list[dict[str, Any]] = [graph_sp]
    if identity_exists:
        principals.append(managed_identity(group))
    return {
        "tenant": {"id": "9c1f2b7e-5d4a-4c3b-8a29-6f0e1d2c3b4a", "domain": "contoso.example"},
        "identity": {"clientId": "7d3e9a51-2c6b-4f80-9e14-3a5b6c7d8e9f", "permissions": caller},
        "users": [],
        "groups": [],
        "servicePrincipals": principals,
        "_held": list(held),
    }


ADMIN = ["AppRoleAssignment.ReadWrite.All", "Application.Read.All"]


def load(emulator: GraphEmulator, tenant: dict[str, Any]) -> None:
    held = tenant.pop("_held")
    emulator.control.reset(tenant)
    if held:  # granted beforehand, over HTTP as an administrator would
        graph = Graph(emulator.base_url, emulator.token)
        for value in held:
            body = {"principalId": IDENTITY_SP, "resourceId": GRAPH_SP, "appRoleId": ROLES[value]}
            graph.request("POST", f"/servicePrincipals/{GRAPH_SP}/appRoleAssignedTo", body)


def granted(emulator: GraphEmulator) -> list[str]:
    """The identity's Graph app roles, read from the emulator's own state."""
    names = {role_id: value for value, role_id in ROLES.items()}
    (graph_sp,) = [
        sp for sp in emulator.control.state()["servicePrincipals"] if sp["id"] == GRAPH_SP
    ]
    return sorted(
        names[a["appRoleId"]] for a in graph_sp["assignments"] if a["principalId"] == IDENTITY_SP
    )


def no_tool(arguments: Sequence[str]) -> Any:
    raise AssertionError(f"unexpected tool call {arguments}")


@pytest.fixture
def graph_api(graph_identity_env: GraphEmulator) -> Graph:
    """The command's Graph client on the emulator; the token from the real azure-identity."""
    credential = ManagedIdentityCredential()
    return Graph(graph_identity_env.base_url, lambda: credential.get_token(GRAPH_SCOPE).token)


def command(*extra: str, permissions: Sequence[str] = WANTED) -> Any:
    return parse_args(
        [
            "--principal-id", IDENTITY_SP, "--permissions", ",".join(permissions),
            "--resource-group", GROUP, *extra,
        ]
    )  # fmt: skip


def call(graph_api: Graph, args: Any, environment: dict[str, str] | None = None) -> tuple[int, str]:
    lines: list[str] = []
    code = run(
        args, environment or {}, graph=graph_api, az=Recorded(dict([identity_list()])),
        azd=no_tool, out=lines.append, sleep=lambda seconds: None,
    )  # fmt: skip
    return code, "\n".join(lines)


# ---- against the emulator -----------------------------------------------------------------------


def test_check_names_the_missing_permissions_and_changes_nothing(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, held=["User.Read.All"]))
    code, text = call(graph_api, command())
    assert code == MISSING
    assert "User.Invite.All: MISSING" in text and "GroupMember.ReadWrite.All: MISSING" in text
    assert "User.Read.All: granted" in text
    assert granted(graph_identity_env) == ["User.Read.All"]


def test_grant_assigns_each_missing_permission_once(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, held=["User.Read.All"]))
    code, text = call(graph_api, command("--grant"))
    assert code == OK, text
    assert granted(graph_identity_env) == sorted(WANTED)
    code, _ = call(graph_api, command("--grant"))  # again: nothing to do, nothing duplicated
    assert code == OK
    assert granted(graph_identity_env) == sorted(WANTED)


def test_a_grant_that_raced_another_counts_as_granted(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    target = Target(IDENTITY_SP, tuple(WANTED), "test")
    stale = read_state(graph_api, target)  # read before someone else granted one
    load(graph_identity_env, seed(caller=ADMIN, held=["User.Invite.All"]))
    lines: list[str] = []
    grant(graph_api, target, stale, lines.append, wait_seconds=0)
    assert "  User.Invite.All was already granted" in lines
    assert granted(graph_identity_env) == sorted(WANTED)


def test_without_the_administrator_role_the_grant_fails_saying_which_role(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=["Application.Read.All"]))
    code, text = call(graph_api, command("--grant"))
    assert code == MISSING
    assert "Privileged Role Administrator" in text and "403" in text
    assert granted(graph_identity_env) == []


def test_an_identity_graph_does_not_show_yet_is_reported_as_replication(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, identity_exists=False))
    code, text = call(graph_api, command())
    assert code == MISSING
    assert "not visible in Microsoft Graph yet" in text and REFERENCE_BUG in text


def test_grant_waits_for_the_identity_to_replicate(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, identity_exists=False))
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the identity shows up during the first wait
        waits.append(seconds)
        if len(waits) == 1:
            load(graph_identity_env, seed(caller=ADMIN))

    lines: list[str] = []
    code = run(
        command("--grant", "--wait", "60"), {}, graph=graph_api,
        az=Recorded(dict([identity_list()])), azd=no_tool, out=lines.append, sleep=sleep,
    )  # fmt: skip
    assert code == OK, "\n".join(lines)
    assert waits == [5.0]
    assert granted(graph_identity_env) == sorted(WANTED)


def test_grant_gives_up_on_replication_after_the_wait(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, identity_exists=False))
    code, text = call(graph_api, command("--grant", "--wait", "0"))
    assert code == MISSING
    assert "has not replicated yet" in text and "--wait" in text


def test_unknown_permission_and_extra_grants_are_reported(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, held=["Directory.Read.All"]))
    code, text = call(graph_api, command("--grant", permissions=["User.Invite.All", "User.Invite"]))
    assert code == MISSING
    assert "User.Invite: UNKNOWN" in text
    assert "also held, not asked for (never revoked here): Directory.Read.All" in text
    assert granted(graph_identity_env) == ["Directory.Read.All"]  # nothing granted on a typo


def test_a_permission_no_call_of_the_app_needs_is_refused_and_named(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    code, text = call(
        graph_api, command("--grant", permissions=["User.Invite.All", "Directory.Read.All"])
    )
    assert code == MISSING
    assert "Directory.Read.All: REFUSED" in text
    assert "graph grants: REFUSED Directory.Read.All: asked for by the command line" in text
    assert granted(graph_identity_env) == []  # a source that asks for one is trusted for none


NOT_AN_APP = {"servicePrincipalType": "Application"}
OTHER_IDENTITY = {"alternativeNames": ["isExplicit=True", identity_resource_id("rg-other")]}


NOT_IN_ARM = f"not the principal of the identity main.bicep creates in {GROUP}"


@pytest.mark.parametrize(
    ("shown", "arm_principal", "reason"),
    [
        (NOT_AN_APP, IDENTITY_SP, "servicePrincipalType is 'Application', not 'ManagedIdentity'"),
        (OTHER_IDENTITY, IDENTITY_SP, "alternativeNames for it do not name the identity"),
        ({}, "5a0b7c1e-0000-4000-8000-0000000000ff", NOT_IN_ARM),
        ({}, None, NOT_IN_ARM),
    ],
    ids=["not-a-managed-identity", "another-identity", "another-arm-principal", "no-identity"],
)
def test_grant_refuses_a_principal_that_is_not_the_resource_groups_identity(
    graph_identity_env: GraphEmulator,
    graph_api: Graph,
    shown: dict[str, Any],
    arm_principal: str | None,
    reason: str,
) -> None:
    """Each of the three checks alone: what Graph shows of the principal, and the principal id
    ARM gives the resource group's identity (None: the group has none)."""
    tenant = seed(caller=ADMIN)
    (identity,) = [sp for sp in tenant["servicePrincipals"] if sp["id"] == IDENTITY_SP]
    identity.update(shown)
    load(graph_identity_env, tenant)
    key, identities = identity_list()
    arm = [{**i, "principalId": arm_principal} for i in identities if arm_principal is not None]
    az = Recorded({key: arm})
    lines: list[str] = []
    code = run(
        command("--grant"), {}, graph=graph_api, az=az, azd=no_tool, out=lines.append,
        sleep=lambda seconds: None,
    )  # fmt: skip
    text = "\n".join(lines)
    assert code == MISSING and granted(graph_identity_env) == [], text
    assert f"REFUSED to grant to {IDENTITY_SP} ('{IDENTITY_NAME}', appId" in text, text
    assert reason in text, text


def test_grant_refuses_another_identity_of_the_resource_group(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    """A managed identity a Contributor added to the group is not the one main.bicep creates."""
    tenant = seed(caller=ADMIN)
    load(graph_identity_env, tenant)
    key, identities = identity_list()
    az = Recorded({key: [{**identities[0], "name": "build-agent"}]})
    lines: list[str] = []
    code = run(
        command("--grant"), {}, graph=graph_api, az=az, azd=no_tool, out=lines.append,
        sleep=lambda seconds: None,
    )  # fmt: skip
    assert code == MISSING and granted(graph_identity_env) == [], "\n".join(lines)
    assert NOT_IN_ARM in "\n".join(lines)


def test_grant_without_a_resource_group_grants_nothing(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    args = parse_args(["--principal-id", IDENTITY_SP, "--permissions", ",".join(WANTED), "--grant"])
    code, text = call(graph_api, args)
    assert code == MISSING and granted(graph_identity_env) == []
    assert "pass --resource-group" in text


def test_grant_when_az_cannot_list_the_identities_grants_nothing(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    lines: list[str] = []
    code = run(
        command("--grant"), {}, graph=graph_api, az=Recorded({}), azd=no_tool,
        out=lines.append, sleep=lambda seconds: None,
    )  # fmt: skip
    assert code == UNAVAILABLE and granted(graph_identity_env) == [], "\n".join(lines)


def test_the_identity_checked_is_the_one_main_bicep_names() -> None:
    main = Template.load(
        REPO_ROOT / "infra" / "main.bicep", {"environmentName": "x", "location": "y"}
    )
    name = main.evaluate(main.module_body("identity")["params"]["name"])
    assert str(getattr(name, "expression", name)).startswith(graph_grants.IDENTITY_NAME_PREFIX)
    assert IDENTITY_NAME.startswith(graph_grants.IDENTITY_NAME_PREFIX)


def test_a_caller_who_may_not_read_graph_cannot_check(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=[]))
    code, text = call(graph_api, command())
    assert code == UNAVAILABLE
    assert GRANT_COMMAND in text


def test_the_hook_only_warns_when_it_cannot_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_grants, "run", lambda *a, **k: UNAVAILABLE)
    assert graph_grants.main(["--hook"]) == OK
    assert graph_grants.main([]) == UNAVAILABLE
    monkeypatch.setattr(graph_grants, "run", lambda *a, **k: MISSING)
    assert graph_grants.main(["--hook"]) == MISSING  # missing grants stop azd up


# ---- where the identity and the permissions come from ----------------------------------------


class Recorded:
    """`az` / `azd` answers keyed by their arguments; records the calls."""

    def __init__(self, answers: dict[tuple[str, ...], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, arguments: Sequence[str]) -> Any:
        self.calls.append(tuple(arguments))
        if tuple(arguments) not in self.answers:
            raise CheckUnavailable(f"no answer for {arguments}")
        return self.answers[tuple(arguments)]


def deployment(group: str, name: str) -> tuple[str, ...]:
    return (
        "deployment", "group", "show", "--resource-group", group, "--name", name,
        "--query", "properties.outputs",
    )  # fmt: skip


def main_module_names() -> dict[str, str]:
    """main.bicep's module symbol -> the deployment name it creates in the resource group."""
    main = Template.load(
        REPO_ROOT / "infra" / "main.bicep", {"environmentName": "x", "location": "y"}
    )
    return {symbol: str(main.evaluate(main.module_body(symbol)["name"])) for symbol in main.modules}


def failed_provisioning(group: str) -> Recorded:
    """What `az` shows after a provisioning that failed at the grants: the identity and the
    permission list deployments succeeded (their outputs exist), the grants did not."""
    return Recorded(
        {
            deployment(group, "identity"): {
                "principalId": {"type": "String", "value": IDENTITY_SP}
            },
            deployment(group, "graph-permission-list"): {
                "permissions": {"type": "Array", "value": WANTED}
            },
            **dict([identity_list(group)]),
        }
    )


def test_the_deployments_read_after_a_failure_are_the_ones_main_bicep_creates() -> None:
    names = main_module_names()
    assert names["identity"] == graph_grants.IDENTITY_DEPLOYMENT
    assert names["graphPermissionList"] == graph_grants.LIST_DEPLOYMENT
    identity = (REPO_ROOT / "infra" / "app" / "identity.bicep").read_text()
    grants = (REPO_ROOT / "infra" / "app" / "graph-permissions.bicep").read_text()
    assert "output principalId string" in identity and "output permissions array" in grants


def test_after_a_failed_provisioning_the_resource_group_names_identity_and_permissions() -> None:
    az = failed_provisioning("rg-guest-onboarding-dev")
    # azd recorded no outputs (provisioning failed): only the environment's name is known.
    target = graph_grants.resolve_target(
        parse_args([]), {"AZURE_ENV_NAME": "guest-onboarding-dev"}, az, Recorded({})
    )
    assert target == Target(
        IDENTITY_SP,
        tuple(sorted(WANTED)),
        "the deployments in resource group rg-guest-onboarding-dev",
        "rg-guest-onboarding-dev",
    )


def test_azd_outputs_come_first_then_azd_env_get_values() -> None:
    outputs = {"AZURE_IDENTITY_PRINCIPAL_ID": IDENTITY_SP, "GRAPH_PERMISSIONS": json.dumps(WANTED)}
    target = graph_grants.resolve_target(parse_args([]), outputs, no_tool, no_tool)
    assert target.principal_id == IDENTITY_SP and target.source == "the azd environment's outputs"
    with_group = graph_grants.resolve_target(
        parse_args([]), {**outputs, "AZURE_RESOURCE_GROUP": "rg-x"}, no_tool, no_tool
    )
    assert with_group.resource_group == "rg-x"  # where --grant looks the identity up
    azd = Recorded({("env", "get-values"): outputs})
    target = graph_grants.resolve_target(parse_args([]), {}, no_tool, azd)
    assert target.permissions == tuple(sorted(WANTED)) and azd.calls == [("env", "get-values")]


def test_an_explicit_resource_group_is_read(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN, group="rg-custom"))
    az = failed_provisioning("rg-custom")
    lines: list[str] = []
    code = run(
        parse_args(["--grant", "--resource-group", "rg-custom"]), {}, graph=graph_api, az=az,
        azd=no_tool, out=lines.append,
    )  # fmt: skip
    assert code == OK, "\n".join(lines)
    assert granted(graph_identity_env) == sorted(WANTED)


def test_nothing_to_check_is_unavailable() -> None:
    lines: list[str] = []
    code = run(parse_args([]), {}, az=Recorded({}), azd=Recorded({}), out=lines.append)
    assert code == UNAVAILABLE and "--resource-group" in lines[0]


def test_the_token_comes_from_the_azure_cli() -> None:
    az = Recorded(
        {("account", "get-access-token", "--resource-type", "ms-graph"): {"accessToken": "t0k"}}
    )
    assert graph_grants.az_token(az)() == "t0k"


def test_with_the_ci_switch_off_missing_grants_name_the_administrator_command(
    graph_identity_env: GraphEmulator, graph_api: Graph
) -> None:
    load(graph_identity_env, seed(caller=ADMIN))
    code, text = call(graph_api, command(), {"GRANT_GRAPH_PERMISSIONS": "false"})
    assert code == MISSING and f"runs, once: `{GRANT_COMMAND}`" in text


@pytest.mark.parametrize("platform", ["posix", "windows"])
def test_azure_yaml_runs_the_hook_after_provisioning(platform: str) -> None:
    azure = yaml.safe_load((REPO_ROOT / "azure.yaml").read_text())
    hook = azure["hooks"]["postprovision"][platform]
    command_line = hook["run"].split()
    assert command_line[1:] == ["-m", "infra.hooks.graph_grants", "--hook"]
    assert importlib.import_module(command_line[2]).main is not None
    main = (REPO_ROOT / "infra" / "main.bicep").read_text()
    assert "output AZURE_IDENTITY_PRINCIPAL_ID string" in main
    assert "output GRAPH_PERMISSIONS array" in main


def test_the_hook_needs_only_the_standard_library() -> None:
    source = Path(graph_grants.__file__).read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= {
        "__future__", "argparse", "json", "os", "shutil", "subprocess", "sys", "time", "urllib",
        "collections", "dataclasses", "typing",
    }  # fmt: skip
