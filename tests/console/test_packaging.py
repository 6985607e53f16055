"""The console ships with the project as ``guest-onboarding`` and stays out of the function
app: not imported by it, not in what is deployed, its dependencies not in requirements.txt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE_ONLY = ("guest_console", "membership_rules", "lark", "matplotlib", "typer", "rich", "numpy")


def test_the_installed_command_runs() -> None:
    command = Path(sys.executable).with_name("guest-onboarding")
    assert command.exists(), "make setup installs the project (pip install -e .)"
    result = subprocess.run(
        [str(command), "--help"], capture_output=True, text=True, check=False, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    for name in ("submit", "status", "report", "poison"):
        assert name in result.stdout


def test_the_function_app_never_loads_the_console_or_its_dependencies() -> None:
    """Every module of the app imported in a fresh interpreter, and the functions indexed."""
    script = f"""
import importlib, json, pkgutil, sys
import function_app, guest_onboarding
function_app.app.get_functions()
for module in pkgutil.walk_packages(guest_onboarding.__path__, "guest_onboarding."):
    importlib.import_module(module.name)
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({list(CONSOLE_ONLY)!r}))))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_console_dependencies_are_not_deployed() -> None:
    deployed = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").lower()
    for name in ("matplotlib", "typer", "rich", "lark"):
        assert name not in deployed
    ignored = (REPO_ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    assert "guest_console/" in ignored
    assert "membership_rules/" in ignored
    assert "requirements-console.txt" in ignored
