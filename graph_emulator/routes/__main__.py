"""``python -m graph_emulator.routes [--write]``: print (or write into graph_emulator/README.md)
the table of routes and the permissions each accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from graph_emulator.routes import routes_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- routes:begin (generated: python -m graph_emulator.routes --write) -->"
END = "<!-- routes:end -->"
BLOCK = re.compile(re.escape(BEGIN) + r"\n(?:(.*?)\n)?" + re.escape(END), re.DOTALL)


def readme_table(text: str) -> str | None:
    """The generated table as the README has it, or None without the markers."""
    found = BLOCK.search(text)
    return None if found is None else (found.group(1) or "")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    table = routes_table()
    if "--write" not in args:
        print(table)
        return 0
    text = README.read_text()
    found = BLOCK.search(text)
    if found is None:
        print(f"{README}: no {BEGIN} marker", file=sys.stderr)
        return 1
    README.write_text(text[: found.start()] + f"{BEGIN}\n{table}\n{END}" + text[found.end() :])
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
