"""Each static check of infra/ passes on this repository and fails on the defect it exists for.

Every mutation breaks a copy of the repository one way (the defect a check exists to catch),
runs the one check that should catch it, and asserts that a problem names the culprit. The
contract check's own mutations (code <-> infra drift) are in test_drift.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.checks.__main__ import CHECKS, run

from .conftest import REPO_ROOT

#: What the checks read; nothing else is copied.
NEEDED = [
    "function_app.py",
    "host.json",
    "azure.yaml",
    "guest_onboarding",
    "invite_fn",
    "assign_fn",
    "resend_timer_fn",
    "infra/main.bicep",
    "infra/main.parameters.json",
    "infra/bicepconfig.json",
    "infra/app",
    "infra/hooks/graph_grants.py",
    "docs/deployment.md",
    ".github/workflows",
]


def copy_repo(target: Path) -> Path:
    for relative in NEEDED:
        source = REPO_ROOT / relative
        if not source.exists():
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _api(root: Path) -> Path:
    return root / "infra" / "app" / "api.bicep"


# ---- flex: Flex Consumption's unsupported site properties and deprecated settings -------------


def _ftps_state_set(root: Path) -> None:
    edit(
        _api(root),
        "      minTlsVersion: '1.2'\n",
        "      minTlsVersion: '1.2'\n      ftpsState: 'Disabled'\n",
    )


def _always_on_set(root: Path) -> None:
    edit(
        _api(root),
        "      minTlsVersion: '1.2'\n",
        "      minTlsVersion: '1.2'\n      alwaysOn: true\n",
    )


def _worker_runtime_setting(root: Path) -> None:
    edit(
        _api(root),
        "    AZURE_CLIENT_ID: identityClientId\n",
        "    AZURE_CLIENT_ID: identityClientId\n    FUNCTIONS_WORKER_RUNTIME: 'python'\n",
    )


# ---- azd: main.parameters.json as azd loads it -------------------------------------------------


def _parameters(root: Path) -> Path:
    return root / "infra" / "main.parameters.json"


def _object_parameter_unquoted(root: Path) -> None:
    # The old line 63: azd parses the file as JSON before it substitutes anything.
    edit(_parameters(root), '"value": "${ACCESS_PROFILES}"', '"value": ${ACCESS_PROFILES=null}')


def _access_profiles_as_string(root: Path) -> None:
    edit(
        root / "infra" / "main.bicep",
        "param accessProfiles object = {}",
        "param accessProfiles string = '{}'",
    )


def _object_default_with_a_brace(root: Path) -> None:
    # envsubst ends a default at the first '}': a set value gets a stray '}' appended.
    edit(_parameters(root), '"${ACCESS_PROFILES}"', '"${ACCESS_PROFILES={}}"')


def _azd_before_object_from_string(root: Path) -> None:
    edit(root / "azure.yaml", 'azd: ">= 1.23.4"', 'azd: ">= 1.17.0"')


def _workflow_passes_empty_access_profiles(root: Path) -> None:
    edit(
        root / ".github" / "workflows" / "deploy.yml",
        "${{ vars.ACCESS_PROFILES || '{}' }}",
        "${{ vars.ACCESS_PROFILES }}",
    )


def _workflow_variable_undocumented(root: Path) -> None:
    edit(
        root / ".github" / "workflows" / "deploy.yml",
        "      VNET_ENABLED: ${{ vars.VNET_ENABLED }}\n",
        "      VNET_ENABLED: ${{ vars.VNET_ENABLED }}\n"
        "      RESEND_SCHEDULE: ${{ vars.RESEND_SCHEDULE }}\n",
    )


def _allowed_value_broken(root: Path) -> None:
    edit(
        _parameters(root),
        "${HR_SENDER_PRINCIPAL_TYPE=ServicePrincipal}",
        "${HR_SENDER_PRINCIPAL_TYPE=Application}",
    )


# ---- versions: azd new enough for the Bicep the Graph extension needs --------------------------


def _azd_too_old(root: Path) -> None:
    edit(root / "azure.yaml", 'azd: ">= 1.23.4"', 'azd: ">= 1.10.0"')


def _docs_claim_old_azd(root: Path) -> None:
    edit(root / "docs" / "deployment.md", "(`azd`) 1.23.4 or later", "(`azd`) 1.10 or later")


# ---- roles: role definition ids are the built-in roles their names say -------------------------


def _rbac(root: Path) -> Path:
    return root / "infra" / "app" / "rbac.bicep"


def _reader_id_is_the_contributor_id(root: Path) -> None:
    edit(
        _rbac(root),
        "'Storage Queue Data Reader': '19e7f393-937e-4f77-808e-94535e297925'",
        "'Storage Queue Data Reader': '974c5e8b-45b9-4653-ba55-5f855dd0fb88'",
    )


def _role_id_written_out(root: Path) -> None:
    edit(
        _rbac(root),
        "roles['Storage Blob Data Owner'])\n    principalId",
        "'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')\n    principalId",
    )


# ---- schema: properties against the SDK models of each type and API version -------------------


def _storage(root: Path) -> Path:
    return root / "infra" / "app" / "storage.bicep"


def _misspelled_property(root: Path) -> None:
    edit(
        _api(root),
        "maximumInstanceCount: maximumInstanceCount",
        "maximumInstances: maximumInstanceCount",
    )


def _property_outside_properties(root: Path) -> None:
    edit(_storage(root), "    minimumTlsVersion: 'TLS1_2'\n", "")
    edit(
        _storage(root),
        "  kind: 'StorageV2'\n",
        "  kind: 'StorageV2'\n  minimumTlsVersion: 'TLS1_2'\n",
    )


def _read_only_property(root: Path) -> None:
    edit(_api(root), "    httpsOnly: true\n", "    httpsOnly: true\n    defaultHostName: 'x'\n")


def _api_version_without_schema(root: Path) -> None:
    edit(_api(root), "'Microsoft.Web/sites@2024-04-01'", "'Microsoft.Web/sites@2021-02-01'")


def _wrong_literal_type(root: Path) -> None:
    edit(_api(root), "    httpsOnly: true\n", "    httpsOnly: 1\n")


# ---- modules: parameters and outputs between modules -------------------------------------------


def _main(root: Path) -> Path:
    return root / "infra" / "main.bicep"


def _missing_output(root: Path) -> None:
    edit(
        _main(root),
        "storageAccountName: storage.outputs.name",
        "storageAccountName: storage.outputs.accountName",
    )


def _unknown_module_parameter(root: Path) -> None:
    edit(_main(root), "    skuName: storageSkuName\n", "    sku: storageSkuName\n")


def _required_parameter_missing(root: Path) -> None:
    edit(_main(root), "    deploymentContainerName: deploymentContainerName\n", "")


# ---- workflows: actions pinned to commits ----------------------------------------------------


def _ci(root: Path) -> Path:
    return root / ".github" / "workflows" / "ci.yml"


def _action_pinned_by_tag(root: Path) -> None:
    edit(_ci(root), "actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09 # v5.1.0",
         "actions/checkout@v5")  # fmt: skip


def _sha_without_its_tag(root: Path) -> None:
    edit(_ci(root), "a0853c24544627f65ddf259abe73b1d18a591444 # v5.0.0",
         "a0853c24544627f65ddf259abe73b1d18a591444")  # fmt: skip


# ---- hardening: basic auth, audit, the host's diagnostics table --------------------------------


def _ftp_basic_auth_left_on(root: Path) -> None:
    path = _api(root)
    text = path.read_text()
    start = text.index("resource ftpBasicAuth")
    path.write_text(text[:start] + text[text.index("}\n}\n", start) + 4 :])


def _scm_basic_auth_allowed(root: Path) -> None:
    edit(_api(root), "  name: 'scm'\n  properties: {\n    allow: false",
         "  name: 'scm'\n  properties: {\n    allow: true")  # fmt: skip


def _tables_not_audited(root: Path) -> None:
    edit(_storage(root), "  scope: tableService\n", "  scope: queueService\n")


def _host_diagnostics_table_without_a_role(root: Path) -> None:
    edit(_api(root), "    AzureWebJobsFeatureFlags: 'DisableDiagnosticEventLogging'\n", "")


# ---- grants: Graph grants after the app, none with the CI switch off -------------------------


def _grants_not_after_the_app(root: Path) -> None:
    edit(_main(root), "  dependsOn: [\n    api\n    rbac\n  ]\n}\n\noutput", "}\n\noutput")


def _ci_switch_ignored(root: Path) -> None:
    edit(
        _main(root),
        "'app/graph-permissions.bicep' = if (grantGraphPermissions) {",
        "'app/graph-permissions.bicep' = {",
    )


def _graph_read_without_the_switch(root: Path) -> None:
    edit(
        root / "infra" / "app" / "graph-permissions.bicep",
        "existing = if (assign) {",
        "existing = {",
    )


def _permission_list_from_the_grants(root: Path) -> None:
    edit(
        _main(root),
        "output GRAPH_PERMISSIONS array = graphPermissionList.outputs.permissions",
        "output GRAPH_PERMISSIONS array = graphPermissions.outputs.permissions",
    )


def _permission_list_with_other_switches(root: Path) -> None:
    edit(
        _main(root),
        "    assign: false\n    grantAppRoleAssignment: appRoleAssignmentsEnabled\n",
        "    assign: false\n    grantAppRoleAssignment: false\n",
    )


MUTATIONS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "siteConfig.ftpsState on Flex": ("flex", _ftps_state_set, "siteConfig.ftpsState"),
    "siteConfig.alwaysOn on Flex": ("flex", _always_on_set, "siteConfig.alwaysOn"),
    "FUNCTIONS_WORKER_RUNTIME on Flex": (
        "flex",
        _worker_runtime_setting,
        "FUNCTIONS_WORKER_RUNTIME",
    ),
    "old line 63: an object parameter unquoted (not JSON)": (
        "azd",
        _object_parameter_unquoted,
        "main.parameters.json: error unmarshalling Bicep template parameters",
    ),
    "ACCESS_PROFILES as a string parameter (JSON pasted into JSON)": (
        "azd",
        _access_profiles_as_string,
        "the documented values): error unmarshalling Bicep template parameters",
    ),
    "object parameter with a default holding '}'": (
        "azd",
        _object_default_with_a_brace,
        "substituting parameter 'accessProfiles' (object)",
    ),
    "azure.yaml allows an azd without object-from-string": (
        "azd",
        _azd_before_object_from_string,
        "azd 1.17.0, the documented values): error unmarshalling",
    ),
    "deploy.yml passes an empty ACCESS_PROFILES": (
        "azd",
        _workflow_passes_empty_access_profiles,
        "optional repository variables unset): substituting parameter 'accessProfiles'",
    ),
    "deploy.yml reads an undocumented repository variable": (
        "azd",
        _workflow_variable_undocumented,
        "repository variable RESEND_SCHEDULE",
    ),
    "parameter outside @allowed": ("azd", _allowed_value_broken, "hrSenderPrincipalType"),
    "azd older than the Bicep the Graph extension needs": ("versions", _azd_too_old, "0.36.1"),
    "docs promise an older azd": ("versions", _docs_claim_old_azd, "azd 1.23.4 or later"),
    "action pinned by tag": ("workflows", _action_pinned_by_tag, "not a commit SHA"),
    "SHA without its tag": ("workflows", _sha_without_its_tag, "no '# <tag>' comment"),
    "basic auth to ftp left on": ("hardening", _ftp_basic_auth_left_on, "'ftp'"),
    "basic auth to scm allowed": ("hardening", _scm_basic_auth_allowed, "'scm' allows"),
    "tables without an audit setting": ("hardening", _tables_not_audited, "tableService"),
    "host diagnostics table without its role": (
        "hardening",
        _host_diagnostics_table_without_a_role,
        "AzureFunctionsDiagnosticEvents",
    ),
    "Graph grants not after the app": ("grants", _grants_not_after_the_app, "dependsOn api"),
    "Graph grants ignore the CI switch": (
        "grants",
        _ci_switch_ignored,
        "grantGraphPermissions=false it still deploys",
    ),
    "Graph read without the switch": ("grants", _graph_read_without_the_switch, "graphSp"),
    "permission list computed with other switches": (
        "grants",
        _permission_list_with_other_switches,
        "same arguments but `assign`",
    ),
    "GRAPH_PERMISSIONS from the skippable grants": (
        "grants",
        _permission_list_from_the_grants,
        "never skipped",
    ),
    "role id of another role": (
        "roles",
        _reader_id_is_the_contributor_id,
        "'Storage Queue Data Reader' is 19e7f393",
    ),
    "role id outside the roles table": ("roles", _role_id_written_out, "written out"),
    "misspelled property": ("schema", _misspelled_property, "maximumInstances: no such property"),
    "property at the wrong level": (
        "schema",
        _property_outside_properties,
        "minimumTlsVersion: no such property",
    ),
    "read-only property written": ("schema", _read_only_property, "defaultHostName: read-only"),
    "API version without a schema": ("schema", _api_version_without_schema, "2021-02-01"),
    "number where a bool goes": ("schema", _wrong_literal_type, "httpsOnly: a number"),
    "module output that does not exist": ("modules", _missing_output, "outputs.accountName"),
    "unknown module parameter": ("modules", _unknown_module_parameter, "passes sku"),
    "required module parameter not passed": (
        "modules",
        _required_parameter_missing,
        "does not pass required deploymentContainerName",
    ),
}


def test_every_check_passes_on_this_repository() -> None:
    found = run(REPO_ROOT)
    assert set(found) == set(CHECKS)
    assert found == {name: [] for name in CHECKS}


def test_every_check_has_a_mutation() -> None:
    exercised = {check for check, _, _ in MUTATIONS.values()} | {"contract"}  # test_drift.py
    assert exercised == set(CHECKS)


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_check_fails_on_the_defect_it_exists_for(tmp_path: Path, mutation: str) -> None:
    check, change, culprit = MUTATIONS[mutation]
    root = copy_repo(tmp_path)
    assert CHECKS[check](root) == [], "the unchanged copy must pass"
    change(root)
    problems = CHECKS[check](root)
    assert any(culprit in problem for problem in problems), problems
