"""The Graph grants against Microsoft's permissions table (infra/checks/graph_permissions.py):
the least-privileged permission of each call, the check passing on this repository, and failing,
naming the culprit, on each defect it exists for (a grant broader than the least-privileged one,
a missing grant, a switch wired to the wrong permission, a hand-edited table, a call Microsoft's
table does not allow under the grants)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.seeds import sample_tenant
from graph_reference import permission_table, selection
from graph_reference.permissions import normalize_path
from infra.checks import graph_permissions
from infra.checks.graph_permissions import GRAPH_CALLS, NOT_YET, GraphCall, least_privileged

from .conftest import REPO_ROOT

NEEDED = [
    "infra/main.bicep",
    "infra/main.parameters.json",
    "infra/app",
    "docs/deployment.md",
    "README.md",
    "infra/hooks/graph_grants.py",
]

#: What Microsoft's data and pages say, written out by hand (the test's own oracle): the
#: least-privileged application permission of every call the app makes or will make.
EXPECTED_LEAST = {
    "GET /users": {"User.Read.All"},  # the table marks User.ReadBasic.All: too few properties
    "GET /users/{id}": {"User.Read.All"},
    "POST /invitations": {"User.Invite.All"},
    "POST /groups/{id}/members/$ref": {"GroupMember.ReadWrite.All"},
    "GET /groups/{id}/members": {"GroupMember.ReadBasic.All"},  # covered by the line above
    "POST /servicePrincipals/{id}/appRoleAssignedTo": {
        "AppRoleAssignment.ReadWrite.All",
        "Application.Read.All",
    },
    "GET /servicePrincipals/{id}": {"Application.Read.All"},
    "PATCH /users/{id} (accountEnabled)": {"User.EnableDisableAccount.All", "User.Read.All"},
    "DELETE /users/{id}": {"User.DeleteRestore.All"},
    "POST /users/{id}/sponsors/$ref": {"User.ReadWrite.All"},
    "POST /users/{id}/revokeSignInSessions": {"User.RevokeSessions.All"},
    "DELETE /groups/{id}/members/{id}/$ref": {"GroupMember.ReadWrite.All"},
    "DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}": {"AppRoleAssignment.ReadWrite.All"},
    # the table marks Directory.Read.All; covered by the app role grant (its row says so)
    "GET /users/{id}/appRoleAssignments": {"Directory.Read.All"},
    "PATCH /users/{id} (profile fields)": {"User.ReadWrite.All"},
    "PATCH /users/{id} (employeeLeaveDateTime)": {
        "User-LifeCycleInfo.ReadWrite.All",
        "User.Read.All",
    },
    "GET /groups/{id}": {"GroupMember.Read.All"},
    "GET /groups": {"GroupMember.Read.All"},  # the console's plan; the page, not the table
}


def test_each_calls_least_privileged_permission() -> None:
    assert {call.key: set(least_privileged(call)) for call in GRAPH_CALLS} == EXPECTED_LEAST


def test_the_pages_for_ref_paths_agree_with_the_table_where_it_has_the_path() -> None:
    # DELETE /groups/{id}/members/{id} and POST /users/{id}/sponsors are in Microsoft's table:
    # the reference pages cited for their $ref forms name the same permission.
    table = permission_table()
    checked = 0
    for call in GRAPH_CALLS:
        if call.path.endswith("/$ref"):
            found = table.least_privileged(call.method, call.table_path)
            if found is not None:
                assert found == call.least, call.key
                checked += 1
    assert checked == 2


def test_every_call_is_inside_the_vendored_selection() -> None:
    kept = {normalize_path(path) for path in selection.PATHS}
    for call in GRAPH_CALLS:
        assert normalize_path(call.table_path) in kept, call.key


def test_the_check_passes_on_this_repository() -> None:
    assert graph_permissions.problems(REPO_ROOT) == []


def test_the_cli_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph_permissions.main([str(REPO_ROOT)]) == 0
    assert "every grant is the least-privileged one a call needs" in capsys.readouterr().out


def test_the_cli_writes_the_tables(tmp_path: Path) -> None:
    root = copy_repo(tmp_path)
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| `User.Invite.All` | always |", "| x | y |"))
    assert graph_permissions.main([str(root)]) == 1
    assert graph_permissions.main(["--write", str(root)]) == 0
    assert readme.read_text() == (REPO_ROOT / "README.md").read_text()


# ---- mutations -----------------------------------------------------------------------------------


def copy_repo(target: Path) -> Path:
    for relative in NEEDED:
        source = REPO_ROOT / relative
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination)
        else:
            shutil.copy2(source, destination)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _grants(root: Path) -> Path:
    return root / "infra" / "app" / "graph-permissions.bicep"


def _broader_deletion(root: Path) -> None:
    edit(_grants(root), "  'User.DeleteRestore.All'\n", "  'User.ReadWrite.All'\n")


def _broader_always(root: Path) -> None:
    edit(_grants(root), "  'User.Read.All'\n", "  'User.ReadWrite.All'\n")


def _directory_added(root: Path) -> None:
    edit(_grants(root), "  'User.Invite.All'\n", "  'User.Invite.All'\n  'Directory.Read.All'\n")


def _application_read_dropped(root: Path) -> None:
    edit(_grants(root), "  'Application.Read.All'\n", "")


def _switches_crossed(root: Path) -> None:
    edit(
        _grants(root),
        "grantDeletePermission ? deletePermissions : []",
        "grantDeletePermission ? disablePermissions : []",
    )


def _table_edited_by_hand(root: Path) -> None:
    edit(root / "docs" / "deployment.md", "`User.RevokeSessions.All`", "`User.ReadWrite.All`")


def _hook_grants_more(root: Path) -> None:
    hook = root / "infra" / "hooks" / "graph_grants.py"
    edit(
        hook, '    "User.Invite.All",\n', '    "User.Invite.All",\n    "Directory.ReadWrite.All",\n'
    )


def _hook_lacks_one(root: Path) -> None:
    edit(root / "infra" / "hooks" / "graph_grants.py", '    "User.DeleteRestore.All",\n', "")


MUTATIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "deletion granted User.ReadWrite.All instead of User.DeleteRestore.All": (
        _broader_deletion,
        "User.ReadWrite.All is granted (addSponsorsToExistingUsers=False, "
        "appRoleAssignmentsEnabled=False, deleteExpiredGuests=True",
    ),
    "reads granted User.ReadWrite.All": (_broader_always, "broader than needed"),
    "an extra directory-wide read": (_directory_added, "Directory.Read.All is granted"),
    "app roles without Application.Read.All": (
        _application_read_dropped,
        "Application.Read.All is not granted",
    ),
    "the delete switch grants the disable permission": (
        _switches_crossed,
        "User.DeleteRestore.All is not granted",
    ),
    "the generated table edited by hand": (_table_edited_by_hand, "docs/deployment.md"),
    "the grant command may grant a permission no call needs": (
        _hook_grants_more,
        "lets the grant command grant Directory.ReadWrite.All",
    ),
    "the grant command refuses a permission a call needs": (
        _hook_lacks_one,
        "APP_PERMISSIONS lacks User.DeleteRestore.All",
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_check_fails_on_the_defect(tmp_path: Path, mutation: str) -> None:
    change, culprit = MUTATIONS[mutation]
    root = copy_repo(tmp_path)
    change(root)
    problems = graph_permissions.problems(root)
    assert any(culprit in problem for problem in problems), problems


def test_the_old_group_probe_is_not_allowed_by_the_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    # The adapter used to probe GET /groups/{id}: Microsoft's table lists group reads for it,
    # not the GroupMember.ReadWrite.All the app holds, so the row fails the catalogue check.
    old_probe = GraphCall(
        "GET",
        "/groups/{id}",
        "after a missing-reference answer, does the group exist?",
        graph_permissions.ALWAYS,
        covered_by=graph_permissions.ADD_MEMBER.key,
    )
    calls = tuple(old_probe if c is graph_permissions.GROUP_PROBE else c for c in GRAPH_CALLS)
    monkeypatch.setattr(graph_permissions, "GRAPH_CALLS", calls)
    assert any(
        "GET /groups/{id}: Microsoft's table does not list ['GroupMember.ReadWrite.All']" in p
        for p in graph_permissions.catalogue_problems()
    )


def test_switching_a_phase_b_row_on_lets_the_grant_command_grant_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every row is switched on now (the leaver's and the profile's): APP_PERMISSIONS lists
    # exactly their permissions. The same row marked NOT_YET again (as it was before its phase)
    # is a permission the grant command must not grant.
    assert graph_permissions.grant_hook_problems(REPO_ROOT) == []
    revoke = graph_permissions.REVOKE_SESSIONS
    not_yet = dataclasses.replace(revoke, feature=graph_permissions.NOT_YET)
    calls = tuple(not_yet if c.key == revoke.key else c for c in GRAPH_CALLS)
    monkeypatch.setattr(graph_permissions, "GRAPH_CALLS", calls)
    assert graph_permissions.grant_hook_problems(REPO_ROOT) == [
        "infra/hooks/graph_grants.py APP_PERMISSIONS lets the grant command grant "
        "User.RevokeSessions.All, which no Graph call of the app needs: remove it"
    ]


def test_a_ref_row_without_its_page_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    uncited = GraphCall("POST", "/users/{id}/sponsors/$ref", "add sponsors", NOT_YET)
    monkeypatch.setattr(graph_permissions, "GRAPH_CALLS", (*GRAPH_CALLS, uncited))
    problems = graph_permissions.catalogue_problems()
    assert any("$ref paths are not in Microsoft's table; cite the page" in p for p in problems)


def test_switching_a_row_on_asks_for_its_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    # A call switched on for every deployment (its feature) while Bicep grants its permission
    # behind a switch: the check names the permission Bicep must grant with it.
    leave = graph_permissions.SET_LEAVE_DATE
    switched = GraphCall(
        leave.method,
        leave.path,
        leave.does,
        graph_permissions.ALWAYS,
        writes=leave.writes,
        least=leave.least,
        source=leave.source,
    )
    calls = tuple(switched if c is leave else c for c in GRAPH_CALLS)
    monkeypatch.setattr(graph_permissions, "GRAPH_CALLS", calls)
    assert any(
        p.startswith("Graph permission User-LifeCycleInfo.ReadWrite.All is not granted")
        for p in graph_permissions.grant_problems(REPO_ROOT)
    )


def test_the_sample_tenant_holds_exactly_what_a_deployment_with_app_roles_grants() -> None:
    # Every test and the demo run against samples/tenant.json: with these grants and no more,
    # a call the deployment could not make fails in the tests too. (Tests and the demo that
    # write guests' profiles grant User.ReadWrite.All on top, as GUEST_PROFILE_FIELDS does.)
    for deployment in graph_permissions.deployments(REPO_ROOT):
        if dict(deployment.parameters) == {
            "appRoleAssignmentsEnabled": True,
            "deleteExpiredGuests": False,
            "expiredGuestAction": "none",
            "addSponsorsToExistingUsers": False,
            "offboardAction": "disable",  # the default: leavers are disabled
            "setEmployeeLeaveDate": False,
            "guestProfileFields": "",
            "detectDynamicGroups": True,
        }:
            assert sorted(sample_tenant()["identity"]["permissions"]) == sorted(deployment.granted)
            return
    raise AssertionError("no deployment with app roles only")
