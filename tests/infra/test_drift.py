"""Drift between code and infra is caught: the contract CLI fails on a changed copy of the repo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

#: What the contract check reads; nothing else is copied.
NEEDED = [
    "function_app.py",
    "host.json",
    "guest_onboarding",
    "invite_fn",
    "assign_fn",
    "resend_timer_fn",
    "infra/main.bicep",
    "infra/main.parameters.json",
    "infra/app",
    "infra/hooks/graph_grants.py",
    "docs/deployment.md",
]


def _copy_repo(target: Path) -> Path:
    for relative in NEEDED:
        source = REPO_ROOT / relative
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination)
    return target


def _run_contract(root: Path) -> subprocess.CompletedProcess[str]:
    # The checker comes from this repository; only the checked code and templates are the copy's.
    return subprocess.run(
        [sys.executable, "-m", "infra.checks.contract", str(root)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _append_read(root: Path) -> None:
    with (root / "guest_onboarding" / "config.py").open("a") as f:
        f.write("\n\ndef _new_feature_flag() -> str:\n")
        f.write('    return os.environ.get("NEW_SETTING", "")\n')


def _new_default(root: Path) -> None:
    _edit(
        root / "guest_onboarding" / "config.py",
        '    "GUEST_LEDGER_TABLE": "guestledger",\n',
        '    "GUEST_LEDGER_TABLE": "guestledger",\n    "NEW_SETTING": "on",\n',
    )


def _read_through_helper_module(root: Path) -> None:
    (root / "guest_onboarding" / "feature.py").write_text(
        "import os\n\nPREFIX = 'NEW_'\n\n\ndef flag() -> str:\n"
        "    return os.getenv(PREFIX + 'SETTING') or ''\n"
    )


def _unresolvable_read(root: Path) -> None:
    with (root / "guest_onboarding" / "config.py").open("a") as f:
        f.write("\n\ndef _dynamic(name: str, suffix: str) -> str:\n")
        f.write("    return os.environ.get(name + suffix, '')\n")


def _changed_default(root: Path) -> None:
    config = root / "guest_onboarding" / "config.py"
    _edit(config, '"REMINDER_DAYS": "3,7,14"', '"REMINDER_DAYS": "2,5"')


def _no_poison_queue(root: Path) -> None:
    _edit(root / "infra" / "app" / "storage.bicep", "  '${assignmentsQueueName}-poison'\n", "")


def _setting_dropped_from_bicep(root: Path) -> None:
    _edit(root / "infra" / "main.bicep", "  RESEND_UNTRACKED: string(resendUntracked)\n", "")


def _permission_added_to_bicep(root: Path) -> None:
    _edit(
        root / "infra" / "app" / "graph-permissions.bicep",
        "  'GroupMember.ReadWrite.All'\n",
        "  'GroupMember.ReadWrite.All'\n  'Directory.ReadWrite.All'\n",
    )


def _permission_dropped_from_docs(root: Path) -> None:
    path = root / "docs" / "deployment.md"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith("| `Application.Read")))


def _deletion_broad_again(root: Path) -> None:
    _edit(
        root / "infra" / "app" / "graph-permissions.bicep",
        "  'User.DeleteRestore.All'\n",
        "  'User.ReadWrite.All'\n",
    )


def _app_roles_always(root: Path) -> None:
    _edit(
        root / "infra" / "app" / "graph-permissions.bicep",
        "grantAppRoleAssignment ? appRolePermissions : []",
        "appRolePermissions",
    )


def _deletion_not_wired(root: Path) -> None:
    _edit(root / "infra" / "main.bicep", "    grantDeletePermission: grantsDelete\n", "")


def _budget_table_not_created(root: Path) -> None:
    path = root / "infra" / "app" / "storage.bicep"
    text = path.read_text()
    start = text.index("resource budgetTable")
    path.write_text(text[:start] + text[text.index("}\n", start) + 2 :])


def _queue_binding_renamed(root: Path) -> None:
    _edit(root / "assign_fn" / "__init__.py", "%ASSIGNMENTS_QUEUE%", "%STEPS_QUEUE%")


DRIFTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "new env read in config.py": (_append_read, "NEW_SETTING"),
    "new SETTING_DEFAULTS key": (_new_default, "NEW_SETTING"),
    "env read in another module": (_read_through_helper_module, "NEW_SETTING"),
    "env read with a computed key": (_unresolvable_read, "cannot be resolved"),
    "code default changed": (_changed_default, "REMINDER_DAYS"),
    "poison queue not created": (_no_poison_queue, "guest-assignments-poison"),
    "Graph budget table not created": (_budget_table_not_created, "GRAPH_BUDGET_TABLE"),
    "setting dropped from Bicep": (_setting_dropped_from_bicep, "RESEND_UNTRACKED"),
    "Graph permission added in Bicep only": (_permission_added_to_bicep, "Directory.ReadWrite.All"),
    "Graph permission dropped from docs": (_permission_dropped_from_docs, "Application.Read.All"),
    "deletion grants User.ReadWrite.All again": (_deletion_broad_again, "User.ReadWrite.All"),
    "app role grant always on": (_app_roles_always, "AppRoleAssignment.ReadWrite.All"),
    "main.bicep stops driving the deletion grant": (_deletion_not_wired, "grantDeletePermission"),
    "function binds an unset queue setting": (_queue_binding_renamed, "STEPS_QUEUE"),
}


def test_unchanged_copy_passes(tmp_path: Path) -> None:
    result = _run_contract(_copy_repo(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "code and infra agree" in result.stdout


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_drift_fails_the_contract_naming_the_culprit(tmp_path: Path, drift: str) -> None:
    change, culprit = DRIFTS[drift]
    root = _copy_repo(tmp_path)
    change(root)
    result = _run_contract(root)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("contract: ")]
    assert any(culprit in line for line in problems), result.stdout
