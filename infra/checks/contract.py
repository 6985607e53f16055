"""The contract between the code and the Bicep templates, checked statically.

``python -m infra.checks.contract [ROOT]`` prints every problem and exits 1 if there is any.
It reads the code from ROOT (default: the current directory) without trusting anything but
the files: settings from ``guest_onboarding/config.py`` and an AST scan of the package, bindings
from ``function_app.app.get_functions()``, and the deployment from ``infra/*.bicep`` evaluated
with their default parameters (see :mod:`infra.checks.bicep_eval`).

Checked:

* settings: every setting the code reads is set on the function app, with the code's default
  as the Bicep (and azd) default; nothing is set that neither the code nor the platform reads;
* queues and tables: every queue a function binds, with its ``-poison`` queue, and every table
  a ``*_TABLE`` setting names (the ledger, the Graph budget), are created in the storage
  account; trigger settings exist;
* Graph: the app roles app/graph-permissions.bicep grants, with each of its ``grant*`` switches
  on and off, equal the documented table (docs/deployment.md: ``always`` or ``when `grantX```);
  main.bicep drives ``grantDeletePermission`` from the same parameter as
  ``DELETE_EXPIRED_GUESTS`` and ``grantAppRoleAssignment`` from ``appRoleAssignmentsEnabled``;
  and :mod:`infra.checks.graph_permissions`: for every combination of main.bicep's feature
  parameters, the grants are exactly the least-privileged permissions (Microsoft's permissions
  table) of the calls the app then makes, and the generated permission tables are current.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.checks import graph_permissions
from infra.checks.bicep_eval import Symbol, Template, bicep_string
from infra.checks.code_reads import environment_reads, setting_defaults, storage_setting

MAIN_BICEP = Path("infra") / "main.bicep"
MAIN_PARAMETERS = Path("infra") / "main.parameters.json"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"
README = Path("README.md")

#: Settings the code reads that the templates leave unset on purpose, and why.
UNSET_ON_PURPOSE: dict[str, str] = {
    "AzureWebJobsStorage": (
        "a connection string needs shared keys, which the storage account disables; "
        "the identity-based AzureWebJobsStorage__* settings are set instead"
    ),
    "AzureWebJobsStorage__accountName": (
        "the per-service URIs (AzureWebJobsStorage__queueServiceUri, __tableServiceUri, "
        "__blobServiceUri) are set instead"
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT": (
        "local development only (make run exports there when it is set); in Azure telemetry "
        "goes to Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING)"
    ),
    "OTEL_TRACES_EXPORTER": "local development only (make run sets it to console)",
}

#: Settings the templates set for the Functions host or the platform rather than for the code.
PLATFORM_SETTINGS: frozenset[str] = frozenset(
    {
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__credential",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "AzureWebJobsFeatureFlags",
    }
)

#: Identity-based AzureWebJobsStorage: the suffixes the host needs for blobs, queues and tables.
IDENTITY_STORAGE_SUFFIXES = ("blobServiceUri", "queueServiceUri", "tableServiceUri", "clientId")

#: ``"param": {"value": "${NAME=default}"}`` in main.parameters.json (or unquoted, for JSON values).
_AZD_VALUE = re.compile(
    r'"(?P<param>[A-Za-z0-9_]+)"\s*:\s*\{\s*"value"\s*:\s*"?'
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<default>[^}]*))?\}"
)
_SWITCH = re.compile(r"`(?P<name>grant[A-Za-z]+)`")
_PERMISSION_ROW = re.compile(
    r"^\|\s*`(?P<name>[A-Za-z][A-Za-z-]*(?:\.[A-Za-z]+)+)`\s*\|(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Binding:
    function: str
    type: str
    queue_name: str | None
    schedule: str | None
    connection: str | None


# ---- the deployment, evaluated ----------------------------------------------------------------


def main_template(root: Path, overrides: Mapping[str, Any] | None = None) -> Template:
    """infra/main.bicep with its defaults, plus ``overrides`` (required ones get placeholders)."""
    arguments: dict[str, Any] = {"environmentName": "contract", "location": "westeurope"}
    arguments.update(overrides or {})
    return Template.load(root / MAIN_BICEP, arguments)


def _resources_of_type(template: Template, resource_type: str) -> list[str]:
    return [n for n, r in template.resources.items() if r["type"] == resource_type]


def deployed_app_settings(root: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The function app's app settings as deployed with these main.bicep parameters."""
    api = main_template(root, overrides).module("api")
    settings: dict[str, Any] = {}
    for name in _resources_of_type(api, "Microsoft.Web/sites/config"):
        body = api.resource_body(name)
        if api.evaluate(body["name"]) == "appsettings":
            value = api.evaluate(body["properties"])
            if not isinstance(value, dict):
                raise ValueError(f"app settings do not evaluate to an object: {value}")
            settings.update(value)
    return settings


def created_storage(root: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """Names of the queues, tables and blob containers the storage module creates."""
    storage = main_template(root, overrides).module("storage")
    kinds = {
        "queues": "Microsoft.Storage/storageAccounts/queueServices/queues",
        "tables": "Microsoft.Storage/storageAccounts/tableServices/tables",
        "containers": "Microsoft.Storage/storageAccounts/blobServices/containers",
    }
    created: dict[str, list[Any]] = {}
    for kind, resource_type in kinds.items():
        created[kind] = [
            name
            for resource in _resources_of_type(storage, resource_type)
            if not storage.resources[resource]["existing"]
            for name in storage.resource_names(resource)
        ]
    return created


GRAPH_MODULE = Path("infra") / "app" / "graph-permissions.bicep"

#: main.bicep parameter -> the graph-permissions switch it must drive.
GRAPH_SWITCHES: dict[str, str] = {
    "deleteExpiredGuests": "grantDeletePermission",
    "appRoleAssignmentsEnabled": "grantAppRoleAssignment",
    "addSponsorsToExistingUsers": "grantSponsorWrite",
    "detectDynamicGroups": "grantGroupRead",
}


def graph_switches(root: Path) -> list[str]:
    """The ``grant*`` bool parameters of app/graph-permissions.bicep."""
    graph = Template.load(root / GRAPH_MODULE)
    return [
        name
        for name, body in graph.parameters.items()
        if name.startswith("grant") and body.get("type") == "bool"
    ]


def _granted(graph: Template) -> list[Any]:
    granted: list[Any] = []
    for name in _resources_of_type(graph, "Microsoft.Graph/appRoleAssignedTo"):
        loop = graph.resources[name]["config"].get("loop_type")
        if loop is None:
            granted.append(Symbol(f"{name}: not a loop over permission names"))
            continue
        items = graph.evaluate(loop["detail"]["array_name"])
        granted.extend(items if isinstance(items, list) else [items])
    return granted


def granted_graph_permissions(root: Path, switches: Mapping[str, bool] | None = None) -> list[Any]:
    """The Graph app role values app/graph-permissions.bicep assigns with these switches."""
    arguments: dict[str, Any] = {"principalId": "principal"}
    arguments.update(switches or {})
    return _granted(Template.load(root / GRAPH_MODULE, arguments))


def deployed_graph_permissions(root: Path, overrides: Mapping[str, Any] | None = None) -> list[Any]:
    """The Graph app role values a deployment of main.bicep with these parameters assigns."""
    return _granted(main_template(root, overrides).module("graphPermissions"))


def setting_parameters(root: Path) -> dict[str, str]:
    """Setting name -> the main.bicep parameter it is set from (``x`` or ``string(x)``)."""
    main = main_template(root)
    passed = main.modules["api"]["config"]["params"].get("appSettings")
    if not isinstance(passed, str) or passed not in main.variables:
        return {}
    value = main.variables[passed]["value"]
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, expr in value.items():
            if isinstance(expr, dict) and expr.get("function", {}).get("type") == "string":
                expr = next(iter(expr["function"]["parameters"].values()))
            if isinstance(expr, str) and expr in main.parameters:
                found[key] = expr
    return found


def azd_parameters(root: Path) -> dict[str, tuple[str, str | None]]:
    """main.parameters.json: parameter -> (environment variable, default or None)."""
    # Read as text: azd substitutes before it parses, and a JSON-valued parameter is unquoted.
    text = (root / MAIN_PARAMETERS).read_text()
    return {m["param"]: (m["name"], m["default"]) for m in _AZD_VALUE.finditer(text)}


# ---- the code ----------------------------------------------------------------------------------


#: Run in a fresh interpreter: FunctionApp.get_functions() may be called once per process, and
#: the code under another root must not mix with modules already imported here.
_BINDINGS_SCRIPT = """
import json, logging, sys
logging.disable(logging.WARNING)
sys.path.insert(0, sys.argv[1])
import function_app
out = []
for function in function_app.app.get_functions():
    for binding in function.get_bindings():
        out.append({
            "function": function.get_function_name(),
            "type": binding.type,
            "queue_name": getattr(binding, "queue_name", None),
            "schedule": getattr(binding, "schedule", None),
            "connection": getattr(binding, "connection", None),
        })
print(json.dumps(out))
"""


def function_bindings(root: Path) -> list[Binding]:
    """Trigger bindings from ``function_app.app.get_functions()`` of the code under ``root``."""
    result = subprocess.run(
        [sys.executable, "-c", _BINDINGS_SCRIPT, str(root)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot list the functions under {root}:\n{result.stderr[-4000:]}")
    return [Binding(**item) for item in json.loads(result.stdout)]


def documented_graph_permissions(root: Path) -> dict[str, frozenset[str] | None]:
    """Permission -> the switches named in its "Granted" cell, any one of which grants it (None:
    always), docs/deployment.md."""
    found: dict[str, frozenset[str] | None] = {}
    in_section = False
    for line in (root / DEPLOYMENT_DOC).read_text().splitlines():
        if line.startswith("## "):
            in_section = "graph permissions" in line.lower()
            continue
        match = _PERMISSION_ROW.match(line.strip()) if in_section else None
        if match:
            granted = match["rest"].split("|")[0]
            switches = frozenset(m["name"] for m in _SWITCH.finditer(granted))
            found[match["name"]] = switches or None
    return found


def _setting_name(reference: str | None) -> str | None:
    """``%NAME%`` -> ``NAME``; a literal binding value -> None."""
    if reference and len(reference) > 2 and reference.startswith("%") and reference.endswith("%"):
        return reference[1:-1]
    return None


# ---- the checks ---------------------------------------------------------------------------------


def settings_problems(root: Path) -> list[str]:
    problems: list[str] = []
    defaults = setting_defaults(root)
    reads = environment_reads(root)
    deployed = deployed_app_settings(root)

    for read in reads:
        if read.key is None:
            problems.append(
                f"{read.file}:{read.line}: environment read with a key that cannot be resolved "
                f"statically ({read.source}); use a named constant"
            )
    code_reads = set(defaults) | {r.key for r in reads if r.key is not None}
    for key in sorted(code_reads - set(UNSET_ON_PURPOSE)):
        if key not in deployed:
            problems.append(
                f"setting {key} is read by the code but not set on the function app "
                "(main.bicep codeAppSettings, app/api.bicep)"
            )
    for key in sorted(set(deployed) - code_reads - PLATFORM_SETTINGS):
        problems.append(f"setting {key} is set in Bicep but read by neither the code nor the host")

    for key, default in defaults.items():
        if key == "AZURE_CLIENT_ID" or key not in deployed:
            continue
        if deployed[key] != default:
            problems.append(
                f"setting {key}: Bicep default {deployed[key]!r} differs from "
                f"the code's {default!r}"
            )

    connection = storage_setting(root)
    if deployed.get(f"{connection}__credential") != "managedidentity":
        problems.append(f"{connection}__credential must be 'managedidentity'")
    for suffix in IDENTITY_STORAGE_SUFFIXES:
        if f"{connection}__{suffix}" not in deployed:
            problems.append(f"{connection}__{suffix} is not set (identity-based host storage)")
    client_id = deployed.get("AZURE_CLIENT_ID")
    if not isinstance(client_id, Symbol) or deployed.get(f"{connection}__clientId") != client_id:
        problems.append(
            f"AZURE_CLIENT_ID and {connection}__clientId must both be the identity's client id"
        )

    parameters = setting_parameters(root)
    azd = azd_parameters(root)
    for key, default in defaults.items():
        if key == "AZURE_CLIENT_ID":
            continue
        parameter = parameters.get(key)
        if parameter is None:
            problems.append(f"setting {key} is not set from a main.bicep parameter")
            continue
        if parameter not in azd:
            problems.append(f"main.parameters.json does not pass {parameter} (setting {key})")
            continue
        variable, azd_default = azd[parameter]
        if variable != key:
            problems.append(f"main.parameters.json: {parameter} reads ${{{variable}}}, not {key}")
        if azd_default in (None, "", "null"):
            # Empty with the variable unset, or JSON null: azd leaves the parameter out
            # (infra/checks/azd_params.py), so Bicep's own default applies.
            azd_default = str(bicep_string(main_template(root).parameter_value(parameter)))
        if (azd_default or "") != default:
            problems.append(
                f"main.parameters.json: {parameter} defaults to {azd_default!r}, "
                f"the code to {default!r}"
            )
    return problems


def storage_problems(root: Path, bindings: list[Binding] | None = None) -> list[str]:
    problems: list[str] = []
    deployed = deployed_app_settings(root)
    created = created_storage(root)
    queues = set(map(str, created["queues"]))
    defaults = setting_defaults(root)

    bound_queue_settings: set[str] = set()
    for binding in function_bindings(root) if bindings is None else bindings:
        if binding.type == "queueTrigger":
            setting = _setting_name(binding.queue_name)
            if setting is None:
                queue: Any = binding.queue_name
            elif setting not in deployed:
                problems.append(f"{binding.function}: queue setting {setting} is not set in Bicep")
                continue
            else:
                bound_queue_settings.add(setting)
                queue = deployed[setting]
            for name in (str(queue), f"{queue}-poison"):
                if name not in queues:
                    problems.append(f"{binding.function}: queue {name} is not created in Bicep")
            if binding.connection and f"{binding.connection}__queueServiceUri" not in deployed:
                problems.append(f"{binding.function}: connection {binding.connection} is not set")
        elif binding.type == "timerTrigger":
            setting = _setting_name(binding.schedule)
            if setting is not None and setting not in deployed:
                problems.append(f"{binding.function}: schedule setting {setting} is not set")

    for setting in sorted(k for k in defaults if k.endswith("_QUEUE")):
        if setting not in bound_queue_settings:
            problems.append(f"queue setting {setting} is bound by no function")
        queue = deployed.get(setting)
        for name in (str(queue), f"{queue}-poison"):
            if name not in queues:
                problems.append(f"queue {name} ({setting}) is not created in Bicep")

    for setting in sorted(k for k in defaults if k.endswith("_TABLE")):
        table = deployed.get(setting)
        if table not in created["tables"]:
            problems.append(f"table {table} ({setting}) is not created in Bicep")
    return problems


def graph_problems(root: Path) -> list[str]:
    problems: list[str] = []
    documented = documented_graph_permissions(root)
    if not documented:
        return [f"{DEPLOYMENT_DOC}: no Graph permissions table found"]
    switches = graph_switches(root)
    named = {switch for s in documented.values() if s is not None for switch in s}
    for switch in sorted(named - set(switches)):
        problems.append(f"{DEPLOYMENT_DOC}: {switch} is not a switch of {GRAPH_MODULE}")
    cases: list[tuple[str, dict[str, bool]]] = [
        ("every switch off", dict.fromkeys(switches, False))
    ]
    cases += [(f"{s}=true", {**dict.fromkeys(switches, False), s: True}) for s in switches]
    for when, flags in cases:
        on = {s for s, v in flags.items() if v}
        expected = {p for p, s in documented.items() if s is None or s & on}
        granted = [str(p) for p in granted_graph_permissions(root, flags)]
        for permission in sorted(set(granted) - expected):
            problems.append(f"Graph permission {permission} is granted ({when}) but not documented")
        for permission in sorted(expected - set(granted)):
            problems.append(f"Graph permission {permission} is documented but not granted ({when})")
        if len(granted) != len(set(granted)):
            problems.append(f"a Graph permission is granted twice ({when}): {granted}")
    for parameter, switch in GRAPH_SWITCHES.items():
        for value in (False, True):
            main = main_template(root, {parameter: value})
            # Every deployment of the module: the permission list and the grants.
            for symbol, module in main.modules.items():
                if module["detail"]["path"] != GRAPH_MODULE.relative_to("infra").as_posix():
                    continue
                passed = main.module_arguments(symbol)
                if passed.get(switch, False) is not value:
                    problems.append(
                        f"main.bicep {symbol}: {parameter}={value} must set {switch}={value}"
                    )
    deleting = deployed_app_settings(root, {"deleteExpiredGuests": True})
    if deleting.get("DELETE_EXPIRED_GUESTS") != "true":
        problems.append(
            "DELETE_EXPIRED_GUESTS is not driven by the same deleteExpiredGuests parameter "
            "that grants the deletion permission"
        )
    # Least privilege from Microsoft's permissions table, for every combination of switches.
    return problems + graph_permissions.problems(root)


def readme_problems(root: Path, bindings: list[Binding] | None = None) -> list[str]:
    """README.md names every function and the default name of every queue it binds."""
    path = root / README
    if not path.exists():
        return [f"{README} does not exist"]
    text = path.read_text()
    defaults = setting_defaults(root)
    problems: list[str] = []
    for binding in function_bindings(root) if bindings is None else bindings:
        if binding.function not in text:
            problems.append(f"{README} does not mention function {binding.function}")
        setting = _setting_name(binding.queue_name)
        if setting is not None:
            queue = defaults.get(setting, setting)
            if setting not in text or queue not in text:
                problems.append(f"{README} does not mention {setting} / queue {queue}")
    return problems


def contract_problems(root: Path) -> list[str]:
    """Every problem found between the code under ``root`` and its templates."""
    bindings = function_bindings(root)
    return settings_problems(root) + storage_problems(root, bindings) + graph_problems(root)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".").resolve()
    problems = contract_problems(root)
    for problem in problems:
        print(f"contract: {problem}")
    if not problems:
        print("contract: code and infra agree")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
