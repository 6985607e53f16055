"""azd postprovision hook: are the Microsoft Graph permissions really granted to the identity?

``python -m infra.hooks.graph_grants`` (run by azd after ``azd provision`` / ``azd up``, with the
deployment's outputs in the environment: ``AZURE_IDENTITY_PRINCIPAL_ID`` and
``GRAPH_PERMISSIONS``, a JSON array) lists the identity's app role assignments on Microsoft
Graph with the Azure CLI (``az rest``, the deployer's own sign-in) and compares them with the
permissions the deployment asked for.

Why: creating a managed identity and granting it Graph app roles in one deployment can fail with
"Not a valid reference update" while the new service principal replicates (an open bug of the
Microsoft Graph Bicep extension, microsoftgraph/msgraph-bicep-types#193); running
``azd provision`` again succeeds. The hook makes a missing grant loud, with what to do, instead
of letting the app start and poison its first messages with ``Authorization_RequestDenied``.

Exit codes: 0 all granted (or nothing to check); 1 some missing (azd stops before deploying);
0 with a warning when the check itself cannot run (no ``az``, not signed in), since that says
nothing about the grants.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

GRAPH = "https://graph.microsoft.com/v1.0"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
REFERENCE_BUG = "microsoftgraph/msgraph-bicep-types#193"

#: Runs ``az`` with these arguments and returns its JSON output (raises CheckUnavailable).
AzRunner = Callable[[Sequence[str]], Any]


class CheckUnavailable(RuntimeError):
    """The Azure CLI could not answer (missing, not signed in, no network)."""


def run_az(arguments: Sequence[str]) -> Any:
    executable = shutil.which("az")
    if executable is None:
        raise CheckUnavailable("the Azure CLI (az) is not on PATH")
    result = subprocess.run(
        [executable, *arguments, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise CheckUnavailable(result.stderr.strip()[-500:] or f"az exited {result.returncode}")
    return json.loads(result.stdout or "null")


def granted_permissions(principal_id: str, az: AzRunner) -> set[str]:
    """Values of the Graph app roles assigned to the principal."""
    graph_sp = az(
        [
            "rest",
            "--method",
            "GET",
            "--url",
            f"{GRAPH}/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles",
        ]
    )
    roles = {role["id"]: role["value"] for role in graph_sp.get("appRoles", [])}
    assignments = az(
        [
            "rest",
            "--method",
            "GET",
            "--url",
            f"{GRAPH}/servicePrincipals/{principal_id}/appRoleAssignments",
        ]
    )
    return {
        roles[a["appRoleId"]]
        for a in assignments.get("value", [])
        if a.get("resourceId") == graph_sp.get("id") and a.get("appRoleId") in roles
    }


def check(environment: Mapping[str, str], az: AzRunner, out: Callable[[str], None]) -> int:
    principal_id = environment.get("AZURE_IDENTITY_PRINCIPAL_ID", "")
    wanted_text = environment.get("GRAPH_PERMISSIONS", "")
    if not principal_id or not wanted_text:
        out("graph grants: no AZURE_IDENTITY_PRINCIPAL_ID / GRAPH_PERMISSIONS output; skipped")
        return 0
    wanted = set(json.loads(wanted_text))
    try:
        granted = granted_permissions(principal_id, az)
    except CheckUnavailable as exc:
        out(f"graph grants: WARNING could not verify the Microsoft Graph permissions: {exc}")
        out("  Check them with the commands in docs/deployment.md (Microsoft Graph permissions).")
        return 0
    missing = sorted(wanted - granted)
    if not missing:
        out(f"graph grants: all {len(wanted)} Microsoft Graph permissions are granted")
        return 0
    out(f"graph grants: MISSING on the function app's identity: {', '.join(missing)}")
    out(
        "  The Microsoft Graph Bicep extension can fail the first deployment of a new identity "
        f'with "Not a valid reference update" ({REFERENCE_BUG}).'
    )
    out("  Run `azd provision` again. If they are still missing, the deploying account may lack")
    out("  Privileged Role Administrator: grant them by hand (docs/deployment.md) and re-run.")
    return 1


def main() -> int:
    return check(os.environ, run_az, print)


if __name__ == "__main__":
    sys.exit(main())
