"""``python -m bench.mutation`` (``make mutation``): mutation testing of the domain and the
handlers with mutmut, against the fast tiers (unit, security, property: no Azurite, no emulator).

mutmut (pinned in requirements-mutation.txt; configured in pyproject.toml's ``[tool.mutmut]``)
copies the package to ``mutants/``, makes every small change it knows to every function of
``guest_onboarding/domain/`` and ``guest_onboarding/handlers/`` and, for each, runs the tests
that reach that function, on every core. A mutant is killed when a test fails.

Every surviving mutant is either killed by a test or written down as equivalent, with the
reason, in ``tests/mutation/equivalent.toml``, keyed by the function and the source line it
changes (what it was, what it became), never by mutmut's numbering, so an entry still holds
when lines move or mutants are renumbered. The report (``bench-results/mutation.json`` and
``.md``) has the kill rate, the run time and every survivor (file, line, diff, reason); it exits
non-zero when fewer than ``--min-kill-rate`` of the mutants are killed or a survivor has no
reason. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, RESULTS_DIR

EQUIVALENT_FILE = REPO_ROOT / "tests" / "mutation" / "equivalent.toml"
MUTANTS_DIR = REPO_ROOT / "mutants"
UNEXPLAINED = "**none: kill it with a test, or write down why it is equivalent**"


@dataclass(frozen=True)
class Survivor:
    """A mutant no test killed: where it is, what it changes, and why that is fine (or not)."""

    name: str
    status: str
    file: str
    line: int
    function: str
    original: str
    mutated: str
    diff: str
    reason: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.original, self.mutated)


def status_of(code: int | None) -> str:
    """mutmut's own name for a mutant's exit code (``mutmut.stats.status_by_exit_code``):
    killed, timeout (also a kill), survived, no tests, not checked, segfault, suspicious..."""
    stats: Any = importlib.import_module("mutmut.stats")
    return str(stats.status_by_exit_code[code])


def function_of(mutant: str) -> tuple[str, str]:
    """``(module, qualified function)`` of a mutmut mutant name, e.g.
    ``guest_onboarding.handlers.invite.xǁ_Runǁdefer__mutmut_1`` ->
    ``("guest_onboarding.handlers.invite", "_Run.defer")``."""
    module, _, generated = mutant.rpartition(".")
    base = generated.rpartition("__mutmut_")[0]
    if base.startswith("xǁ"):
        _, cls, method = base.split("ǁ")
        return module, f"{cls}.{method}"
    return module, base.removeprefix("x_")


def changed_lines(diff: str) -> tuple[str, str]:
    """The lines a diff removes and adds, stripped and joined: the mutant's stable description."""
    removed = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-")]
    added = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+")]
    removed = [ln for ln in removed if not ln.startswith("--")]
    added = [ln for ln in added if not ln.startswith("++")]
    return " / ".join(removed), " / ".join(added)


def source_line(path: Path, function: str, original: str) -> int:
    """The line of ``path`` where ``function`` holds ``original`` (its first changed line), or
    the function's own line when that text spans lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scope: list[ast.stmt] = tree.body
    found: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None = None
    for part in function.split("."):
        found = next(
            (
                n
                for n in scope
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if found is None:
            return 0
        scope = found.body
    if found is None:
        return 0
    start, end = found.lineno, found.end_lineno or found.lineno
    first = original.split(" / ")[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    for number in range(start, end + 1):
        if first and lines[number - 1].strip() == first:
            return number
    return start


def load_equivalents(path: Path = EQUIVALENT_FILE) -> dict[tuple[str, str, str], str]:
    """The equivalent mutants, by (function, original line, mutated line), with their reason."""
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {
        (entry["function"], entry["original"], entry["mutated"]): entry["reason"]
        for entry in data.get("mutant", [])
    }


def unchecked(only: list[str], *, survivors: bool = False) -> list[str]:
    """The mutants of the last run (matching ``only``) that have no result yet, and with
    ``survivors`` those no test killed either (after tests were added for them)."""
    names = []
    for meta in sorted(MUTANTS_DIR.glob("guest_onboarding/**/*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        names += [
            name
            for name, code in codes.items()
            if (code is None or (survivors and status_of(code) not in ("killed", "timeout")))
            and (not only or any(fnmatch.fnmatch(name, p) for p in only))
        ]
    return names


def run_mutmut(
    max_children: int, log: Path, *, keep: bool, only: list[str], test_timeout: int
) -> float:
    """Run mutmut from a clean ``mutants/`` (unless ``keep``), on the mutants whose names match
    ``only`` (globs, e.g. ``guest_onboarding.domain.*``; every mutant when empty); its wall time
    in seconds. A mutant that makes a test wait forever (an event never set) uses no CPU, so
    mutmut's CPU-time limit never fires: pytest-timeout fails that test after ``test_timeout``
    seconds (PYTEST_TIMEOUT, over the 300 s of pyproject.toml; the slowest fast-tier test takes
    about 30 s), which counts as a kill."""
    if not keep and MUTANTS_DIR.exists():
        shutil.rmtree(MUTANTS_DIR)
    mutmut = Path(sys.executable).parent / "mutmut"
    env = {**os.environ, "PYTEST_TIMEOUT": str(test_timeout)}
    started = time.monotonic()
    with log.open("a" if keep else "w", encoding="utf-8") as out:
        done = subprocess.run(
            [str(mutmut), "run", "--max-children", str(max_children), *only],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"mutmut run failed ({done.returncode}); see {log}")
    return elapsed


def collect(
    equivalents: dict[tuple[str, str, str], str], only: list[str]
) -> tuple[Counter[str], list[Survivor]]:
    """Every mutant's status (of those matching ``only``, when given), and the survivors
    (survived, no tests, not checked) described."""
    # mutmut reads its configuration from the current directory.
    os.chdir(REPO_ROOT)
    diff_apply: Any = importlib.import_module("mutmut.mutation.diff_apply")
    counts: Counter[str] = Counter()
    survivors: list[Survivor] = []
    for meta in sorted(MUTANTS_DIR.glob("guest_onboarding/**/*.py.meta")):
        source = REPO_ROOT / meta.relative_to(MUTANTS_DIR).with_suffix("")
        codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))[
            "exit_code_by_key"
        ]
        for name, code in sorted(codes.items()):
            if only and not any(fnmatch.fnmatch(name, pattern) for pattern in only):
                continue
            status = status_of(code)
            counts[status] += 1
            if status in ("killed", "timeout"):
                continue
            diff = diff_apply.get_diff_for_mutant(name, path=meta.with_suffix(""))
            diff = diff.replace(str(meta.with_suffix("")), str(source.relative_to(REPO_ROOT)))
            original, mutated = changed_lines(diff)
            module, function = function_of(name)
            qualified = f"{module}.{function}"
            survivors.append(
                Survivor(
                    name=name,
                    status=status,
                    file=str(source.relative_to(REPO_ROOT)),
                    line=source_line(source, function, original),
                    function=qualified,
                    original=original,
                    mutated=mutated,
                    diff=diff,
                    reason=equivalents.get((qualified, original, mutated)),
                )
            )
    return counts, survivors


def write_report(
    out: Path,
    counts: Counter[str],
    survivors: list[Survivor],
    stale: list[tuple[str, str, str]],
    seconds: float | None,
    max_children: int,
    only: list[str],
) -> dict[str, Any]:
    total = sum(counts.values())
    killed = counts["killed"] + counts["timeout"]
    equivalent = sum(1 for s in survivors if s.reason)
    report: dict[str, Any] = {
        "tool": "mutmut 3.8.1",
        "scope": ["guest_onboarding/domain/", "guest_onboarding/handlers/"],
        "only": only,
        "tests": "tests/unit, tests/security, tests/property (not integration, not e2e)",
        "workers": max_children,
        "seconds": None if seconds is None else round(seconds, 1),
        "mutants": total,
        "counts": dict(sorted(counts.items())),
        "killed": killed,
        "kill_rate": round(killed / total, 4) if total else 0.0,
        "equivalent": equivalent,
        "kill_rate_of_non_equivalent": (
            round(killed / (total - equivalent), 4) if total > equivalent else 0.0
        ),
        "unexplained": sum(1 for s in survivors if not s.reason),
        "survivors": [asdict(s) for s in survivors],
        "stale_equivalent_entries": [
            {"function": f, "original": o, "mutated": m} for f, o, m in stale
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Mutation testing: guest_onboarding/domain/ and guest_onboarding/handlers/",
        "",
        f"mutmut 3.8.1, {max_children} workers, against {report['tests']}.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| mutants | {total} |",
        f"| killed (timeouts included) | {killed} ({report['kill_rate']:.1%}) |",
        f"| survivors written down as equivalent | {equivalent} |",
        f"| killed of the non-equivalent | {report['kill_rate_of_non_equivalent']:.1%} |",
        f"| survivors without a reason | {report['unexplained']} |",
        f"| run time | {'-' if seconds is None else f'{seconds:.0f} s'} |",
        "",
        "## Every survivor",
        "",
    ]
    for s in survivors:
        lines += [
            f"### `{s.function}` ({s.file}:{s.line}, {s.status})",
            "",
            f"Reason: {s.reason or UNEXPLAINED}",
            "",
            "```diff",
            s.diff,
            "```",
            "",
        ]
    if stale:
        lines += ["## Entries of tests/mutation/equivalent.toml no survivor matches", ""]
        lines += [f"- `{f}`: `{o}` -> `{m}`" for f, o, m in stale]
    (out / "mutation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ (mutmut's cache)")
    parser.add_argument("--report-only", action="store_true", help="report the last run")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --keep: run only the mutants the last (interrupted) run left unchecked",
    )
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="with --keep: run again the mutants the last run left unkilled or unchecked",
    )
    parser.add_argument("--test-timeout", type=int, default=90, metavar="SECONDS")
    parser.add_argument("--min-kill-rate", type=float, default=0.90)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="mutate and report only the mutants whose names match ('guest_onboarding.domain.*')",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "mutation.log"
    again = args.resume or args.survivors
    names = unchecked(args.only, survivors=args.survivors) if again else args.only
    seconds = (
        None
        if args.report_only or (again and not names)
        else run_mutmut(
            args.max_children,
            log,
            keep=args.keep or again,
            only=names,
            test_timeout=args.test_timeout,
        )
    )
    equivalents = load_equivalents()
    counts, survivors = collect(equivalents, args.only)
    matched = {s.key for s in survivors}
    stale = sorted(k for k in equivalents if k not in matched)
    report = write_report(args.out, counts, survivors, stale, seconds, args.max_children, args.only)
    print(
        f"mutation: {report['mutants']} mutants, {report['killed']} killed "
        f"({report['kill_rate']:.1%}), {report['equivalent']} equivalent, "
        f"{report['unexplained']} unexplained; "
        f"{'' if seconds is None else f'{seconds:.0f} s; '}"
        f"report in {args.out / 'mutation.md'}"
    )
    for s in survivors:
        if not s.reason:
            print(f"  unexplained: {s.file}:{s.line} {s.function}: {s.original} -> {s.mutated}")
    ok = report["kill_rate"] >= args.min_kill_rate and report["unexplained"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
