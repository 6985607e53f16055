"""The README's code-layout table is true for a newcomer (issue 22): every path it names exists,
every module path named anywhere in the README exists, and every module and package of the core
is in the table."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "guest_onboarding"
#: Subpackages whose every module the table names one by one (the others are named as a
#: package, their modules listed beside it).
NAMED_MODULE_BY_MODULE = ("handlers", "domain")

_TICKED = re.compile(r"`([^`\s]+)`")
_MODULE_PATH = re.compile(r"^[\w./-]+\.py$")


def layout_rows(readme: str) -> list[tuple[list[str], list[str]]]:
    """The rows of the table after "Code layout": the paths of the first column, and the
    names ticked in the second."""
    section = readme.split("Code layout", 1)[1]
    rows: list[tuple[list[str], list[str]]] = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = line.split("|")
            rows.append((_TICKED.findall(cells[1]), _TICKED.findall(cells[2])))
        elif rows:
            break  # the table ended
    return rows


def layout_table(readme: str) -> list[str]:
    """The first-column paths of the layout table."""
    return [path for paths, _ in layout_rows(readme) for path in paths]


def missing_paths(root: Path, readme: str) -> list[str]:
    """Table paths that do not exist, and ``.py`` paths anywhere in the README that exist
    neither from the repository root nor from inside the package (the README writes adapter
    modules as ``adapters/graph/pacer.py``)."""
    missing = [p for p in layout_table(readme) if not (root / p).exists()]
    for paths, described in layout_rows(readme):  # `client.py` beside `.../adapters/graph/`
        folders = [p for p in paths if p.endswith("/")]
        for name in described:
            if _MODULE_PATH.match(name) and not any((root / f / name).exists() for f in folders):
                missing.append(name)
    for name in sorted(set(_TICKED.findall(readme))):
        exists = (root / name).exists() or (root / PACKAGE / name).exists()
        if _MODULE_PATH.match(name) and "/" in name and not exists:
            missing.append(name)
    return missing


def core_items(root: Path) -> list[str]:
    """The core a newcomer must find in the table: every module directly in the package, every
    subpackage, and every module of the subpackages named module by module."""
    base = root / PACKAGE
    items = [f"{PACKAGE}/{p.name}" for p in sorted(base.glob("*.py")) if p.name != "__init__.py"]
    for init in sorted(base.rglob("__init__.py")):
        package = init.parent.relative_to(root).as_posix()
        if package != PACKAGE:
            items.append(package + "/")
    for sub in NAMED_MODULE_BY_MODULE:
        items += [
            f"{PACKAGE}/{sub}/{p.name}"
            for p in sorted((base / sub).glob("*.py"))
            if p.name != "__init__.py"
        ]
    return items


def unnamed_core(root: Path, readme: str) -> list[str]:
    """Core modules and packages the table does not name (a package counts as named when the
    table names it or a package below it)."""
    named = layout_table(readme)
    return [
        item
        for item in core_items(root)
        if not any(p == item or (item.endswith("/") and p.startswith(item)) for p in named)
    ]


def readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_path_the_readme_names_exists() -> None:
    assert layout_table(readme())  # the table is found
    assert missing_paths(REPO_ROOT, readme()) == []


def test_every_core_module_and_package_is_in_the_layout_table() -> None:
    assert unnamed_core(REPO_ROOT, readme()) == []


def test_the_checks_catch_a_stale_table_and_a_module_it_forgot(tmp_path: Path) -> None:
    """Mutations: the README as it was (``domain.py``, ``handlers.py`` and ``graph.py`` that
    became packages), and a new core module nobody added to the table."""
    stale = readme().replace("`guest_onboarding/domain/ledger.py`", "`guest_onboarding/domain.py`")
    assert "guest_onboarding/domain.py" in missing_paths(REPO_ROOT, stale)
    assert "guest_onboarding/domain/ledger.py" in unnamed_core(REPO_ROOT, stale)
    assert "adapters/graph.py" in missing_paths(REPO_ROOT, stale + "\n`adapters/graph.py`\n")

    package = tmp_path / PACKAGE
    (package / "domain").mkdir(parents=True)
    (package / "handlers").mkdir()
    for path in ("__init__.py", "domain/__init__.py", "handlers/__init__.py", "newcomer.py"):
        (package / path).write_text("")
    table = "Code layout\n\n| path | what |\n| --- | --- |\n| `guest_onboarding/domain/` | x |\n"
    assert unnamed_core(tmp_path, table) == [
        f"{PACKAGE}/newcomer.py",
        f"{PACKAGE}/handlers/",
    ]
