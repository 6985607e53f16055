"""Every static check of infra/, in one run: ``python -m infra.checks [ROOT]``.

The Bicep CLI and ARM are not available offline, so these checks stand in for what they would
catch. Each prints ``<check>: <problem>`` lines; the exit code is 1 if any check found anything.
Each check has a mutation test in tests/infra/test_drift.py that breaks a copy of the repository
the way the check exists to catch and asserts that the check names the culprit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from infra.checks import (
    arm_schema,
    azd_params,
    contract,
    flex,
    grants,
    hardening,
    modules,
    roles,
    versions,
    workflows,
)

CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "contract": contract.contract_problems,
    "flex": flex.flex_problems,
    "azd": azd_params.azd_problems,
    "versions": versions.version_problems,
    "roles": roles.role_problems,
    "schema": arm_schema.schema_problems,
    "modules": modules.module_problems,
    "workflows": workflows.workflow_problems,
    "hardening": hardening.hardening_problems,
    "grants": grants.grant_problems,
}


def run(root: Path) -> dict[str, list[str]]:
    """Problems found by each check, by check name."""
    return {name: check(root) for name, check in CHECKS.items()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".").resolve()
    found = run(root)
    for name, problems in found.items():
        for problem in problems:
            print(f"{name}: {problem}")
    total = sum(len(p) for p in found.values())
    if not total:
        print(f"infra checks: {', '.join(found)} passed")
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
