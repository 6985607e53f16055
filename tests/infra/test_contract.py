"""The contract between the code and the templates (infra.checks.contract) holds today."""

from __future__ import annotations

import pytest

from infra.checks import contract
from infra.checks.bicep_eval import Symbol
from infra.checks.code_reads import environment_reads, setting_defaults

from .conftest import REPO_ROOT

#: The Graph application permissions: always, and with each switch of graph-permissions.bicep.
GRAPH_ALWAYS = [
    "User.Invite.All",
    "User.Read.All",
    "GroupMember.ReadWrite.All",
    "User.RevokeSessions.All",
]
GRAPH_WHEN = {
    "grantAppRoleAssignment": ["AppRoleAssignment.ReadWrite.All", "Application.Read.All"],
    "grantDeletePermission": ["User.DeleteRestore.All"],
    "grantDisablePermission": ["User.EnableDisableAccount.All"],
    "grantSponsorWrite": ["User.ReadWrite.All"],
    "grantLifecycleWrite": ["User-LifeCycleInfo.ReadWrite.All"],
    "grantProfileWrite": ["User.ReadWrite.All"],
    "grantGroupRead": ["GroupMember.Read.All"],
}
#: Leavers only lose what this app granted: no disabling, no deletion.
REMOVE_ACCESS_ONLY = {"offboardAction": "remove-access"}


@pytest.fixture(scope="module")
def bindings() -> list[contract.Binding]:
    return contract.function_bindings(REPO_ROOT)


@pytest.fixture(scope="module")
def deployed() -> dict[str, object]:
    return contract.deployed_app_settings(REPO_ROOT)


def test_every_setting_the_code_declares_is_set_with_its_default(
    deployed: dict[str, object],
) -> None:
    defaults = setting_defaults(REPO_ROOT)
    assert len(defaults) >= 18  # a literal dict the scan could not read would be caught here
    for key, default in defaults.items():
        assert key in deployed, key
        if key != "AZURE_CLIENT_ID":
            assert deployed[key] == default, key
    assert deployed["AZURE_CLIENT_ID"] == Symbol("identity.outputs.clientId")


def test_every_environment_read_in_the_package_is_resolved_and_deployed(
    deployed: dict[str, object],
) -> None:
    reads = environment_reads(REPO_ROOT)
    assert reads, "the scan found no environment read at all"
    unresolved = [r for r in reads if r.key is None]
    assert not unresolved
    missing = {r.key for r in reads} - set(deployed) - set(contract.UNSET_ON_PURPOSE)
    assert not missing


def test_settings_contract_has_no_problem() -> None:
    assert contract.settings_problems(REPO_ROOT) == []


def test_bound_queues_their_poison_queues_the_ledger_and_the_budget_are_created(
    bindings: list[contract.Binding], deployed: dict[str, object]
) -> None:
    created = contract.created_storage(REPO_ROOT)
    queue_bindings = [b for b in bindings if b.type == "queueTrigger"]
    assert {b.function for b in queue_bindings} == {"invite_fn", "assign_fn"}
    for binding in queue_bindings:
        assert binding.queue_name is not None
        queue = deployed[binding.queue_name.strip("%")]
        assert queue in created["queues"]
        assert f"{queue}-poison" in created["queues"]
    assert deployed["GUEST_LEDGER_TABLE"] in created["tables"]
    assert deployed["GRAPH_BUDGET_TABLE"] in created["tables"]
    timers = [b for b in bindings if b.type == "timerTrigger"]
    assert [t.schedule for t in timers] == ["%RESEND_SCHEDULE%"]
    assert contract.storage_problems(REPO_ROOT, bindings) == []


def test_queue_names_follow_the_parameters() -> None:
    overrides = {"invitationsQueueName": "hr-in", "assignmentsQueueName": "steps"}
    created = contract.created_storage(REPO_ROOT, overrides)
    assert sorted(created["queues"]) == ["hr-in", "hr-in-poison", "steps", "steps-poison"]
    settings = contract.deployed_app_settings(REPO_ROOT, overrides)
    assert settings["INVITATIONS_QUEUE"] == "hr-in" and settings["ASSIGNMENTS_QUEUE"] == "steps"


def test_graph_permissions_in_bicep_match_the_list() -> None:
    assert sorted(contract.graph_switches(REPO_ROOT)) == sorted(GRAPH_WHEN)
    assert contract.granted_graph_permissions(REPO_ROOT) == GRAPH_ALWAYS
    for switch, extra in GRAPH_WHEN.items():
        assert contract.granted_graph_permissions(REPO_ROOT, {switch: True}) == GRAPH_ALWAYS + extra


def test_a_default_deployment_grants_no_app_role_assignment_and_no_deletion() -> None:
    # OFFBOARD_ACTION defaults to disable: leavers' sign-in is blocked.
    granted = contract.deployed_graph_permissions(REPO_ROOT)
    # DETECT_DYNAMIC_GROUPS is on by default: a read-only group permission beside the rest.
    assert granted == [*GRAPH_ALWAYS, "User.EnableDisableAccount.All", "GroupMember.Read.All"]
    assert contract.deployed_graph_permissions(REPO_ROOT, REMOVE_ACCESS_ONLY) == [
        *GRAPH_ALWAYS,
        "GroupMember.Read.All",
    ]
    assert "User.ReadWrite.All" not in contract.deployed_graph_permissions(
        REPO_ROOT, {"deleteExpiredGuests": True, "appRoleAssignmentsEnabled": True}
    )


def test_profile_fields_grant_user_readwrite_once_and_set_the_setting() -> None:
    profiles = {"guestProfileFields": "companyName,jobTitle", **REMOVE_ACCESS_ONLY}
    assert contract.deployed_graph_permissions(REPO_ROOT, profiles) == (
        [*GRAPH_ALWAYS, "User.ReadWrite.All", "GroupMember.Read.All"]
    )
    both = {**profiles, "addSponsorsToExistingUsers": True}
    assert contract.deployed_graph_permissions(REPO_ROOT, both) == (
        [*GRAPH_ALWAYS, "User.ReadWrite.All", "GroupMember.Read.All"]
    )
    settings = contract.deployed_app_settings(REPO_ROOT, profiles)
    assert settings["GUEST_PROFILE_FIELDS"] == "companyName,jobTitle"
    assert contract.deployed_app_settings(REPO_ROOT)["GUEST_PROFILE_FIELDS"] == ""


def test_deletion_grants_user_deleterestore_and_sets_the_setting() -> None:
    deleting = {"deleteExpiredGuests": True, **REMOVE_ACCESS_ONLY}
    assert contract.deployed_graph_permissions(REPO_ROOT, deleting) == (
        [*GRAPH_ALWAYS, "User.DeleteRestore.All", "GroupMember.Read.All"]
    )
    off = contract.deployed_app_settings(REPO_ROOT, {"deleteExpiredGuests": False})
    on = contract.deployed_app_settings(REPO_ROOT, deleting)
    assert (off["DELETE_EXPIRED_GUESTS"], on["DELETE_EXPIRED_GUESTS"]) == ("false", "true")


def test_app_roles_parameter_grants_app_role_assignment() -> None:
    app_roles = {"appRoleAssignmentsEnabled": True, **REMOVE_ACCESS_ONLY}
    granted = contract.deployed_graph_permissions(REPO_ROOT, app_roles)
    assert granted == [*GRAPH_ALWAYS, *GRAPH_WHEN["grantAppRoleAssignment"], "GroupMember.Read.All"]


def test_graph_permissions_in_the_deployment_doc_match_the_list() -> None:
    documented = contract.documented_graph_permissions(REPO_ROOT)
    assert [p for p, s in documented.items() if s is None] == GRAPH_ALWAYS
    for switch, extra in GRAPH_WHEN.items():
        assert [p for p, s in documented.items() if s is not None and switch in s] == extra
    assert contract.graph_problems(REPO_ROOT) == []


def test_contract_cli_passes_on_this_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert contract.main([str(REPO_ROOT)]) == 0
    assert "code and infra agree" in capsys.readouterr().out


def test_readme_names_every_function_and_queue(bindings: list[contract.Binding]) -> None:
    assert contract.readme_problems(REPO_ROOT, bindings) == []
