"""Every template parses, and the Graph extension is wired the way Bicep needs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.checks.bicep_eval import parse_bicep

from .conftest import INFRA

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
EXPECTED_MODULES = {
    "main.bicep",
    "app/alerts.bicep",
    "app/api.bicep",
    "app/graph-permissions.bicep",
    "app/identity.bicep",
    "app/monitoring.bicep",
    "app/network.bicep",
    "app/private-endpoint.bicep",
    "app/queue-roles.bicep",
    "app/rbac.bicep",
    "app/storage.bicep",
    "app/table-roles.bicep",
}


def test_the_expected_templates_exist() -> None:
    assert {str(p.relative_to(INFRA)) for p in BICEP_FILES} == EXPECTED_MODULES


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_template_parses_with_pycep(path: Path) -> None:
    parsed = parse_bicep(path)
    # A file that parses to nothing would pass vacuously: each declares parameters or resources.
    assert parsed.get("parameters") or parsed.get("resources")


def test_every_local_module_reference_resolves_to_a_template() -> None:
    for path in BICEP_FILES:
        for name, module in (parse_bicep(path).get("modules") or {}).items():
            assert module["type"] == "local", f"{path.name}: module {name} is not a local file"
            target = path.parent / module["detail"]["path"]
            assert target.exists(), f"{path.name}: module {name} -> missing {target}"


def test_graph_module_declares_the_extension_aliased_in_bicepconfig() -> None:
    graph = parse_bicep(INFRA / "app" / "graph-permissions.bicep")
    assert set(graph.get("extensions") or {}) == {"microsoftGraphV1"}
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    reference = config["extensions"]["microsoftGraphV1"]
    registry, _, version = reference.rpartition(":")
    assert registry == "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0"
    assert version and version[0].isdigit(), "pin an exact extension version"
    # The Graph v1.0 extension is GA: no experimental feature flag is needed for it.
    assert "experimentalFeaturesEnabled" not in config


def test_only_the_graph_module_uses_an_extension() -> None:
    users = [p.name for p in BICEP_FILES if parse_bicep(p).get("extensions")]
    assert users == ["graph-permissions.bicep"]
