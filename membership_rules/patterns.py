"""`-match` patterns: Entra evaluates them as .NET regular expressions; this evaluator runs them
with Python's `re`, and refuses the patterns the two read differently.

What Entra documents (groups-dynamic-membership.md, "Using the -match operator" and "Supported
values"): any regular expression; not case sensitive; `user.displayName -match "^Da.*"` is true
for `Da`, `Dav`, `David` and false for `aDa`, and `".*vid"` is true for `David`, so a pattern
matches anywhere in the value (.NET's `Regex.IsMatch`, Python's `re.search`). A null value
matches nothing.

How the two engines differ, and what this module does about each:

- .NET syntax Python's `re` does not read (named groups `(?<n>...)`, `\\k<n>`, `\\p{L}`, `\\z`,
  `\\G`, variable-length look-behind, `(?n)`, balancing groups): `re` refuses to compile them, and
  so does `compile_pattern` (kind PATTERN).
- Character class subtraction `[a-z-[aeiou]]` (.NET) reads in Python as a class followed by a
  literal `]`: refused. So are the sets Python warns may change meaning (`[[`, `--`, `&&`).
- `\\Z`: .NET matches at the end or before a final newline, Python only at the very end: refused
  (write `$`, which means the same in both).
- `{,n}`: a quantifier in Python 3.11, literal text in .NET: refused.
- Possessive quantifiers `*+ ++ ?+ {n}+`: Python 3.11 reads them, .NET refuses them: refused.
- `(?P<n>...)`, `(?P=n)` and the inline flags `a`, `L`, `u`: Python only: refused.
- Accepted although they differ at the edges: `\\w` and `\\b` (.NET counts combining marks and
  connector punctuation as word characters, Python counts other numeric characters), and case
  folding (both use simple case mapping; .NET's culture tables may differ for a few letters).
- No match timeout: .NET's may stop a pathological pattern, Python's `re` runs it to the end.
"""

from __future__ import annotations

import re
import warnings

#: Inline flags Python reads that .NET does not (.NET's are i, m, n, s, x).
PYTHON_ONLY_FLAGS = frozenset("aLu")


class PatternError(ValueError):
    """A pattern this evaluator will not run, with the offset (in the pattern) it points at."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern compiled case-insensitively for `re.search`, or PatternError."""
    difference = _dotnet_difference(pattern)
    if difference is not None:
        raise difference
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        try:
            return re.compile(pattern, re.IGNORECASE)
        except FutureWarning as warning:
            raise PatternError(0, f"{warning}: Python may read this set differently") from None
        except re.error as exc:
            offset = exc.pos if exc.pos is not None else 0
            raise PatternError(
                offset, f"not a regular expression Python's re reads: {exc.msg}"
            ) from None


def _dotnet_difference(pattern: str) -> PatternError | None:
    """The first construct .NET and Python's `re` read differently, scanning the pattern once
    (escapes and character classes tracked, so `[\\Z]` or `\\(?P` are not flagged)."""
    i = 0
    in_class = False
    class_start = -1
    after_quantifier = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not in_class and escaped == "Z":
                return PatternError(
                    i,
                    "\\Z means 'at the end or before a final newline' in .NET but 'at the "
                    "very end' in Python: write $ instead",
                )
            i += 2
            after_quantifier = False
            continue
        if in_class:
            # A ']' right after '[' or '[^' is a literal member of the class, in both engines.
            if char == "]" and i > class_start:
                in_class = False
            if char == "-" and pattern[i + 1 : i + 2] == "[":
                return PatternError(
                    i, "'-[' in a class is class subtraction in .NET and literal text in Python"
                )
            i += 1
            continue
        if char == "[":
            in_class = True
            class_start = i + 1
            if pattern[i + 1 : i + 2] == "^":
                class_start += 1
            i += 1
            after_quantifier = False
            continue
        if char == "(" and pattern[i + 1 : i + 2] == "?":
            problem = _group_difference(pattern, i)
            if problem is not None:
                return problem
            i += 2
            after_quantifier = False
            continue
        if char == "+" and after_quantifier:
            return PatternError(
                i, "a possessive quantifier (Python 3.11 reads it, .NET refuses it)"
            )
        if char in "*+?":
            # '?' right after a quantifier makes it lazy; it is not a quantifier itself.
            after_quantifier = not (char == "?" and after_quantifier)
            i += 1
            continue
        if char == "{":
            end = pattern.find("}", i)
            body = pattern[i + 1 : end] if end != -1 else ""
            low, comma, high = body.partition(",")
            if end != -1 and comma and not low and high.isdigit():
                return PatternError(
                    i,
                    f"{{{body}}} is a quantifier in Python but literal text in .NET: "
                    f"write {{0,{high}}}",
                )
            if end != -1 and (low.isdigit() and (not high or high.isdigit())):
                i = end + 1
                after_quantifier = True
                continue
        after_quantifier = False
        i += 1
    return None


def _group_difference(pattern: str, start: int) -> PatternError | None:
    """A `(?...` group Python reads and .NET does not: `(?P...` or Python-only inline flags."""
    rest = pattern[start + 2 :]
    if rest.startswith("P"):
        return PatternError(start, "(?P...) groups are Python syntax; .NET refuses them")
    flags = ""
    for char in rest:
        if char.isalpha() or char == "-":
            flags += char
            continue
        if char in ":)" and flags:
            python_only = sorted(set(flags) & PYTHON_ONLY_FLAGS)
            if python_only:
                return PatternError(
                    start,
                    f"the inline flag(s) {', '.join(python_only)} are Python only; .NET "
                    "refuses them",
                )
        break
    return None
