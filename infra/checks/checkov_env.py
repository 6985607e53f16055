"""checkov in its own virtual environment, installed on demand, and a run of it over infra/.

checkov pins an older pycep-parser than the project's tests use, so it cannot share ``.venv``.
:func:`ensure_checkov` creates ``.venv-checkov/`` at the repository root from the pinned
``requirements-checkov.txt`` when it is missing, and reinstalls when that file changes (a hash
of it is kept in the environment). It is safe to call from concurrent test runs (file lock).

``python -m infra.checks.checkov_env`` installs if needed, runs checkov over ``infra/`` with
``checkov.yaml`` and exits non-zero on any failed check or parsing error.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CHECKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = CHECKS_DIR.parents[1]
VENV = REPO_ROOT / ".venv-checkov"
REQUIREMENTS = CHECKS_DIR / "requirements-checkov.txt"
CONFIG = CHECKS_DIR / "checkov.yaml"
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 300


class CheckovSetupError(RuntimeError):
    """The checkov environment could not be created; the message carries pip's output."""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def ensure_checkov(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> Path:
    """Path of the checkov executable, installing or updating the environment if needed."""
    venv.mkdir(parents=True, exist_ok=True)
    stamp = venv / "requirements.sha256"
    wanted = _digest(requirements)
    with open(venv / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python, checkov = _bin(venv, "python"), _bin(venv, "checkov")
        if checkov.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
            return checkov
        log = venv / "install.log"
        steps: list[list[str]] = []
        if not python.exists():
            steps.append([sys.executable, "-m", "venv", str(venv)])
        steps.append(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(requirements),
            ]
        )
        with open(log, "w") as out:
            for step in steps:
                result = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S
                )
                if result.returncode != 0:
                    out.flush()
                    tail = log.read_text()[-4000:]
                    raise CheckovSetupError(f"{' '.join(step)} failed:\n{tail}")
        stamp.write_text(wanted + "\n")
        return checkov


def run_checkov(
    directory: Path = REPO_ROOT / "infra", checkov: Path | None = None
) -> dict[str, Any]:
    """checkov's JSON report for ``directory`` (Bicep framework, configured by checkov.yaml)."""
    executable = checkov or ensure_checkov()
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", LOG_LEVEL="ERROR")
    result = subprocess.run(
        [str(executable), "--config-file", str(CONFIG), "-d", str(directory), "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        cwd=directory,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(
            f"checkov printed no JSON (exit {result.returncode}):\n{result.stderr[-4000:]}"
        ) from exc
    if isinstance(report, list):  # one entry per framework when several run
        (report,) = [r for r in report if r.get("check_type") == "bicep"]
    if not isinstance(report, dict):
        raise RuntimeError(f"unexpected checkov report: {report!r}")
    return report


def main() -> int:
    report = run_checkov()
    summary = report["summary"]
    for failed in report["results"].get("failed_checks", []):
        print(f"FAILED {failed['check_id']} {failed['resource']} {failed['file_path']}")
    print(
        f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped, {summary['parsing_errors']} parsing errors"
    )
    return 1 if summary["failed"] or summary["parsing_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
