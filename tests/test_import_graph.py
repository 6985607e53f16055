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


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (function bodies and
    ``TYPE_CHECKING`` blocks included)."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


#: Vendor SDK packages and the one place in the app allowed to import each (import-linter
#: cannot name subpackages of an external package such as ``azure.data.tables``).
SDK_OWNERS = {
    "azure.data.tables": "guest_onboarding/adapters/storage",
    "azure.storage.queue": "guest_onboarding/adapters/storage",
    "msgraph": "guest_onboarding/adapters/graph",
    "kiota_": "guest_onboarding/adapters/graph",
}


def sdk_imports_outside_their_adapter(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "guest_onboarding").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for name in sorted(imported_modules(path)):
            for sdk, owner in SDK_OWNERS.items():
                if name.startswith(sdk) and not relative.startswith(owner + "/"):
                    found.append(f"{relative} imports {name}")
    return found


def test_only_each_adapter_imports_its_vendor_sdk() -> None:
    assert sdk_imports_outside_their_adapter(REPO_ROOT) == []


def test_the_sdk_check_finds_a_misplaced_import(tmp_path: Path) -> None:
    """Mutation: a handler that imports the Tables SDK is caught."""
    handlers = tmp_path / "guest_onboarding" / "handlers"
    handlers.mkdir(parents=True)
    (handlers / "leaky.py").write_text("def f():\n    from azure.data.tables import TableClient\n")
    assert sdk_imports_outside_their_adapter(tmp_path) == [
        "guest_onboarding/handlers/leaky.py imports azure.data.tables",
        "guest_onboarding/handlers/leaky.py imports azure.data.tables.TableClient",
    ]


#: Issue 11: a module that outgrows this holds more than one job.
MAX_MODULE_LINES = 300


def test_no_app_module_is_over_300_lines() -> None:
    long = {
        path.relative_to(REPO_ROOT).as_posix(): lines
        for path in (REPO_ROOT / "guest_onboarding").rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


#: The function folders: what the host loads (``function_app.py`` registers their blueprints).
FUNCTION_FOLDERS = ("invite_fn", "assign_fn", "resend_timer_fn")


def modules_not_run(package: str, entry_points: Iterable[str]) -> list[str]:
    """The modules of ``package`` that nothing reached from ``entry_points`` imports, at any
    depth (imports inside functions count: the app imports lazily); packages are left out,
    since importing any module of one runs its ``__init__``."""
    graph = grimp.build_graph(
        package, *entry_points, cache_dir=None, exclude_type_checking_imports=True
    )
    reached: set[str] = set()
    pending = list(entry_points)
    while pending:
        module = pending.pop()
        if module in reached:
            continue
        reached.add(module)
        pending.extend(graph.find_modules_directly_imported_by(module))
    leaves = {m for m in graph.modules if not graph.find_children(m) and m.startswith(package)}
    return sorted(leaves - reached)


def test_what_ships_is_what_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every module of the deployed package is imported by the functions: nothing only the
    console or the tests use ships with the app (issue 22)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    assert modules_not_run("guest_onboarding", FUNCTION_FOLDERS) == []


def test_the_shipping_check_finds_a_module_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation: a module only a console would import is caught."""
    app = tmp_path / "shipped"
    (app / "sub").mkdir(parents=True)
    for path, text in {
        "shipped/__init__.py": "",
        "shipped/sub/__init__.py": "",
        "shipped/sub/used.py": "",
        "shipped/console_only.py": "",
        "trigger_fn/__init__.py": "def run():\n    from shipped.sub import used\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("shipped", "shipped.sub", "trigger_fn"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert modules_not_run("shipped", ["trigger_fn"]) == ["shipped.console_only"]
