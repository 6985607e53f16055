"""Shared paths and parsed templates for the infra tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.checks.bicep_eval import Template
from infra.checks.contract import main_template

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def main_bicep() -> Template:
    """infra/main.bicep bound to its defaults (placeholders for the two required parameters)."""
    return main_template(REPO_ROOT)
