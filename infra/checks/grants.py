"""How main.bicep wires the Microsoft Graph grants: after the app, and only when asked.

* **Ordering.** A managed identity's service principal is created with the identity, and a
  ``Microsoft.Graph/appRoleAssignedTo`` sent seconds later can fail with "Not a valid reference
  update" while it replicates (microsoftgraph/msgraph-bicep-types#193, open: the first
  deployment fails, a second succeeds). ARM starts a module as soon as the modules it depends on
  are done, and an output reference (``identity.outputs.principalId``) is the only dependency
  Bicep infers; so a grant module must also declare ``dependsOn`` the function app module
  (``api``, minutes on Flex Consumption), which puts the grants last.
* **The CI switch.** With ``grantGraphPermissions`` false the deployment must contain no
  Microsoft.Graph resource at all, ``existing`` ones included (with symbolic-name templates,
  which the Graph extension requires, ARM reads an ``existing`` resource at deployment time:
  a Graph read needs a Graph permission the pipeline does not have). Checked by evaluating
  every deployment of app/graph-permissions.bicep with the switch on and off: each
  Microsoft.Graph resource there must be conditional on, or loop over nothing without, its
  ``assign`` parameter.
* **The list is what is granted.** Every deployment of the module gets the same arguments but
  ``assign``.
* **The list survives.** ``GRAPH_PERMISSIONS`` (read by ``python -m infra.hooks.graph_grants``)
  comes from a deployment of the module that is never skipped, so the permissions are known
  when the grants are left to an administrator or fail.
"""

from __future__ import annotations

from pathlib import Path

from infra.checks.bicep_eval import Template, render
from infra.checks.contract import main_template

GRAPH_MODULE = "app/graph-permissions.bicep"
SWITCH = "grantGraphPermissions"
AFTER = "api"
OUTPUT = "GRAPH_PERMISSIONS"


def _graph_modules(main: Template) -> list[str]:
    return [s for s, m in main.modules.items() if m["detail"]["path"] == GRAPH_MODULE]


def _graph_resources_deployed(module: Template) -> list[str]:
    """Microsoft.Graph resources this module deploys (or reads) with its arguments."""
    deployed: list[str] = []
    for name, resource in module.resources.items():
        if not str(resource["type"]).startswith("Microsoft.Graph/"):
            continue
        outer = resource["config"]
        loop = outer.get("loop_type")
        if loop is not None:
            items = module.evaluate(loop["detail"]["array_name"])
            if not (isinstance(items, list) and not items):
                deployed.append(name)
            continue
        condition = outer.get("condition")
        if condition is None or module.evaluate(condition) is not False:
            deployed.append(name)
    return deployed


def grant_problems(root: Path) -> list[str]:
    problems: list[str] = []
    for switch in (True, False):
        main = main_template(root, {SWITCH: switch})
        for symbol in _graph_modules(main):
            for _ in main.module_instances(symbol):
                deployed = _graph_resources_deployed(main.module(symbol))
                if not deployed:
                    continue
                if not switch:
                    problems.append(
                        f"main.bicep {symbol}: with {SWITCH}=false it still deploys "
                        f"Microsoft.Graph resources ({', '.join(deployed)})"
                    )
                depends = main.module_body(symbol).get("dependsOn") or []
                if AFTER not in depends:
                    problems.append(
                        f"main.bicep {symbol}: makes Graph grants without dependsOn {AFTER}: they "
                        "race the identity's replication (msgraph-bicep-types#193)"
                    )
    main = main_template(root)
    # The expressions passed, not their values with today's defaults: equal for every setting.
    arguments = {
        symbol: {
            k: render(v)
            for k, v in (main.module_body(symbol).get("params") or {}).items()
            if k != "assign"
        }
        for symbol in _graph_modules(main)
    }
    if len({repr(sorted(a.items())) for a in arguments.values()}) > 1:
        problems.append(
            f"main.bicep: the deployments of {GRAPH_MODULE} ({', '.join(arguments)}) must pass the "
            "same arguments but `assign`: the permission list would not be what is granted"
        )
    output = (main.parsed.get("outputs") or {}).get(OUTPUT)
    if output is None:
        problems.append(f"main.bicep: no output {OUTPUT}")
    else:
        symbol = render(output.get("value")).split(".")[0]
        condition = main.modules.get(symbol, {}).get("config", {}).get("condition")
        if symbol not in _graph_modules(main) or condition is not None:
            problems.append(
                f"main.bicep: output {OUTPUT} must come from a deployment of {GRAPH_MODULE} "
                f"that is never skipped, not {render(output.get('value'))}"
            )
    return list(dict.fromkeys(problems))
