"""The GitHub workflows pass actionlint (as `make lint` runs it), and say what they must."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from infra.checks.versions import required_azd
from infra.checks.workflows import pinning_problems

from .conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = Path(shutil.which("actionlint") or REPO_ROOT / ".venv" / "bin" / "actionlint")


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), "-no-color"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load(name: str) -> Any:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the `on:` key as true
    return workflow


def test_the_workflows_pass_actionlint() -> None:
    result = actionlint(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    ci = tmp_path / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}"))
    result = actionlint(tmp_path)
    assert result.returncode == 1 and "matrix" in result.stdout, result.stdout


def test_ci_runs_make_test_on_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    runs = [step.get("run") for step in ci["jobs"]["test"]["steps"]]
    assert "make test" in runs and "make lint" in runs
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_uses_azd_with_a_federated_credential_and_no_secret() -> None:
    deploy = load("deploy.yml")
    assert deploy["permissions"]["id-token"] == "write"
    job = deploy["jobs"]["deploy"]
    runs = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "azd auth login" in runs and "--federated-credential-provider github" in runs
    assert "azd provision --no-prompt" in runs and "azd deploy --no-prompt" in runs
    assert "secrets." not in (WORKFLOWS / "deploy.yml").read_text()
    assert job["env"]["GRANT_DEPLOYER_ACCESS"] == "false"
    assert "vars.AZURE_CLIENT_ID" in job["if"]  # forks without Azure skip the job


def test_deploy_runs_in_the_reviewed_environment_without_graph_grants() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    # The federated credential's subject is repo:<owner>/<repo>:environment:azure.
    assert job["environment"] == "azure"
    assert (
        "repo:<owner>/<repo>:environment:azure"
        in (REPO_ROOT / "docs" / "deployment.md").read_text()
    )
    assert job["env"]["GRANT_GRAPH_PERMISSIONS"] == "false"
    main_parameters = (REPO_ROOT / "infra" / "main.parameters.json").read_text()
    assert '"value": "${GRANT_GRAPH_PERMISSIONS=true}"' in main_parameters


def test_deploy_installs_an_azd_that_azure_yaml_accepts() -> None:
    steps = load("deploy.yml")["jobs"]["deploy"]["steps"]
    (setup,) = [s for s in steps if str(s.get("uses", "")).startswith("Azure/setup-azd@")]
    installed = tuple(int(p) for p in str(setup["with"]["version"]).split("."))
    required = required_azd(REPO_ROOT)
    assert required is not None and installed >= required


def test_every_action_is_pinned_to_a_commit_with_its_tag() -> None:
    uses = [
        line.split("uses:", 1)[1].strip()
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for line in path.read_text().splitlines()
        if line.strip().startswith(("uses:", "- uses:"))
    ]
    assert uses and pinning_problems(REPO_ROOT) == []
    for use in uses:
        _, _, rest = use.partition("@")
        sha, _, tag = rest.partition(" # ")
        assert len(sha) == 40 and tag.startswith("v"), use
