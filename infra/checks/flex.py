"""Flex Consumption refuses or ignores site properties and app settings other plans take.

Source: Microsoft, "Flex Consumption plan deprecations" in the App settings reference for Azure
Functions (learn.microsoft.com/azure/azure-functions/functions-app-settings, section
flex-consumption-plan-deprecations), which lists the ``siteConfig`` properties and app settings
that are deprecated or moved to ``properties.functionAppConfig`` on Flex Consumption. ARM
rejects the site properties below with error 51021 in newer regions and silently ignores them
in older ones (which is why a deployment that worked once is no proof), so a template must not
set them at all. The same list is enforced by the Azure Verified Modules' web-site module tests.

The check reads every ``Microsoft.Web/sites`` resource whose properties carry
``functionAppConfig`` (the Flex Consumption shape) and the app settings the deployment sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.checks.bicep_eval import Template
from infra.checks.contract import deployed_app_settings, main_template

#: ``properties.siteConfig`` members Flex Consumption does not support.
UNSUPPORTED_SITE_CONFIG: frozenset[str] = frozenset(
    {
        "alwaysOn",
        "ftpsState",
        "functionAppScaleLimit",
        "functionsRuntimeScaleMonitoringEnabled",
        "javaContainer",
        "javaContainerVersion",
        "javaVersion",
        "linuxFxVersion",
        "netFrameworkVersion",
        "nodeVersion",
        "phpVersion",
        "powerShellVersion",
        "preWarmedInstanceCount",
        "pythonVersion",
        "use32BitWorkerProcess",
        "windowsFxVersion",
    }
)

#: App settings the table lists as deprecated or replaced by ``functionAppConfig`` on Flex.
DEPRECATED_APP_SETTINGS: frozenset[str] = frozenset(
    {
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "TZ",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_MOUNT_ENABLED",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_TIME_ZONE",
        "WEBSITE_USE_PLACEHOLDER_DOTNETISOLATED",
        "WEBSITE_VNET_ROUTE_ALL",
    }
)


def _flex_sites(template: Template) -> list[tuple[str, dict[str, Any]]]:
    sites = []
    for name, resource in template.resources.items():
        if resource["type"] != "Microsoft.Web/sites" or resource.get("existing"):
            continue
        body = template.resource_body(name)
        properties = body.get("properties")
        if isinstance(properties, dict) and "functionAppConfig" in properties:
            sites.append((name, properties))
    return sites


def flex_problems(root: Path) -> list[str]:
    """Unsupported site properties and deprecated app settings on the Flex Consumption app."""
    api = main_template(root).module("api")
    sites = _flex_sites(api)
    if not sites:
        return ["app/api.bicep declares no Flex Consumption site (properties.functionAppConfig)"]
    problems: list[str] = []
    for name, properties in sites:
        site_config = properties.get("siteConfig")
        if isinstance(site_config, dict):
            for key in sorted(set(site_config) & UNSUPPORTED_SITE_CONFIG):
                problems.append(
                    f"app/api.bicep {name}: siteConfig.{key} is not supported on Flex Consumption "
                    "(Flex Consumption plan deprecations)"
                )
    for key in sorted(set(deployed_app_settings(root)) & DEPRECATED_APP_SETTINGS):
        problems.append(
            f"app setting {key} is deprecated on Flex Consumption (Flex Consumption plan "
            "deprecations); use properties.functionAppConfig instead"
        )
    return problems
