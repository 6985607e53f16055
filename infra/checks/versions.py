"""azd must be new enough to run a Bicep CLI that knows every extension the templates use.

azd does not use a Bicep CLI found on the machine: it downloads and runs the version it pins
(``cli/azd/pkg/tools/bicep/bicep.go`` in Azure/azure-dev). So the minimum Bicep version a
template needs becomes a minimum azd version, set in ``azure.yaml``
(``requiredVersions.azd``) and stated in docs/deployment.md.

Sources:

* the Microsoft Graph Bicep extension, ``microsoftGraphV1`` (GA, dynamic types from
  ``mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0``), needs Bicep 0.36.1 or later
  (Microsoft Graph Bicep templates overview, learn.microsoft.com/graph/templates/bicep/);
* azd's CHANGELOG: 1.17.0 (2025-06-05) "Update Bicep CLI to v0.36.1" (Azure/azure-dev#5245);
  1.16.0 updated it to 0.35.1 (#5138); 1.12.0 to 0.33.93 (#4741).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

AZURE_YAML = Path("azure.yaml")
BICEPCONFIG = Path("infra") / "bicepconfig.json"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"

#: Minimum Bicep CLI for each extension alias in bicepconfig.json.
EXTENSION_MIN_BICEP: dict[str, tuple[int, ...]] = {"microsoftGraphV1": (0, 36, 1)}

#: (azd release, the Bicep CLI it pins), oldest first; from azd's CHANGELOG.
AZD_BICEP: list[tuple[tuple[int, ...], tuple[int, ...]]] = [
    ((1, 12, 0), (0, 33, 93)),
    ((1, 16, 0), (0, 35, 1)),
    ((1, 17, 0), (0, 36, 1)),
]

_MINIMUM = re.compile(r"^\s*>=\s*(?P<version>\d+\.\d+\.\d+)\s*$")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def bicep_of(azd: tuple[int, ...]) -> tuple[int, ...] | None:
    """The Bicep CLI an azd release runs (None: older than every release listed)."""
    bicep = None
    for release, pinned in AZD_BICEP:
        if azd >= release:
            bicep = pinned
    return bicep


def required_azd(root: Path) -> tuple[int, ...] | None:
    document = yaml.safe_load((root / AZURE_YAML).read_text()) or {}
    spec = (document.get("requiredVersions") or {}).get("azd")
    match = _MINIMUM.match(str(spec)) if spec is not None else None
    return _version(match["version"]) if match else None


def version_problems(root: Path) -> list[str]:
    """azure.yaml's minimum azd runs a Bicep that every extension accepts; the docs say so."""
    azd = required_azd(root)
    if azd is None:
        return [f"{AZURE_YAML}: requiredVersions.azd must be a minimum, '>= X.Y.Z'"]
    problems: list[str] = []
    extensions = json.loads((root / BICEPCONFIG).read_text()).get("extensions") or {}
    needed = max((EXTENSION_MIN_BICEP.get(alias, (0,)) for alias in extensions), default=(0,))
    for alias in extensions:
        if alias not in EXTENSION_MIN_BICEP:
            problems.append(f"{BICEPCONFIG}: no known minimum Bicep version for {alias}")
    bicep = bicep_of(azd)
    if bicep is None or bicep < needed:
        problems.append(
            f"{AZURE_YAML}: azd {_text(azd)} runs Bicep {_text(bicep) if bicep else '< 0.33'}, "
            f"but the extensions need Bicep {_text(needed)} or later"
        )
    doc = (root / DEPLOYMENT_DOC).read_text()
    if f"`azd`) {_text(azd)} or later" not in doc:
        problems.append(f"{DEPLOYMENT_DOC}: the prerequisites must say azd {_text(azd)} or later")
    return problems
