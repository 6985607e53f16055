"""Are the function app's Microsoft Graph permissions granted? Check them, and grant them.

    python -m infra.hooks.graph_grants [--grant] [--resource-group RG]
                                       [--principal-id ID --permissions P1,P2] [--wait SECONDS]

What it checks, against Microsoft Graph, with the caller's own sign-in (a token from the Azure
CLI: ``az account get-access-token --resource-type ms-graph``):

1. the app's identity and the permissions it needs, from (first that answers) ``--principal-id``
   and ``--permissions``; the azd outputs ``AZURE_IDENTITY_PRINCIPAL_ID`` and
   ``GRAPH_PERMISSIONS`` in the environment (azd passes them to hooks; ``azd env get-values`` is
   asked when they are missing); or, after a provisioning that failed (azd then records no
   output), the resource group's own deployments: ``identity`` (its ``principalId`` output) and
   ``graph-permission-list`` (its ``permissions`` output; main.bicep deploys it without any
   Graph resource, so it succeeds before the grants are tried);
2. Microsoft Graph's service principal (appId 00000003-0000-0000-c000-000000000000) has an app
   role for each permission (a misspelled one is reported);
3. the identity's service principal is visible in Graph (``GET /servicePrincipals/{id}``): a
   404 right after the identity was created is the replication delay behind "Not a valid
   reference update" (microsoftgraph/msgraph-bicep-types#193);
4. which of the permissions the identity holds (``GET /servicePrincipals/{id}/appRoleAssignments``),
   and which it holds beyond them (reported, never revoked);
5. that every permission asked for is one the app's Graph calls need (``APP_PERMISSIONS``): the
   list comes from places others may write (a resource group's deployments, the azd
   environment), so a permission outside it (``RoleManagement.ReadWrite.Directory``) is refused,
   named, and never granted, whatever the source says.

With ``--grant`` (a Privileged Role Administrator, once: the CI workflow deploys with
``GRANT_GRAPH_PERMISSIONS=false``), nothing is granted unless every check passes:

* no permission asked for is refused (5.) or unknown (2.): one refused permission stops every
  grant, since its source is not to be trusted with the others either;
* the principal is the function app's own identity, whatever the source named (a deployment
  output or an azd value may be anyone's, as 1. says): the resource group's user-assigned
  identity named ``id-func-*`` (``az identity list --resource-group RG``: ARM's own record, which
  no deployment output changes) has that principal id; and Graph's service principal
  (``GET /servicePrincipals/{id}``) has ``servicePrincipalType`` ``ManagedIdentity`` (an app
  registration's is ``Application``, and its owner may write its ``alternativeNames``) and that
  identity's ARM resource id among its ``alternativeNames``. Source: Microsoft Graph v1.0,
  "servicePrincipal resource type" (learn.microsoft.com/graph/api/resources/serviceprincipal):
  ``alternativeNames`` "identify resource group and full resource IDs for managed identities",
  ``servicePrincipalType`` ``ManagedIdentity`` "a service principal that represents a managed
  identity"; graph_reference/data/graph-v1.0.csdl declares both properties. ARM resource ids
  compare without regard to case (``az identity show`` prints ``resourcegroups``). The resource
  group is ``--resource-group``, ``AZURE_RESOURCE_GROUP`` or ``rg-<AZURE_ENV_NAME>``; without
  one, ``--grant`` refuses. The principal's display name, appId and ARM resource id are printed
  before anything is granted.

Then each missing permission of ``APP_PERMISSIONS`` is granted with
``POST /servicePrincipals/{graph}/appRoleAssignedTo`` and the assignments are read again.
"Already exists" counts as granted; an identity or a reference Graph does not know yet is
retried until ``--wait`` seconds have passed (default 300). Every read is made with the
administrator's own sign-in (Application.Read.All or Directory.Read.All covers them; ``az
identity list`` needs Reader on the resource group); the app's permissions do not change.

Exit codes: 0 every permission granted; 1 some missing (or a grant refused, a permission asked
for that the app does not need, or a principal that is not the app's identity); 2 the check
could not run (no inputs, no ``az``, Graph refused to read). azd runs it as the
``postprovision`` hook with ``--hook``: then 2 becomes 0 with a warning (a pipeline without
Graph rights cannot read the grants, which says nothing about them), and 1 stops ``azd up``
before the code is deployed.
It needs only the standard library: azd runs it with the machine's ``python3``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GRAPH = "https://graph.microsoft.com/v1.0"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
REFERENCE_BUG = "microsoftgraph/msgraph-bicep-types#193"
#: The nested deployments main.bicep creates in the resource group.
IDENTITY_DEPLOYMENT = "identity"
LIST_DEPLOYMENT = "graph-permission-list"
GRANT_COMMAND = "python -m infra.hooks.graph_grants --grant"
#: main.bicep's name for the function app's user-assigned identity: ``id-func-<resource token>``.
IDENTITY_NAME_PREFIX = "id-func-"
MANAGED_IDENTITY = "ManagedIdentity"

OK, MISSING, UNAVAILABLE = 0, 1, 2

#: Every Microsoft Graph permission the app's calls need, whatever its switches: the
#: least-privileged permissions of the calls the app makes (infra/checks/graph_permissions.py
#: ``GRAPH_CALLS``, its source of truth; that check fails while this list differs from it). Kept
#: here as a copy because azd runs this hook with the machine's python3 and no project packages.
APP_PERMISSIONS = (
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "User.DeleteRestore.All",
    "User.EnableDisableAccount.All",
    "User.Invite.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
    "User-LifeCycleInfo.ReadWrite.All",
)

#: Runs ``az`` with these arguments and returns its JSON output (raises CheckUnavailable).
AzRunner = Callable[[Sequence[str]], Any]


class CheckUnavailable(RuntimeError):
    """The check could not run: no inputs, no ``az`` / ``azd``, no token, Graph unreachable."""


class GraphError(RuntimeError):
    """Graph answered with an error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def replication(self) -> bool:
        """A reference to an object Graph does not know (yet): the #193 symptom."""
        text = self.message.lower()
        return self.status == 404 or "not a valid reference" in text or "does not exist" in text

    @property
    def already_exists(self) -> bool:
        return self.status in (400, 409) and "already exists" in self.message.lower()


def run_tool(tool: str) -> AzRunner:
    """Runs ``tool`` (az or azd) with ``--output json`` and parses what it prints."""

    def run(arguments: Sequence[str]) -> Any:
        executable = shutil.which(tool)
        if executable is None:
            raise CheckUnavailable(f"{tool} is not on PATH")
        result = subprocess.run(
            [executable, *arguments, "--output", "json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            message = result.stderr.strip()[-500:] or f"{tool} exited {result.returncode}"
            raise CheckUnavailable(message)
        return json.loads(result.stdout or "null")

    return run


def az_token(az: AzRunner) -> Callable[[], str]:
    """A Graph token for the Azure CLI's signed-in account."""

    def token() -> str:
        answer = az(["account", "get-access-token", "--resource-type", "ms-graph"])
        value = answer.get("accessToken") if isinstance(answer, dict) else None
        if not isinstance(value, str) or not value:
            raise CheckUnavailable("az account get-access-token returned no accessToken")
        return value

    return token


@dataclass
class Graph:
    """Microsoft Graph over HTTPS (urllib), one token for the run."""

    base_url: str
    token: Callable[[], str]
    timeout: float = 60.0
    _bearer: str | None = field(default=None, init=False)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if self._bearer is None:
            self._bearer = self.token()
        url = path if path.startswith("http") else self.base_url.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._bearer}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            raise _graph_error(exc.code, exc.read().decode(errors="replace")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise CheckUnavailable(f"Microsoft Graph did not answer: {exc}") from None
        return json.loads(text) if text else None

    def list(self, path: str) -> list[dict[str, Any]]:
        """Every item of a collection, following ``@odata.nextLink``."""
        items: list[dict[str, Any]] = []
        page: str | None = path
        while page is not None:
            answer = self.request("GET", page)
            items += answer.get("value", [])
            page = answer.get("@odata.nextLink")
        return items


def _graph_error(status: int, text: str) -> GraphError:
    try:
        error = json.loads(text).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    return GraphError(status, str(error.get("code", "")), str(error.get("message", text[:300])))


# ---- what to check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The identity's service principal object id, the permissions it needs, and where from."""

    principal_id: str
    permissions: tuple[str, ...]
    source: str
    #: Where the identity the grants are for lives (None: not known, so ``--grant`` refuses).
    resource_group: str | None = None

    @property
    def refused(self) -> list[str]:
        """What the source asks for that no Graph call of the app needs: never granted."""
        return [p for p in self.permissions if p not in APP_PERMISSIONS]


def _permissions(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else value.split(",")
    return tuple(sorted({str(p).strip() for p in value if str(p).strip()}))


def _from_resource_group(resource_group: str, az: AzRunner) -> Target:
    def output(deployment: str, name: str) -> Any:
        outputs = az(
            [
                "deployment", "group", "show",
                "--resource-group", resource_group,
                "--name", deployment,
                "--query", "properties.outputs",
            ]
        )  # fmt: skip
        value = (outputs or {}).get(name, {}).get("value")
        if value is None:
            raise CheckUnavailable(
                f"the deployment {deployment} in {resource_group} has no output {name}"
            )
        return value

    principal = str(output(IDENTITY_DEPLOYMENT, "principalId"))
    permissions = _permissions(output(LIST_DEPLOYMENT, "permissions"))
    source = f"the deployments in resource group {resource_group}"
    return Target(principal, permissions, source, resource_group)


def resolve_target(
    args: argparse.Namespace,
    environment: Mapping[str, str],
    az: AzRunner,
    azd: AzRunner,
) -> Target:
    """The first source that answers (see the module doc)."""
    if args.principal_id or args.permissions:
        if not (args.principal_id and args.permissions):
            raise CheckUnavailable("--principal-id and --permissions go together")
        asked = _permissions(args.permissions)
        return Target(args.principal_id, asked, "the command line", args.resource_group)
    if args.resource_group:
        return _from_resource_group(args.resource_group, az)
    values: Mapping[str, str] = environment
    if not values.get("AZURE_IDENTITY_PRINCIPAL_ID") or not values.get("GRAPH_PERMISSIONS"):
        try:
            answer = azd(["env", "get-values"])
            values = {**(answer if isinstance(answer, dict) else {}), **environment}
        except CheckUnavailable:
            pass
    principal = values.get("AZURE_IDENTITY_PRINCIPAL_ID", "")
    permissions = values.get("GRAPH_PERMISSIONS", "")
    group = values.get("AZURE_RESOURCE_GROUP") or (
        f"rg-{values['AZURE_ENV_NAME']}" if values.get("AZURE_ENV_NAME") else ""
    )
    if principal and permissions:
        source = "the azd environment's outputs"
        return Target(principal, _permissions(permissions), source, group or None)
    if group:
        return _from_resource_group(group, az)
    raise CheckUnavailable(
        "no identity to check: no azd outputs (AZURE_IDENTITY_PRINCIPAL_ID, GRAPH_PERMISSIONS), "
        "no AZURE_ENV_NAME; pass --resource-group, or --principal-id and --permissions"
    )


# ---- the check and the grant --------------------------------------------------------------------


@dataclass
class State:
    """What Graph says about the identity's permissions."""

    graph_id: str
    role_ids: dict[str, str]
    unknown: list[str]
    visible: bool
    granted: set[str]
    others: set[str]
    #: The identity's service principal as Graph shows it (empty while not visible).
    principal: dict[str, Any] = field(default_factory=dict)

    def missing(self, target: Target) -> list[str]:
        return [
            p
            for p in target.permissions
            if p not in self.granted and p in self.role_ids and p in APP_PERMISSIONS
        ]


def read_state(graph: Graph, target: Target) -> State:
    graph_sp = graph.request(
        "GET", f"/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles"
    )
    roles = {r["value"]: r["id"] for r in graph_sp.get("appRoles", []) if r.get("value")}
    names = {role_id: value for value, role_id in roles.items()}
    unknown = [p for p in target.permissions if p not in roles]
    principal = urllib.parse.quote(target.principal_id, safe="")
    select = "id,appId,displayName,servicePrincipalType,alternativeNames"
    try:
        shown = graph.request("GET", f"/servicePrincipals/{principal}?$select={select}")
        visible = True
    except GraphError as exc:
        if exc.status != 404:
            raise
        shown, visible = {}, False
    assignments = (
        graph.list(f"/servicePrincipals/{principal}/appRoleAssignments") if visible else []
    )
    held = {
        names[a["appRoleId"]]
        for a in assignments
        if a.get("resourceId") == graph_sp["id"] and a.get("appRoleId") in names
    }
    wanted = set(target.permissions)
    return State(graph_sp["id"], roles, unknown, visible, held & wanted, held - wanted, shown or {})


class NotTheIdentity(RuntimeError):
    """The principal to grant to is not the function app's identity in the resource group."""


def verify_identity(target: Target, state: State, az: AzRunner) -> str:
    """The ARM resource id of the resource group's identity that ``target`` names, or
    NotTheIdentity saying why the principal is not it (see the module doc for the checks)."""
    kind = state.principal.get("servicePrincipalType")
    if kind != MANAGED_IDENTITY:
        raise NotTheIdentity(
            f"its servicePrincipalType is {kind!r}, not {MANAGED_IDENTITY!r}: it is not a "
            "managed identity"
        )
    group = target.resource_group
    if not group:
        raise NotTheIdentity(
            "no resource group to find the app's identity in: pass --resource-group"
        )
    listed = az(["identity", "list", "--resource-group", group])
    ours = [
        identity
        for identity in (listed if isinstance(listed, list) else [])
        if isinstance(identity, dict)
        and str(identity.get("name", "")).startswith(IDENTITY_NAME_PREFIX)
    ]
    matching = [
        identity
        for identity in ours
        if str(identity.get("principalId", "")).lower() == target.principal_id.lower()
    ]
    if len(matching) != 1:
        found = ", ".join(f"{i.get('name')} (principal {i.get('principalId')})" for i in ours)
        raise NotTheIdentity(
            f"it is not the principal of the identity main.bicep creates in {group} "
            f"({IDENTITY_NAME_PREFIX}*: {found or 'none found'})"
        )
    resource_id = str(matching[0].get("id", ""))
    # ARM resource ids compare without regard to case (az prints "resourcegroups").
    names = {str(name).lower() for name in state.principal.get("alternativeNames") or []}
    if not resource_id or resource_id.lower() not in names:
        raise NotTheIdentity(
            f"Graph's alternativeNames for it do not name the identity {resource_id}"
        )
    return resource_id


def _who(principal: Mapping[str, Any]) -> str:
    return f"{principal.get('displayName', '?')!r}, appId {principal.get('appId', '?')}"


def wait_until_visible(
    graph: Graph,
    target: Target,
    state: State,
    out: Callable[[str], None],
    *,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> State:
    """Read the state again until Graph shows the identity or ``wait_seconds`` have passed."""
    deadline = clock() + wait_seconds
    delay = 5.0
    while not state.visible and clock() + delay <= deadline:
        out(f"  {target.principal_id}: not in Microsoft Graph yet; again in {delay:.0f} s")
        sleep(delay)
        delay = min(delay * 2, 60.0)
        state = read_state(graph, target)
    return state


def grant(
    graph: Graph,
    target: Target,
    state: State,
    out: Callable[[str], None],
    *,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Grant each missing permission; retry references Graph does not know yet."""
    deadline = clock() + wait_seconds
    for permission in state.missing(target):
        body = {
            "principalId": target.principal_id,
            "resourceId": state.graph_id,
            "appRoleId": state.role_ids[permission],
        }
        delay = 5.0
        while True:
            try:
                graph.request(
                    "POST", f"/servicePrincipals/{state.graph_id}/appRoleAssignedTo", body
                )
                out(f"  granted {permission}")
                break
            except GraphError as exc:
                if exc.already_exists:
                    out(f"  {permission} was already granted")
                    break
                if exc.replication and clock() + delay <= deadline:
                    out(
                        f"  {permission}: {exc.message} (not replicated yet?); "
                        f"again in {delay:.0f} s"
                    )
                    sleep(delay)
                    delay = min(delay * 2, 60.0)
                    continue
                raise


def _report(target: Target, state: State, out: Callable[[str], None]) -> None:
    out(f"graph grants: identity {target.principal_id} (from {target.source})")
    for permission in target.permissions:
        mark = "granted" if permission in state.granted else "MISSING"
        if permission in state.unknown:
            mark = "UNKNOWN: no such app role on Microsoft Graph"
        elif permission not in APP_PERMISSIONS:
            mark = "REFUSED: no Graph call of the app needs it"
        out(f"  {permission}: {mark}")
    if state.others:
        out(f"  also held, not asked for (never revoked here): {', '.join(sorted(state.others))}")


def run(
    args: argparse.Namespace,
    environment: Mapping[str, str],
    *,
    graph: Graph | None = None,
    az: AzRunner | None = None,
    azd: AzRunner | None = None,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    az = az or run_tool("az")
    azd = azd or run_tool("azd")
    try:
        target = resolve_target(args, environment, az, azd)
        graph = graph or Graph(args.graph_url, az_token(az))
        state = read_state(graph, target)
    except (CheckUnavailable, GraphError) as exc:
        out(f"graph grants: could not check the Microsoft Graph permissions: {exc}")
        out(f"  An administrator can check and grant them with `{GRANT_COMMAND}`")
        out("  (docs/deployment.md, Microsoft Graph permissions).")
        return UNAVAILABLE
    if state.unknown:
        _report(target, state, out)
        out("graph grants: the deployment asks for permissions Microsoft Graph does not have")
        return MISSING
    if target.refused:
        _report(target, state, out)
        out(
            f"graph grants: REFUSED {', '.join(target.refused)}: asked for by {target.source}, "
            "but no Microsoft Graph call of the app needs them (infra/checks/graph_permissions.py "
            "GRAPH_CALLS); never granted by this command."
        )
        out(
            "  Find out who put them there (the deployments' history, main.bicep, the azd "
            "environment); if one is already held, an administrator removes it by hand."
        )
        return MISSING
    if not state.visible and args.grant:
        state = wait_until_visible(graph, target, state, out, wait_seconds=args.wait, sleep=sleep)
    if not state.visible:
        out(
            f"graph grants: the identity's service principal {target.principal_id} is not "
            "visible in Microsoft Graph yet."
        )
        if args.grant:
            out(
                f"  The identity has not replicated yet ({REFERENCE_BUG}): nothing granted; run "
                "this again in a few minutes, or with a longer --wait."
            )
        else:
            out(
                f"  Right after it is created this is replication ({REFERENCE_BUG}): wait a few "
                "minutes, then run `azd provision` or this command again."
            )
        return MISSING
    if args.grant:
        try:
            resource_id = verify_identity(target, state, az)
        except NotTheIdentity as exc:
            out(
                f"graph grants: REFUSED to grant to {target.principal_id} "
                f"({_who(state.principal)}), named by {target.source}: {exc}."
            )
            out(
                "  Only the function app's own user-assigned identity gets Graph permissions "
                "here; nothing was granted. Find out who wrote that principal id there (the "
                "deployment history of the resource group, the azd environment)."
            )
            return MISSING
        except CheckUnavailable as exc:
            out(f"graph grants: could not check whom the grants are for; nothing granted: {exc}")
            return UNAVAILABLE
        if state.missing(target):
            out(
                f"graph grants: granting {', '.join(state.missing(target))} to "
                f"{target.principal_id} ({_who(state.principal)}), the managed identity "
                f"{resource_id}"
            )
            try:
                grant(graph, target, state, out, wait_seconds=args.wait, sleep=sleep)
                state = read_state(graph, target)
            except GraphError as exc:
                out(f"graph grants: Microsoft Graph refused a grant: {exc}")
                if exc.status == 403:
                    out(
                        "  Granting application permissions needs Privileged Role "
                        "Administrator (or Global Administrator) in Microsoft Entra ID."
                    )
                elif exc.replication:
                    out(
                        f"  The identity has not replicated yet ({REFERENCE_BUG}): run this "
                        "again in a few minutes, or with a longer --wait."
                    )
                return MISSING
    _report(target, state, out)
    missing = state.missing(target)
    if not missing:
        out(f"graph grants: all {len(target.permissions)} Microsoft Graph permissions are granted")
        return OK
    out(f"graph grants: MISSING on the function app's identity: {', '.join(missing)}")
    if environment.get("GRANT_GRAPH_PERMISSIONS", "true").strip().lower() in ("false", "0"):
        out(
            "  This deployment leaves the grants to an administrator (GRANT_GRAPH_PERMISSIONS="
            f"false). A Privileged Role Administrator runs, once: `{GRANT_COMMAND}`"
        )
    else:
        out(f'  A new identity can fail with "Not a valid reference update" ({REFERENCE_BUG}):')
        out(
            "  run `azd provision` again. If they are still missing, the deploying account may lack"
        )
        out(f"  Privileged Role Administrator: have an administrator run `{GRANT_COMMAND}`.")
    return MISSING


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.hooks.graph_grants",
        description="Check (and with --grant, make) the function app's Microsoft Graph grants.",
    )
    parser.add_argument("--grant", action="store_true", help="grant what is missing")
    parser.add_argument("--resource-group", help="read the identity and permissions from it")
    parser.add_argument("--principal-id", help="the identity's service principal object id")
    parser.add_argument("--permissions", help="comma-separated, or a JSON array")
    parser.add_argument("--graph-url", default=GRAPH, help=f"default {GRAPH}")
    parser.add_argument("--wait", type=float, default=300.0, help="seconds to retry replication")
    parser.add_argument("--hook", action="store_true", help="as azd's postprovision hook")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    code = run(args, os.environ)
    if args.hook and code == UNAVAILABLE:
        print("graph grants: WARNING: not verified; provisioning goes on.")
        return OK
    return code


if __name__ == "__main__":
    sys.exit(main())
