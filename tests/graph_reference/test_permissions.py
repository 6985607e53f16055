"""Reading Microsoft's permissions table: rows per method and path, the least-privileged mark,
``AlsoRequires``, and the rule for a permission marked least on a path set of several methods."""

from __future__ import annotations

import json

import pytest

from graph_reference import permission_table
from graph_reference.permissions import AmbiguousLeast, PermissionTable, normalize_path


def table(permissions: dict[str, list[tuple[list[str], dict[str, str]]]]) -> PermissionTable:
    document = {
        "permissions": {
            name: {
                "schemes": {"Application": {"adminDescription": name}},
                "pathSets": [
                    {"schemeKeys": ["Application"], "methods": methods, "paths": paths}
                    for methods, paths in path_sets
                ],
            }
            for name, path_sets in permissions.items()
        }
    }
    return PermissionTable.parse(json.dumps(document).encode())


def test_paths_compare_ignoring_case_and_placeholder_names() -> None:
    assert normalize_path("/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo/") == (
        "/serviceprincipals/{id}/approleassignedto"
    )


def test_the_least_mark_of_a_single_method_path_set_wins() -> None:
    rows = table(
        {
            "Read.Basic": [(["GET"], {"/things": "least=Application"})],
            "ReadWrite": [(["GET", "POST"], {"/things": "least=Application"})],
        }
    )
    assert rows.least_privileged("GET", "/Things") == {"Read.Basic"}
    assert rows.least_privileged("POST", "/things") == {"ReadWrite"}
    assert rows.least_privileged("DELETE", "/things") is None


def test_also_requires_makes_combinations() -> None:
    rows = table(
        {
            "Assign": [(["POST"], {"/a": "least=Application;AlsoRequires=ReadApps,ReadDir"})],
            "ReadApps": [(["POST"], {"/a": "least=Application;AlsoRequires=Assign"})],
            "Broad": [(["POST"], {"/a": ""})],
        }
    )
    assert rows.least_privileged("POST", "/a") == {"Assign", "ReadApps"}
    assert set(rows.covering("POST", "/a")) == {
        frozenset({"Assign", "ReadApps"}),
        frozenset({"Assign", "ReadDir"}),
        frozenset({"Broad"}),
    }


def test_two_different_least_marks_are_ambiguous() -> None:
    rows = table(
        {
            "One": [(["GET"], {"/b": "least=Application"})],
            "Other": [(["GET"], {"/b": "least=Application"})],
        }
    )
    with pytest.raises(AmbiguousLeast):
        rows.least_privileged("GET", "/b")


def test_delegated_only_rows_do_not_count() -> None:
    document = {
        "permissions": {
            "User.Read": {
                "schemes": {"DelegatedWork": {}},
                "pathSets": [
                    {
                        "schemeKeys": ["DelegatedWork"],
                        "methods": ["GET"],
                        "paths": {"/me": "least=DelegatedWork"},
                    }
                ],
            }
        }
    }
    rows = PermissionTable.parse(json.dumps(document).encode())
    assert rows.least_privileged("GET", "/me") is None
    assert rows.covering("GET", "/me") == ()


def test_what_the_vendored_table_says_for_the_calls_graph_notes_names() -> None:
    # graph_reference/data/README.md's examples, as Microsoft's file marks them.
    vendored = permission_table()
    assert vendored.least_privileged("POST", "/invitations") == {"User.Invite.All"}
    assert vendored.least_privileged("DELETE", "/users/{id}") == {"User.DeleteRestore.All"}
    assert vendored.least_privileged("PATCH", "/users/{id}") == {"User.ReadWrite.All"}
    assert vendored.least_privileged("POST", "/servicePrincipals/{id}/appRoleAssignedTo") == {
        "AppRoleAssignment.ReadWrite.All",
        "Application.Read.All",
    }
    assert vendored.least_privileged("POST", "/groups/{id}/members/$ref") is None  # not in it
