"""No import cycles between files anywhere in the repository, TYPE_CHECKING imports included.

import-linter's contracts (pyproject.toml, run by tests/test_lint.py) say which package may
import which; this test says that no module imports itself round a cycle, however long.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NOT_CODE = {".venv", "node_modules", ".git"}


def repository_packages(root: Path) -> list[str]:
    """Every top-level package of the repository (a folder with an ``__init__.py``)."""
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir()
        and entry.name not in NOT_CODE
        and not entry.name.startswith(".")
        and (entry / "__init__.py").exists()
    )


def import_cycles(packages: Iterable[str]) -> list[list[str]]:
    """The modules of each import cycle (strongly connected groups of two or more modules)."""
    graph = grimp.build_graph(*packages, cache_dir=None, exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    # Tarjan's algorithm, iteratively (the graph is small, but recursion limits are not).
    for start in sorted(graph.modules):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = []
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work.append((start, sorted(graph.find_modules_directly_imported_by(start))))
        while work:
            module, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.find_modules_directly_imported_by(nxt))))
                elif nxt in on_stack:
                    low[module] = min(low[module], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))
    return cycles


def test_the_repository_has_no_import_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    packages = repository_packages(REPO_ROOT)
    assert {"childproc", "devstack", "graph_emulator", "guest_onboarding", "tests"} <= set(packages)
    assert import_cycles(packages) == []


def test_the_check_sees_a_cycle_made_only_of_type_checking_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic import c\n"
    )
    (package / "c.py").write_text("import cyclic.a\n")
    (package / "d.py").write_text("import cyclic.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cyclic", raising=False)
    assert import_cycles(["cyclic"]) == [["cyclic.a", "cyclic.b", "cyclic.c"]]
