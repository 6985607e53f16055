"""The refresh script on small fixtures, and the vendored extracts against what it writes.

The tests never read Microsoft's full files (they live outside the repository): the script's
selection rules are driven on tests/graph_reference/fixtures, and the vendored copy is checked by
running the script over it (an extract of an extract is the extract itself, provenance included)
and by its provenance header.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graph_reference import CSDL_PATH, DATA_DIR, PERMISSIONS_PATH, graph_schema, selection
from graph_reference.csdl import EDM_NS, Schema
from graph_reference.refresh import RefreshError, main, refresh

FIXTURES = Path(__file__).parent / "fixtures"
MINI_CSDL = FIXTURES / "mini.csdl"
MINI_PERMISSIONS = FIXTURES / "mini-permissions.json"

#: The commits graph_reference/data/README.md names (Microsoft's files this project vendors).
CSDL_COMMIT = "f54f11b60956ea7b185ca0447b2b80805836ec7b"
PERMISSIONS_COMMIT = "6cbd6bbd665a877560fdefbad74f3bdb5b57af88"


def names(element_tag: str, document: Path) -> set[str]:
    root = ET.parse(document).getroot()
    return {e.get("Name", "") for e in root.iter(f"{{{EDM_NS}}}{element_tag}")}


@pytest.fixture
def mini_extract(tmp_path: Path) -> Path:
    refresh(MINI_CSDL, MINI_PERMISSIONS, tmp_path, csdl_commit="c1", permissions_commit="p1")
    return tmp_path


def test_the_selected_entity_types_are_kept_whole(mini_extract: Path) -> None:
    kept = names("EntityType", mini_extract / "graph-v1.0.csdl")
    assert kept == {
        "entity",
        "directoryObject",
        "user",
        "group",
        "invitation",
        "servicePrincipal",
        "appRoleAssignment",
        "directory",
    }
    schema = Schema.parse((mini_extract / "graph-v1.0.csdl").read_bytes())
    user = schema.type("microsoft.graph.user")
    assert set(user.properties) == {"accountEnabled", "createdDateTime", "otherMails"}
    assert set(user.navigation) == {"sponsors", "calendar"}
    assert user.base == "microsoft.graph.directoryObject" and user.open


def test_types_used_by_kept_properties_come_along_and_nothing_else(mini_extract: Path) -> None:
    csdl = mini_extract / "graph-v1.0.csdl"
    # recipient and emailAddress through invitedUserMessageInfo; attendee derives from recipient
    # (a value may arrive as a derived type) and brings its enum.
    assert names("ComplexType", csdl) == {
        "invitedUserMessageInfo",
        "recipient",
        "emailAddress",
        "attendee",
    }
    assert names("EnumType", csdl) == {"colour"}
    # calendar is only a navigation target: its declaration on user stays, the type does not.
    assert "calendar" not in names("EntityType", csdl)


def test_actions_sets_and_annotations_are_pruned_to_the_selection(mini_extract: Path) -> None:
    csdl = mini_extract / "graph-v1.0.csdl"
    schema = Schema.parse(csdl.read_bytes())
    assert sorted((a.binding.name, a.name) for a in schema.actions) == sorted(selection.ACTIONS)
    assert schema.entity_sets == {
        "users": "microsoft.graph.user",
        "directoryObjects": "microsoft.graph.directoryObject",
    }
    assert schema.singletons == {"directory": "microsoft.graph.directory"}
    text = csdl.read_text()
    assert 'Target="calendars"' not in text  # a binding to a set that was dropped
    assert 'Target="directoryObjects"' in text
    assert "Dropped" not in text and "ChangeTracking" not in text
    assert schema.read_only == frozenset({"microsoft.graph.user/createdDateTime"})


def test_the_other_namespaces_alias_survives_without_its_types(mini_extract: Path) -> None:
    text = (mini_extract / "graph-v1.0.csdl").read_text()
    assert '<Schema Namespace="microsoft.graph.other" Alias="other"' in text
    assert "thing" not in text


def test_permission_rows_are_kept_for_selected_paths_only(mini_extract: Path) -> None:
    data = json.loads((mini_extract / "permissions.json").read_text())
    assert data["$schema"] == "https://example.invalid/permissions.schema.json"
    permissions = data["permissions"]
    assert set(permissions) == {"User.Invite.All", "User.ReadWrite.All"}
    assert "ownerInfo" not in permissions["User.Invite.All"]
    assert permissions["User.Invite.All"]["schemes"]["Application"]["privilegeLevel"] == 3
    read_write = permissions["User.ReadWrite.All"]["pathSets"]
    assert read_write[0] == {
        "schemeKeys": ["Application"],
        "methods": ["DELETE", "GET", "PATCH"],
        "paths": {"/users/{id}": "least=Application"},
    }
    assert read_write[1]["paths"] == {"/invitations": ""}


def test_provenance_records_the_commit_and_the_source_files_hash(mini_extract: Path) -> None:
    header = (mini_extract / "graph-v1.0.csdl").read_text().split("-->")[0]
    assert "repository: microsoftgraph/msgraph-metadata" in header
    assert "path: schemas/v1.0-Prod.csdl" in header
    assert "commit: c1" in header
    assert f"sha256: {hashlib.sha256(MINI_CSDL.read_bytes()).hexdigest()}" in header
    provenance = json.loads((mini_extract / "permissions.json").read_text())["provenance"]
    assert provenance["repository"] == "microsoftgraph/microsoft-graph-devx-content"
    assert provenance["commit"] == "p1"
    assert provenance["sha256"] == hashlib.sha256(MINI_PERMISSIONS.read_bytes()).hexdigest()


def test_an_extract_of_an_extract_is_the_same_extract(mini_extract: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    refresh(mini_extract / "graph-v1.0.csdl", mini_extract / "permissions.json", again)
    for name in ("graph-v1.0.csdl", "permissions.json"):
        assert (again / name).read_bytes() == (mini_extract / name).read_bytes()


def test_microsofts_file_without_a_commit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RefreshError, match="--csdl-commit"):
        refresh(MINI_CSDL, MINI_PERMISSIONS, tmp_path, permissions_commit="p1")
    assert main(["--csdl", str(MINI_CSDL), "--permissions", str(MINI_PERMISSIONS)]) == 2


def test_a_file_missing_a_selected_type_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csdl"
    broken.write_text(MINI_CSDL.read_text().replace('Name="appRoleAssignment"', 'Name="other"'))
    with pytest.raises(RefreshError, match="appRoleAssignment"):
        refresh(broken, MINI_PERMISSIONS, tmp_path / "out", csdl_commit="c", permissions_commit="p")


# ---- the vendored copy --------------------------------------------------------------------------


def test_the_vendored_files_are_what_the_script_writes(tmp_path: Path) -> None:
    arguments = ["--csdl", str(CSDL_PATH), "--permissions", str(PERMISSIONS_PATH)]
    assert main([*arguments, "--out", str(tmp_path)]) == 0
    for name in ("graph-v1.0.csdl", "permissions.json"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name


def test_the_vendored_files_name_their_source_commit_and_licence() -> None:
    header = CSDL_PATH.read_text().split("-->")[0]
    assert f"commit: {CSDL_COMMIT}" in header
    assert "repository: microsoftgraph/msgraph-metadata" in header
    provenance = json.loads(PERMISSIONS_PATH.read_text())["provenance"]
    assert provenance["commit"] == PERMISSIONS_COMMIT
    assert provenance["repository"] == "microsoftgraph/microsoft-graph-devx-content"
    for licence in ("LICENSE-msgraph-metadata", "LICENSE-microsoft-graph-devx-content"):
        assert "MIT License" in (DATA_DIR / licence).read_text()
    readme = (DATA_DIR / "README.md").read_text()
    assert CSDL_COMMIT in readme and PERMISSIONS_COMMIT in readme


def test_the_vendored_schema_has_every_selected_type_and_action() -> None:
    schema = graph_schema()
    for name in selection.ENTITY_TYPES:
        assert schema.type(name).kind == "entity"
    for binding, name in selection.ACTIONS:
        action = schema.bound_action(binding, name)
        assert action is not None and action.binding.name == binding
