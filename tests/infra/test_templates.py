"""What the templates declare: hosting, storage hardening, identity-based access, RBAC, Graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.checks.azd_params import (
    BASE_ENVIRONMENT,
    ensure_parameters,
    load_parameters,
    template_parameters,
)
from infra.checks.bicep_eval import Symbol, Template
from infra.checks.contract import main_template
from infra.checks.roles import BUILT_IN_ROLES
from infra.checks.versions import required_azd

from .conftest import INFRA, REPO_ROOT

#: Built-in Azure role definition ids (stable across tenants; checked by infra/checks/roles.py).
ROLE_IDS = BUILT_IN_ROLES
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def _only(template: Template, resource_type: str) -> dict[str, Any]:
    matches = [n for n, r in template.resources.items() if r["type"] == resource_type]
    assert len(matches) == 1, f"expected one {resource_type}, found {matches}"
    return template.resource_body(matches[0])


def _load_yaml(path: str) -> Any:
    return yaml.safe_load(Path(path).read_text())


# ---- azd ------------------------------------------------------------------------------------


def test_azure_yaml_deploys_this_folder_as_a_python_function_service(main_bicep: Template) -> None:
    azure = _load_yaml(str(REPO_ROOT / "azure.yaml"))
    assert azure["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    (service_name, service), *others = azure["services"].items()
    assert not others
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app to deploy to by the azd-service-name tag.
    tags = main_bicep.module_arguments("api")["tags"]
    assert tags["azd-service-name"] == service_name


def test_main_is_subscription_scoped_and_creates_the_tagged_resource_group(
    main_bicep: Template,
) -> None:
    assert main_bicep.parsed["globals"]["scope"]["value"] == "subscription"
    group = _only(main_bicep, "Microsoft.Resources/resourceGroups")
    assert main_bicep.evaluate(group["name"]) == "rg-contract"
    assert main_bicep.evaluate(group["tags"]) == {"azd-env-name": "contract"}
    for name in main_bicep.modules:
        assert main_bicep.module_body(name)["scope"] == "rg", name
        tags = main_bicep.module_arguments(name).get("tags")
        if tags is not None:
            assert tags["azd-env-name"] == "contract", name


def test_azd_parameters_file_passes_the_environment_name_and_location() -> None:
    text = (INFRA / "main.parameters.json").read_text()
    assert '"value": "${AZURE_ENV_NAME}"' in text and '"value": "${AZURE_LOCATION}"' in text
    template = template_parameters(REPO_ROOT)
    azd = required_azd(REPO_ROOT)
    assert azd is not None
    loaded = load_parameters(text, template, BASE_ENVIRONMENT, azd=azd)
    values = ensure_parameters(template, loaded).values
    assert values["environmentName"] == BASE_ENVIRONMENT["AZURE_ENV_NAME"]
    assert values["location"] == BASE_ENVIRONMENT["AZURE_LOCATION"]
    assert set(json.loads(text)["parameters"]) <= set(template), "unknown parameter"


# ---- hosting ----------------------------------------------------------------------------------


def test_function_app_runs_on_flex_consumption_with_python_311(main_bicep: Template) -> None:
    api = main_bicep.module("api")
    plan = _only(api, "Microsoft.Web/serverfarms")
    assert api.evaluate(plan["sku"]) == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    site = _only(api, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["httpsOnly"] is True
    config = api.evaluate(site["properties"]["functionAppConfig"])
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["scaleAndConcurrency"] == {"instanceMemoryMB": 2048, "maximumInstanceCount": 40}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert storage["authentication"]["userAssignedIdentityResourceId"] == Symbol(
        "identity.outputs.resourceId"
    )


def test_scale_settings_come_from_main_parameters() -> None:
    main = main_template(REPO_ROOT, {"instanceMemoryMB": 4096, "maximumInstanceCount": 7})
    api = main.module("api")
    site = _only(api, "Microsoft.Web/sites")
    scale = api.evaluate(site["properties"]["functionAppConfig"]["scaleAndConcurrency"])
    assert scale == {"instanceMemoryMB": 4096, "maximumInstanceCount": 7}


def test_instance_cap_is_described_per_function_group_not_app_wide(main_bicep: Template) -> None:
    # Flex Consumption scales each non-HTTP function in its own group; maximumInstanceCount
    # applies to each group, so it does not cap Graph writers across the app.
    decorators = main_bicep.parameters["maximumInstanceCount"]["decorators"]
    (description,) = [d["argument"] for d in decorators if d["type"] == "description"]
    assert "per function group" in description and "not an app-wide cap" in description
    doc = (REPO_ROOT / "docs" / "deployment.md").read_text()
    (row,) = [line for line in doc.splitlines() if line.startswith("| `FUNCTION_MAXIMUM_INSTANCE")]
    assert "per function group" in row and "caps concurrent Graph writers" not in row


def test_function_app_uses_only_the_user_assigned_identity(main_bicep: Template) -> None:
    api = main_bicep.module("api")
    site = _only(api, "Microsoft.Web/sites")
    identity = api.evaluate(site["identity"])
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == ["${identityId}"]
    assert main_bicep.module_arguments("api")["identityId"] == Symbol("identity.outputs.resourceId")


# ---- storage ----------------------------------------------------------------------------------


def test_storage_account_refuses_shared_keys_and_plain_http(main_bicep: Template) -> None:
    storage = main_bicep.module("storage")
    account = storage.evaluate(_only(storage, "Microsoft.Storage/storageAccounts")["properties"])
    assert account["allowSharedKeyAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["supportsHttpsTrafficOnly"] is True
    assert account["allowBlobPublicAccess"] is False


def test_storage_holds_the_deployment_container_used_by_the_app(main_bicep: Template) -> None:
    storage_args = main_bicep.module_arguments("storage")
    api_args = main_bicep.module_arguments("api")
    assert storage_args["deploymentContainerName"] == api_args["deploymentContainerName"]
    storage = main_bicep.module("storage")
    container = _only(storage, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["name"] == "deploymentContainerName"
    assert container["properties"]["publicAccess"] == "None"


# ---- private network ----------------------------------------------------------------------------


def test_private_network_is_off_by_default_and_storage_is_public(main_bicep: Template) -> None:
    assert main_bicep.module_instances("network") == []
    assert main_bicep.module_arguments("storage")["publicNetworkAccess"] == "Enabled"
    assert main_bicep.module_arguments("api")["virtualNetworkSubnetId"] == ""


def test_private_network_closes_storage_and_integrates_the_app() -> None:
    main = main_template(REPO_ROOT, {"vnetEnabled": True})
    (network,) = main.module_instances("network")
    assert network["storageAccountName"] == Symbol("storage.outputs.name")
    assert main.module_arguments("api")["virtualNetworkSubnetId"] == Symbol(
        "network.outputs.appSubnetId"
    )
    storage = main.module("storage")
    account = storage.evaluate(_only(storage, "Microsoft.Storage/storageAccounts")["properties"])
    assert account["publicNetworkAccess"] == "Disabled"
    assert account["networkAcls"] == {"defaultAction": "Deny", "bypass": "None"}

    vnet = main.module("network")
    body = vnet.evaluate(_only(vnet, "Microsoft.Network/virtualNetworks")["properties"])
    app_subnet = next(s for s in body["subnets"] if s["name"] == "app")
    delegation = app_subnet["properties"]["delegations"][0]["properties"]["serviceName"]
    assert delegation == "Microsoft.App/environments"  # what Flex Consumption integrates with
    services = [args["service"] for args in vnet.module_instances("storageEndpoints")]
    assert services == ["blob", "queue", "table"]


def test_each_private_endpoint_has_its_dns_zone(main_bicep: Template) -> None:
    endpoint = Template.load(INFRA / "app" / "private-endpoint.bicep", {"service": "queue"})
    zone = _only(endpoint, "Microsoft.Network/privateDnsZones")
    assert zone["name"] == "privatelink.${service}.${environment().suffixes.storage}"
    pe = endpoint.evaluate(_only(endpoint, "Microsoft.Network/privateEndpoints")["properties"])
    assert pe["privateLinkServiceConnections"][0]["properties"]["groupIds"] == ["queue"]
    group = _only(endpoint, "Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
    assert group["parent"] == "endpoint"


# ---- monitoring ---------------------------------------------------------------------------------


def test_application_insights_accepts_only_entra_authenticated_telemetry(
    main_bicep: Template,
) -> None:
    monitoring = main_bicep.module("monitoring")
    insights = _only(monitoring, "Microsoft.Insights/components")
    assert insights["properties"]["DisableLocalAuth"] is True
    workspace = _only(monitoring, "Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["features"]["disableLocalAuth"] is True

    api = Template.load(
        INFRA / "app" / "api.bicep", {"identityClientId": "client-123", "appSettings": {}}
    )
    settings = api.evaluate(_only(api, "Microsoft.Web/sites/config")["properties"])
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=client-123;Authorization=AAD"
    )
    assert settings["AZURE_CLIENT_ID"] == "client-123"
    assert settings["AzureWebJobsStorage__clientId"] == "client-123"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in settings  # no connection string: shared keys are off


def test_queue_and_table_writes_and_deletes_are_kept_in_log_analytics(
    main_bicep: Template,
) -> None:
    storage = main_bicep.module("storage")
    audited: dict[str, set[str]] = {}
    for name, resource in storage.resources.items():
        if resource["type"] != "Microsoft.Insights/diagnosticSettings":
            continue
        body = storage.resource_body(name)
        properties = storage.evaluate(body["properties"])
        assert properties["workspaceId"] == Symbol("monitoring.outputs.logAnalyticsId")
        service = storage.resources[body["scope"]]["type"]
        audited[service] = {log["category"] for log in properties["logs"] if log["enabled"]}
    assert audited == {
        "Microsoft.Storage/storageAccounts/queueServices": {"StorageWrite", "StorageDelete"},
        "Microsoft.Storage/storageAccounts/tableServices": {"StorageWrite", "StorageDelete"},
    }
    assert main_bicep.module_arguments("storage")["logAnalyticsWorkspaceId"] == Symbol(
        "monitoring.outputs.logAnalyticsId"
    )


def _alert_rules(alerts: Template) -> dict[str, dict[str, Any]]:
    return {
        n: alerts.evaluate(alerts.resource_body(n)["properties"])
        for n, r in alerts.resources.items()
        if r["type"] == "Microsoft.Insights/scheduledQueryRules"
    }


def test_alert_rules_watch_the_application_insights_resource_and_notify_the_action_group(
    main_bicep: Template,
) -> None:
    """Where the rules look and whom they tell. What they look for, and that each fires for its
    condition and not for a healthy run, is tests/telemetry/test_alerts.py."""
    alerts = main_bicep.module("alerts")
    rules = _alert_rules(alerts)
    assert rules
    for properties in rules.values():
        assert properties["scopes"] == [Symbol("monitoring.outputs.applicationInsightsId")]
        assert properties["actions"]["actionGroups"] == [Symbol("actionGroup.id")]
    assert main_bicep.module_arguments("alerts")["applicationInsightsId"] == Symbol(
        "monitoring.outputs.applicationInsightsId"
    )


def test_alert_email_is_a_parameter_and_optional() -> None:
    def receivers(email: str) -> Any:
        alerts = main_template(REPO_ROOT, {"alertEmail": email}).module("alerts")
        group = _only(alerts, "Microsoft.Insights/actionGroups")
        return alerts.evaluate(group["properties"])["emailReceivers"]

    assert receivers("") == []
    assert [r["emailAddress"] for r in receivers("ops@contoso.example")] == ["ops@contoso.example"]


# ---- role assignments ------------------------------------------------------------------------


def _assignments(template: Template) -> dict[str, dict[str, Any]]:
    return {
        name: template.resources[name]
        for name, r in template.resources.items()
        if r["type"] == "Microsoft.Authorization/roleAssignments"
    }


def _role_id(template: Template, body: dict[str, Any], local: dict[str, Any] | None = None) -> str:
    role = body["properties"]["roleDefinitionId"]["function"]
    assert role["type"] == "subscription_resource_id"
    assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    value = template.evaluate(role["parameters"]["resource_name_1"], local)
    assert isinstance(value, str)
    return value


def _grants(main: Template) -> set[tuple[str, str, str, str]]:
    """(principal, scope kind, scope name, role name) for every assignment rbac.bicep makes."""
    rbac = main.module("rbac")
    by_id = {v: k for k, v in ROLE_IDS.items()}
    grants: set[tuple[str, str, str, str]] = set()
    for name in _assignments(rbac):
        body = rbac.resource_body(name)
        principal = str(rbac.evaluate(body["properties"]["principalId"]))
        grants.add((principal, "account", body["scope"], by_id[_role_id(rbac, body)]))
    for module_name, module in rbac.modules.items():
        kind = {"queue-roles.bicep": "queue", "table-roles.bicep": "table"}[
            module["detail"]["path"]
        ]
        for args in rbac.module_instances(module_name):
            target = args["queueName"] if kind == "queue" else args["tableName"]
            for role_id in args["roleDefinitionIds"]:
                grants.add((str(args["principalId"]), kind, target, by_id[role_id]))
    return grants


IDENTITY = "<identity.outputs.principalId>"


def test_identity_roles_are_scoped_to_the_queues_and_tables_it_uses(main_bicep: Template) -> None:
    grants = {g[1:] for g in _grants(main_bicep) if g[0] == IDENTITY}
    read = {"Storage Queue Data Reader", "Storage Queue Data Message Processor"}
    send = "Storage Queue Data Message Sender"
    expected = {
        ("account", "storage", "Storage Blob Data Owner"),
        ("account", "applicationInsights", "Monitoring Metrics Publisher"),
        ("table", "guestledger", "Storage Table Data Contributor"),
        ("table", "graphbudget", "Storage Table Data Contributor"),
    }
    for queue in ("guest-invitations", "guest-assignments"):
        expected |= {("queue", queue, role) for role in (*read, send)}
        expected.add(("queue", f"{queue}-poison", send))
    assert grants == expected
    # No account-wide queue or table role: the app cannot create queues or tables.
    assert not {g for g in grants if g[0] == "account" and ("Queue" in g[2] or "Table" in g[2])}


def test_queue_and_table_roles_follow_renamed_queues_and_table() -> None:
    main = main_template(
        REPO_ROOT,
        {
            "invitationsQueueName": "in",
            "assignmentsQueueName": "steps",
            "guestLedgerTableName": "t",
            "graphBudgetTableName": "budget",
        },
    )
    targets = {(g[1], g[2]) for g in _grants(main) if g[0] == IDENTITY and g[1] != "account"}
    assert targets == {
        ("queue", "in"),
        ("queue", "steps"),
        ("queue", "in-poison"),
        ("queue", "steps-poison"),
        ("table", "t"),
        ("table", "budget"),
    }


def test_scoped_role_modules_assign_on_the_existing_queue_or_table() -> None:
    for module, kind in (("queue-roles.bicep", "queues"), ("table-roles.bicep", "tables")):
        template = Template.load(INFRA / "app" / module)
        (name,) = _assignments(template)
        body = template.resource_body(name)
        scope = template.resources[body["scope"]]
        assert scope["existing"] is True and scope["type"].endswith(f"/{kind}")
        guid = json.dumps(body["name"])
        assert '"guid"' in guid and f'"{body["scope"]}"' in guid and '"roleId"' in guid
        assert '"principalId"' in guid


def test_account_scope_assignment_names_are_deterministic_guids(main_bicep: Template) -> None:
    rbac = main_bicep.module("rbac")
    for name in _assignments(rbac):
        body = rbac.resource_body(name)
        guid = body["name"]["function"]
        assert guid["type"] == "guid", f"{name}: name must be guid(...)"
        parts = [json.dumps(v) for v in guid["parameters"].values() if v is not None]
        assert any(f'"{body["scope"]}"' in p and '"id"' in p for p in parts), name
        assert any(body["properties"]["principalId"] in p for p in parts), name
        assert any("roles" in p for p in parts), name


def test_hr_system_may_only_send_to_the_invitations_queue(main_bicep: Template) -> None:
    assert not [g for g in _grants(main_bicep) if g[0] == "hr-sp"]
    main = main_template(REPO_ROOT, {"hrSenderPrincipalId": "hr-sp"})
    assert {g for g in _grants(main) if g[0] == "hr-sp"} == {
        ("hr-sp", "queue", "guest-invitations", "Storage Queue Data Message Sender")
    }
    (args,) = main.module("rbac").module_instances("hrSender")
    assert args["principalType"] == "ServicePrincipal"


def test_deploying_user_may_send_invitations_and_read_the_ledger_unless_turned_off() -> None:
    main = main_template(REPO_ROOT, {"deployerPrincipalId": "me"})
    assert {g for g in _grants(main) if g[0] == "me"} == {
        ("me", "queue", "guest-invitations", "Storage Queue Data Message Sender"),
        ("me", "table", "guestledger", "Storage Table Data Reader"),
    }
    off = main_template(REPO_ROOT, {"deployerPrincipalId": "me", "grantDeployerAccess": False})
    assert not [g for g in _grants(off) if g[0] == "me"]
    # On by default; azd passes its signed-in principal.
    assert main.parameter_value("grantDeployerAccess") is True
    text = (INFRA / "main.parameters.json").read_text()
    assert '"value": "${AZURE_PRINCIPAL_ID}"' in text


# ---- Graph ------------------------------------------------------------------------------------


def test_graph_roles_are_looked_up_by_value_on_the_graph_service_principal(
    main_bicep: Template,
) -> None:
    graph = main_bicep.module("graphPermissions")
    sp_name, sp = next(
        (n, r)
        for n, r in graph.resources.items()
        if r["type"] == "Microsoft.Graph/servicePrincipals"
    )
    assert sp["existing"] is True and sp["api_version"] == "v1.0"
    assert graph.resource_body(sp_name)["appId"] == GRAPH_APP_ID
    grant_names = [
        n for n, r in graph.resources.items() if r["type"] == "Microsoft.Graph/appRoleAssignedTo"
    ]
    assert len(grant_names) == 1
    grant = graph.resources[grant_names[0]]
    assert grant["api_version"] == "v1.0"
    loop = grant["config"]["loop_type"]["detail"]
    body = grant["config"]["config"]
    assert body["principalId"] == "principalId"
    assert graph.evaluate(body["resourceId"]) == Symbol(f"{sp_name}.id")
    lookup = json.dumps(body["appRoleId"])
    assert '"filter"' in lookup and f'"{sp_name}"' in lookup and '"appRoles"' in lookup
    assert '"value"' in lookup and f'"{loop["item_name"]}"' in lookup
    assert main_bicep.module_arguments("graphPermissions")["principalId"] == Symbol(
        "identity.outputs.principalId"
    )
