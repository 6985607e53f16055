"""What the templates declare: hosting, storage hardening, identity-based access, RBAC, Graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from infra.checks.azd_params import BASE_ENVIRONMENT, substitute
from infra.checks.bicep_eval import Symbol, Template

from .conftest import INFRA, REPO_ROOT

#: Built-in Azure role definition ids the templates must use (stable across tenants).
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
}
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
    for name, module in main_bicep.modules.items():
        assert module["config"]["scope"] == "rg", name
        tags = main_bicep.module_arguments(name).get("tags")
        if tags is not None:
            assert tags["azd-env-name"] == "contract", name


def test_azd_parameters_file_passes_the_environment_name_and_location() -> None:
    text = (INFRA / "main.parameters.json").read_text()
    assert '"value": "${AZURE_ENV_NAME}"' in text and '"value": "${AZURE_LOCATION}"' in text
    parameters = json.loads(substitute(text, BASE_ENVIRONMENT))["parameters"]
    assert parameters["environmentName"]["value"] == BASE_ENVIRONMENT["AZURE_ENV_NAME"]
    assert parameters["location"]["value"] == BASE_ENVIRONMENT["AZURE_LOCATION"]
    main_parameters = Template.load(INFRA / "main.bicep").parameters
    assert set(parameters) <= set(main_parameters), "unknown parameter in main.parameters.json"


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
    from infra.checks.contract import main_template

    main = main_template(REPO_ROOT, {"instanceMemoryMB": 4096, "maximumInstanceCount": 7})
    api = main.module("api")
    site = _only(api, "Microsoft.Web/sites")
    scale = api.evaluate(site["properties"]["functionAppConfig"]["scaleAndConcurrency"])
    assert scale == {"instanceMemoryMB": 4096, "maximumInstanceCount": 7}


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


# ---- role assignments ------------------------------------------------------------------------


def _assignments(rbac: Template) -> dict[str, dict[str, Any]]:
    return {
        name: rbac.resources[name]
        for name, r in rbac.resources.items()
        if r["type"] == "Microsoft.Authorization/roleAssignments"
    }


def _role_id(rbac: Template, body: dict[str, Any]) -> str:
    role = body["properties"]["roleDefinitionId"]["function"]
    assert role["type"] == "subscription_resource_id"
    assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    value = rbac.evaluate(role["parameters"]["resource_name_1"])
    assert isinstance(value, str)
    return value


def test_identity_gets_exactly_the_data_roles_it_needs(main_bicep: Template) -> None:
    rbac = main_bicep.module("rbac")
    identity_roles: dict[str, Any] = {}
    for name in _assignments(rbac):
        body = rbac.resource_body(name)
        if body["properties"]["principalId"] == "identityPrincipalId":
            identity_roles[_role_id(rbac, body)] = body["scope"]
            assert body["properties"]["principalType"] == "ServicePrincipal"
    assert identity_roles == {
        ROLE_IDS["Storage Blob Data Owner"]: "storage",
        ROLE_IDS["Storage Queue Data Contributor"]: "storage",
        ROLE_IDS["Storage Table Data Contributor"]: "storage",
        ROLE_IDS["Monitoring Metrics Publisher"]: "applicationInsights",
    }
    assert main_bicep.module_arguments("rbac")["identityPrincipalId"] == Symbol(
        "identity.outputs.principalId"
    )


def test_role_assignment_names_are_deterministic_guids_of_scope_principal_and_role(
    main_bicep: Template,
) -> None:
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
    rbac = main_bicep.module("rbac")
    hr = [
        n
        for n in _assignments(rbac)
        if rbac.resource_body(n)["properties"]["principalId"] == "hrSenderPrincipalId"
    ]
    assert len(hr) == 1
    resource = rbac.resources[hr[0]]["config"]
    body = rbac.resource_body(hr[0])
    assert _role_id(rbac, body) == ROLE_IDS["Storage Queue Data Message Sender"]
    assert body["properties"]["principalType"] == "hrSenderPrincipalType"
    # Created only when a principal id is given.
    assert rbac.evaluate(resource["condition"]) is False
    with_hr = Template.load(rbac.path, {**rbac.arguments, "hrSenderPrincipalId": "hr-sp"})
    assert with_hr.evaluate(resource["condition"]) is True
    # Scoped to the invitations queue, not the account.
    queue = rbac.resources[body["scope"]]
    assert queue["type"] == "Microsoft.Storage/storageAccounts/queueServices/queues"
    assert queue["existing"] is True
    assert rbac.evaluate(queue["config"]["name"]) == "guest-invitations"
    args = main_bicep.module_arguments("rbac")
    assert args["hrSenderPrincipalId"] == "" and args["hrSenderPrincipalType"] == "ServicePrincipal"


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
    assert sp["config"]["appId"] == GRAPH_APP_ID
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
