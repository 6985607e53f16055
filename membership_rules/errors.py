"""What `parse` says about a rule it will not evaluate: where, why, and of which kind."""

from __future__ import annotations

import enum


class RuleErrorKind(enum.Enum):
    """Why a rule is refused. The first three mirror the rule parser errors Microsoft lists in
    "Troubleshoot and resolve groups issues" (docs/identity/users/groups-troubleshooting.md):
    "Query compilation error", "Attribute not supported", "Operator isn't supported on
    attribute"."""

    #: Not a rule: a token out of place, an unclosed parenthesis or string, too long.
    SYNTAX = "syntax"
    #: A property Entra's rule reference does not list (or a Graph name for one it does).
    UNKNOWN_PROPERTY = "unknown property"
    #: An operator or value the property's type does not take (`-contains` on a boolean).
    NOT_FOR_PROPERTY = "not for this property"
    #: A `-match` pattern Python's `re` cannot read, or reads differently from .NET.
    PATTERN = "pattern"
    #: Valid in Entra, but this evaluator does not evaluate it (device rules, memberOf,
    #: Direct Reports, dates, licences): reported rather than guessed.
    NOT_EVALUATED = "not evaluated"


class RuleSyntaxError(ValueError):
    """A rule `parse` refuses, with the 0-based offset, line and column (1-based) it points at.

    ``str(error)`` reads as one sentence a person can act on, with the offending line of the
    rule and a caret under the position.
    """

    def __init__(self, rule: str, position: int, kind: RuleErrorKind, reason: str) -> None:
        self.rule = rule
        self.position = max(0, min(position, len(rule)))
        self.kind = kind
        self.reason = reason
        before = rule[: self.position]
        self.line = before.count("\n") + 1
        self.column = self.position - (before.rfind("\n") + 1) + 1
        super().__init__(self._describe())

    def _describe(self) -> str:
        lines = self.rule.split("\n")
        text = lines[self.line - 1] if self.line - 1 < len(lines) else ""
        where = f"line {self.line}, column {self.column}"
        return f"{self.reason} ({self.kind.value}, {where})\n  {text}\n  {' ' * (self.column - 1)}^"
