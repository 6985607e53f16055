"""Resource bodies against the real schema of their resource type and API version.

The Bicep CLI would refuse a misspelled or misplaced property (BCP037/BCP089) and ARM a read-only
one; neither runs here. The Azure management SDKs for Python are generated from the same REST API
specifications as ARM's schemas and Bicep's types, one model module per API version, and their
models describe every property with its wire name (``_attribute_map``: ``"properties.httpsOnly"``
for a flattened property), its type (another model, ``[Model]`` for arrays, ``{str}`` for maps)
and whether it is read-only (``_validation``). The SDK packages are pinned in
requirements-dev.txt to releases that ship exactly the API versions the templates use.

Checked for every resource the templates declare (``existing`` ones included for their type and
API version, Microsoft Graph extension resources excluded: they are not ARM resources):

* the (type, API version) has a schema here: a new resource type or API version must add one;
* every property written, at every depth, exists in that schema at that place;
* no read-only property is written;
* a literal ``true``/``false`` or number is not given where the schema wants another primitive.

Values that are expressions (references, function calls, conditions) are not evaluated, but the
literal objects and arrays written in the template are checked all the way down.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra.checks.bicep_eval import Template

INFRA = Path("infra")

#: (resource type, API version) -> (SDK models module, model class of the PUT body).
SCHEMAS: dict[tuple[str, str], tuple[str, str]] = {
    ("Microsoft.Resources/resourceGroups", "2022-09-01"): (
        "azure.mgmt.resource.resources.v2022_09_01.models",
        "ResourceGroup",
    ),
    ("Microsoft.ManagedIdentity/userAssignedIdentities", "2024-11-30"): (
        "azure.mgmt.msi.v2024_11_30.models",
        "Identity",
    ),
    ("Microsoft.OperationalInsights/workspaces", "2025-07-01"): (
        "azure.mgmt.loganalytics.models",
        "Workspace",
    ),
    ("Microsoft.Insights/components", "2020-02-02"): (
        "azure.mgmt.applicationinsights.v2020_02_02.models",
        "ApplicationInsightsComponent",
    ),
    ("Microsoft.Insights/diagnosticSettings", "2021-05-01-preview"): (
        "azure.mgmt.monitor.v2021_05_01_preview.models",
        "DiagnosticSettingsResource",
    ),
    ("Microsoft.Insights/actionGroups", "2023-01-01"): (
        "azure.mgmt.monitor.v2023_01_01.models",
        "ActionGroupResource",
    ),
    ("Microsoft.Insights/scheduledQueryRules", "2022-08-01-preview"): (
        "azure.mgmt.monitor.v2022_08_01_preview.models",
        "ScheduledQueryRuleResource",
    ),
    ("Microsoft.Web/serverfarms", "2024-04-01"): (
        "azure.mgmt.web.v2024_04_01.models",
        "AppServicePlan",
    ),
    ("Microsoft.Web/sites", "2024-04-01"): ("azure.mgmt.web.v2024_04_01.models", "Site"),
    ("Microsoft.Web/sites/config", "2024-04-01"): (
        "azure.mgmt.web.v2024_04_01.models",
        "StringDictionary",
    ),
    ("Microsoft.Web/sites/basicPublishingCredentialsPolicies", "2024-04-01"): (
        "azure.mgmt.web.v2024_04_01.models",
        "CsmPublishingCredentialsPoliciesEntity",
    ),
    ("Microsoft.Storage/storageAccounts", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "StorageAccountCreateParameters",
    ),
    ("Microsoft.Storage/storageAccounts/blobServices", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "BlobServiceProperties",
    ),
    ("Microsoft.Storage/storageAccounts/blobServices/containers", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "BlobContainer",
    ),
    ("Microsoft.Storage/storageAccounts/queueServices", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "QueueServiceProperties",
    ),
    ("Microsoft.Storage/storageAccounts/queueServices/queues", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "StorageQueue",
    ),
    ("Microsoft.Storage/storageAccounts/tableServices", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "TableServiceProperties",
    ),
    ("Microsoft.Storage/storageAccounts/tableServices/tables", "2023-05-01"): (
        "azure.mgmt.storage.v2023_05_01.models",
        "Table",
    ),
    ("Microsoft.Authorization/roleAssignments", "2022-04-01"): (
        "azure.mgmt.authorization.v2022_04_01.models",
        "RoleAssignmentCreateParameters",
    ),
    ("Microsoft.Network/virtualNetworks", "2024-03-01"): (
        "azure.mgmt.network.models",
        "VirtualNetwork",
    ),
    ("Microsoft.Network/privateEndpoints", "2024-03-01"): (
        "azure.mgmt.network.models",
        "PrivateEndpoint",
    ),
    ("Microsoft.Network/privateEndpoints/privateDnsZoneGroups", "2024-03-01"): (
        "azure.mgmt.network.models",
        "PrivateDnsZoneGroup",
    ),
    ("Microsoft.Network/privateDnsZones", "2024-06-01"): (
        "azure.mgmt.privatedns.models",
        "PrivateZone",
    ),
    ("Microsoft.Network/privateDnsZones/virtualNetworkLinks", "2024-06-01"): (
        "azure.mgmt.privatedns.models",
        "VirtualNetworkLink",
    ),
}

#: Bicep resource-declaration keys that are not part of the resource body ARM receives.
BICEP_KEYS = frozenset({"name", "parent", "scope", "dependsOn"})

#: Provider namespaces handled by Bicep extensions, not ARM.
EXTENSION_NAMESPACES = ("Microsoft.Graph/",)

_FREE_FORM = ("{", "object")

#: Schema primitive -> the kind of Bicep literal it accepts ("a string" for anything textual).
_PRIMITIVES = {
    "bool": "a bool",
    "int": "a number",
    "long": "a number",
    "float": "a number",
    "str": "a string",
    "iso-8601": "a string",
    "duration": "a string",
    "date": "a string",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Field:
    """One property at one place of a schema: a leaf with a type, or a flattened group."""

    type: str | None  # None: a group of flattened properties ("properties")
    readonly: bool
    children: dict[str, Field]


@cache
def _models(module: str) -> Any:
    return importlib.import_module(module)


def _fields(module: str, class_name: str) -> dict[str, Field]:
    """Wire name -> Field for a model (its subtypes' properties included)."""
    models = _models(module)
    cls = getattr(models, class_name)
    classes = [cls]
    for sub in (getattr(cls, "_subtype_map", None) or {}).values():
        classes.extend(getattr(models, name) for name in sub.values() if hasattr(models, name))
    root: dict[str, Field] = {}
    for model in classes:
        validation = getattr(model, "_validation", {}) or {}
        for attribute, spec in (getattr(model, "_attribute_map", {}) or {}).items():
            parts = [
                p.replace("\\\\.", ".") for p in spec["key"].replace("\\.", "\\\\.").split(".")
            ]
            readonly = bool((validation.get(attribute) or {}).get("readonly"))
            level = root
            for part in parts[:-1]:
                group = level.get(part)
                if group is None or group.type is not None:
                    group = Field(None, False, {})
                    level[part] = group
                level = group.children
            level[parts[-1]] = Field(spec["type"], readonly, {})
    return root


def _key_parts(key: str) -> list[str]:
    """msrest wire key -> path; ``\\.`` escapes a dot inside a name (``odata\\.type``)."""
    return [part.replace("\0", ".") for part in key.replace("\\.", "\0").split(".")]


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == "'" else key


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and (set(value) <= {"function", "operator"})


def _check_value(module: str, field: Field, value: Any, path: str) -> list[str]:
    type_name = field.type or ""
    if isinstance(value, dict) and "loop_type" in value:  # [for x in y: {...}]
        element = type_name[1:-1] if type_name.startswith("[") else type_name
        item = value.get("config")
        return _check_value(module, Field(element, False, {}), item, f"{path}[]")
    if value is None or _is_expression(value) or type_name.startswith(_FREE_FORM):
        return []
    if type_name.startswith("["):
        if not isinstance(value, list):
            return []
        element_field = Field(type_name[1:-1], False, {})
        problems: list[str] = []
        for index, entry in enumerate(value):
            problems += _check_value(module, element_field, entry, f"{path}[{index}]")
        return problems
    literal = "a bool" if isinstance(value, bool) else "a number" if _is_number(value) else None
    wants = _PRIMITIVES.get(type_name)
    if literal is not None and wants is not None and literal != wants:
        return [f"{path}: {literal} where the schema wants {type_name}"]
    if isinstance(value, dict) and hasattr(_models(module), type_name):
        return _check_object(module, _fields(module, type_name), value, path)
    return []


def _check_object(
    module: str, fields: dict[str, Field], body: dict[str, Any], path: str
) -> list[str]:
    problems: list[str] = []
    for raw_key, value in body.items():
        key = _unquote(raw_key)
        where = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            known = ", ".join(sorted(fields))
            problems.append(f"{where}: no such property here (known: {known})")
            continue
        if field.readonly:
            problems.append(f"{where}: read-only property")
            continue
        if field.type is None:
            if isinstance(value, dict) and not _is_expression(value):
                problems += _check_object(module, field.children, value, where)
            continue
        problems += _check_value(module, field, value, where)
    return problems


def resource_problems(template: Template, name: str) -> list[str]:
    resource = template.resources[name]
    resource_type, api_version = resource["type"], resource.get("api_version")
    if resource_type.startswith(EXTENSION_NAMESPACES):
        return []
    schema = SCHEMAS.get((resource_type, api_version))
    where = f"{template.path.name} {name} ({resource_type}@{api_version})"
    if schema is None:
        return [f"{where}: no schema for this type and API version (add it to SCHEMAS)"]
    if resource.get("existing"):
        return []
    module, class_name = schema
    body = {k: v for k, v in template.resource_body(name).items() if _unquote(k) not in BICEP_KEYS}
    return [f"{where}: {p}" for p in _check_object(module, _fields(module, class_name), body, "")]


def schema_problems(root: Path) -> list[str]:
    problems: list[str] = []
    for path in sorted((root / INFRA).rglob("*.bicep")):
        template = Template.load(path)
        for name in template.resources:
            problems += resource_problems(template, name)
    return problems
