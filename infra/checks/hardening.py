"""What an identity team's review asks of the deployment besides least-privilege roles.

* **Basic publishing credentials off.** App Service keeps user-name/password publishing for the
  ``scm`` (Kudu, zip deploy) and ``ftp`` endpoints on unless the site's
  ``Microsoft.Web/sites/basicPublishingCredentialsPolicies`` children named ``scm`` and ``ftp``
  say ``allow: false`` (Microsoft, "Disable basic authentication in App Service deployments";
  the resource and its ``properties.allow`` are in azure-mgmt-web's
  ``CsmPublishingCredentialsPoliciesEntity`` at 2024-04-01). ``azd deploy`` publishes with
  Entra ID, so nothing here needs them.
* **Audit on every storage service holding the app's data.** Each of the storage account's
  ``queueServices`` and ``tableServices`` has a ``Microsoft.Insights/diagnosticSettings`` that
  sends the ``StorageWrite`` and ``StorageDelete`` categories to the Log Analytics workspace
  (Azure Monitor's categories for Storage resource logs), so who wrote or deleted what is kept.
* **The Functions host's diagnostic events.** The host writes them to a table it creates per
  month in AzureWebJobsStorage, ``AzureFunctionsDiagnosticEvents<yyyyMM>``, lists and deletes
  older ones (Azure/azure-functions-host at commit 89dc438d4, 4.1037 release prep:
  ``src/WebJobs.Script.WebHost/Diagnostics/DiagnosticEventTableStorageRepository.cs``,
  ``TableNamePrefix``, ``FlushLogs`` -> ``TableStorageHelpers.CreateIfNotExistsAsync`` every 10
  minutes, ``PurgePreviousEventVersions``). That needs a table role on the *account*. Without one
  it fails every flush with 403 AuthorizationPermissionMismatch (Azure/azure-functions-host#10995)
  and the portal reports AZFD0003 (Microsoft's AZFD0003 page: ``AzureWebJobsStorage`` needs
  create/read/write/delete on tables). The host registers the table sink only when the
  ``AzureWebJobsFeatureFlags`` app setting does not contain ``DisableDiagnosticEventLogging``
  (``WebHostServiceCollectionExtensions.cs``, ``DiagnosticEventLogger.cs``, ``FeatureFlags.cs``:
  a comma-separated list). So: either the app's identity holds an account-scope table role, or
  the flag is set. This deployment sets the flag (no account-wide table role: it would let the
  app delete the ledger table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.checks.bicep_eval import Template, render
from infra.checks.contract import deployed_app_settings, main_template

BASIC_AUTH_POLICY = "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
DIAGNOSTIC_SETTINGS = "Microsoft.Insights/diagnosticSettings"
AUDITED_SERVICES = (
    "Microsoft.Storage/storageAccounts/queueServices",
    "Microsoft.Storage/storageAccounts/tableServices",
)
AUDIT_CATEGORIES = frozenset({"StorageWrite", "StorageDelete"})
HOST_FLAG = "DisableDiagnosticEventLogging"
TABLE_ROLES = ("Storage Table Data Contributor", "Storage Table Data Owner")


def _of_type(template: Template, resource_type: str) -> list[str]:
    return [
        name
        for name, resource in template.resources.items()
        if resource["type"] == resource_type and not resource.get("existing")
    ]


def basic_auth_problems(api: Template) -> list[str]:
    problems: list[str] = []
    for site in _of_type(api, "Microsoft.Web/sites"):
        policies: dict[str, Any] = {}
        for name in _of_type(api, BASIC_AUTH_POLICY):
            body = api.resource_body(name)
            if body.get("parent") == site:
                properties = body.get("properties") or {}
                policies[str(api.evaluate(body["name"]))] = api.evaluate(properties.get("allow"))
        for endpoint in ("scm", "ftp"):
            if endpoint not in policies:
                problems.append(
                    f"app/api.bicep {site}: no basicPublishingCredentialsPolicies '{endpoint}': "
                    f"basic authentication to {endpoint} stays on"
                )
            elif policies[endpoint] is not False:
                problems.append(
                    f"app/api.bicep {site}: basicPublishingCredentialsPolicies '{endpoint}' allows "
                    f"basic authentication ({policies[endpoint]!r})"
                )
    return problems


def audit_problems(storage: Template) -> list[str]:
    audited: dict[str, set[str]] = {}
    for name in _of_type(storage, DIAGNOSTIC_SETTINGS):
        body = storage.resource_body(name)
        properties = body.get("properties") or {}
        if properties.get("workspaceId") is None:
            continue
        categories = {
            str(log.get("category"))
            for log in properties.get("logs") or []
            if isinstance(log, dict) and storage.evaluate(log.get("enabled")) is True
        }
        scope = str(body.get("scope"))
        audited[scope] = audited.get(scope, set()) | categories
    problems: list[str] = []
    for service_type in AUDITED_SERVICES:
        for service in _of_type(storage, service_type):
            missing = sorted(AUDIT_CATEGORIES - audited.get(service, set()))
            if missing:
                problems.append(
                    f"app/storage.bicep {service}: no diagnostic setting sends "
                    f"{', '.join(missing)} to the Log Analytics workspace (audit)"
                )
    return problems


def _account_table_role(rbac: Template) -> bool:
    """Whether rbac.bicep gives the app an account-scope table role."""
    for name in _of_type(rbac, "Microsoft.Authorization/roleAssignments"):
        body = rbac.resource_body(name)
        if body.get("scope") != "storage":
            continue
        role = render((body.get("properties") or {}).get("roleDefinitionId"))
        if any(table_role in role for table_role in TABLE_ROLES):
            return True
    return False


def host_diagnostics_problems(root: Path) -> list[str]:
    flags = str(deployed_app_settings(root).get("AzureWebJobsFeatureFlags", ""))
    disabled = HOST_FLAG in {flag.strip() for flag in flags.split(",")}
    if disabled or _account_table_role(main_template(root).module("rbac")):
        return []
    return [
        "the Functions host writes its diagnostic events to tables it creates in "
        "AzureWebJobsStorage (AzureFunctionsDiagnosticEvents<yyyyMM>); the identity has no "
        f"account-scope table role: set AzureWebJobsFeatureFlags={HOST_FLAG} or grant one "
        "(otherwise 403 every 10 minutes, AZFD0003)"
    ]


def hardening_problems(root: Path) -> list[str]:
    main = main_template(root)
    return [
        *basic_auth_problems(main.module("api")),
        *audit_problems(main.module("storage")),
        *host_diagnostics_problems(root),
    ]
