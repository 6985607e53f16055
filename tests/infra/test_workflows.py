"""The GitHub workflows pass actionlint (as `make lint` runs it), and say what they must."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

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
