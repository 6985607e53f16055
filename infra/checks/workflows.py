"""The GitHub workflows: actions pinned to commits, and the environment deploy.yml gives azd.

Pinning: a tag (``actions/checkout@v5``) can be moved to other code by whoever controls the
action's repository; a full commit SHA cannot. Every ``uses:`` of a remote action must name a
40-hex commit with the tag it was taken from in a comment (``@<sha> # v5.0.0``), so an update is
a visible diff (GitHub's "Security hardening for GitHub Actions", "Using third-party actions").

Environment: in a workflow, ``env: NAME: ${{ vars.NAME }}`` sets ``NAME`` to an empty string
when the repository variable does not exist: the variable is *defined*. azd treats defined-but-
empty differently from unset (:mod:`infra.checks.azd_params`), so :func:`deploy_environments`
evaluates the environment of deploy.yml's ``azd provision`` step (workflow, job and step
``env``) the way GitHub does, for :func:`infra.checks.azd_params.azd_problems`. It understands
literals, ``${{ vars.NAME }}`` and ``${{ vars.NAME || 'literal' }}`` (``||`` gives its right side
when the left is empty: GitHub's expression syntax, "Operators"); anything else is reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(".github") / "workflows"
DEPLOY_WORKFLOW = WORKFLOWS / "deploy.yml"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"
ACTIONS_SECTION = "## Deploying from GitHub Actions"

#: Repository variables deploy.yml cannot run without (docs/deployment.md, GitHub Actions).
REQUIRED_VARIABLES: dict[str, str] = {
    "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "AZURE_TENANT_ID": "33333333-3333-3333-3333-333333333333",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "AZURE_ENV_NAME": "guest-onboarding-prod",
    "AZURE_LOCATION": "westeurope",
}

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
_SHA = re.compile(r"[0-9a-f]{40}")
_TAG = re.compile(r"v?\d+(?:\.\d+)*(?:[-+][0-9A-Za-z.]+)?")
_EXPRESSION = re.compile(
    r"^\$\{\{\s*vars\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\|\|\s*'(?P<fallback>(?:[^']|'')*)'\s*)?\}\}$"
)
_VARS = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")


def pinning_problems(root: Path) -> list[str]:
    """Every remote ``uses:`` names a full commit SHA and, in a comment, its tag."""
    problems: list[str] = []
    for path in sorted((root / WORKFLOWS).glob("*.y*ml")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _USES.match(line)
            if match is None:
                continue
            ref = match["ref"].strip("'\"")
            if ref.startswith(("./", "docker://")):
                continue
            where = f"{WORKFLOWS / path.name}:{number}"
            action, _, version = ref.partition("@")
            if not _SHA.fullmatch(version):
                problems.append(f"{where}: {action} is pinned to '{version}', not a commit SHA")
                continue
            comment = (match["comment"] or "").strip()
            if not _TAG.fullmatch(comment):
                problems.append(f"{where}: {action}@{version[:7]} has no '# <tag>' comment")
    return problems


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text()) or {}
    if True in document:  # YAML 1.1 reads the `on:` key as true
        document["on"] = document.pop(True)
    return dict(document)


def evaluate(value: Any, variables: Mapping[str, str]) -> str:
    """One ``env`` value as GitHub sets it (raises ValueError for what is not understood)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "${{" not in text:
        return text
    match = _EXPRESSION.match(text.strip())
    if match is None:
        raise ValueError(f"cannot evaluate {text!r}")
    resolved = variables.get(match["name"], "")
    if resolved == "" and match["fallback"] is not None:
        return match["fallback"].replace("''", "'")
    return resolved


def provision_step_env(root: Path) -> dict[str, Any]:
    """The raw ``env`` (workflow, job, step) of deploy.yml's ``azd provision`` step."""
    workflow = _load(root / DEPLOY_WORKFLOW)
    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            if "azd provision" in str(step.get("run", "")):
                return {
                    **(workflow.get("env") or {}),
                    **(job.get("env") or {}),
                    **(step.get("env") or {}),
                }
    raise ValueError(f"{DEPLOY_WORKFLOW}: no step runs `azd provision`")


def deploy_environments(
    root: Path, documented: Mapping[str, str]
) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """deploy.yml's provisioning environment with only the required repository variables, and
    with the documented values as repository variables too; and problems found on the way."""
    try:
        raw = provision_step_env(root)
    except ValueError as exc:
        return [], [str(exc)]
    problems: list[str] = []
    text = (root / DEPLOY_WORKFLOW).read_text()
    doc = (root / DEPLOYMENT_DOC).read_text()
    section = doc.split(ACTIONS_SECTION, 1)[1] if ACTIONS_SECTION in doc else ""
    if not section:
        problems.append(f"{DEPLOYMENT_DOC}: no '{ACTIONS_SECTION}' section (deploy.yml's guide)")
    for name in sorted(set(_VARS.findall(text))):
        if section and f"`{name}`" not in section:
            problems.append(
                f"{DEPLOYMENT_DOC}: repository variable {name} (deploy.yml) is not "
                f"in '{ACTIONS_SECTION}'"
            )
    scenarios = [
        ("deploy.yml, optional repository variables unset", dict(REQUIRED_VARIABLES)),
        (
            "deploy.yml, documented values as repository variables",
            {**REQUIRED_VARIABLES, **documented},
        ),
    ]
    environments: list[tuple[str, dict[str, str]]] = []
    for label, variables in scenarios:
        environment: dict[str, str] = {}
        for name, value in raw.items():
            try:
                environment[str(name)] = evaluate(value, variables)
            except ValueError as exc:
                problems.append(f"{DEPLOY_WORKFLOW}: env {name}: {exc}")
        environments.append((label, environment))
    return environments, list(dict.fromkeys(problems))


def workflow_problems(root: Path) -> list[str]:
    """Pinned actions in every workflow (deploy.yml's environment is checked with azd's)."""
    return pinning_problems(root)
