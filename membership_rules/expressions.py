"""A parsed rule and how it evaluates against a user (Graph's property names).

Semantics, from Microsoft's reference (groups-dynamic-membership.md, read 2026-12-06) where it
says, and this module's choice, marked (unconfirmed), where it does not:

- "Regex and string operations aren't case sensitive": strings compare as .NET's
  `OrdinalIgnoreCase` does, each character mapped to its simple upper case (`fold`); so `ß` is
  not `SS`, and the dotted capital `İ` (U+0130) is not `I`.
- `-startsWith`, `-endsWith`, `-contains` (a substring), `-in` (equal to one item) and `-match`
  (a regex found anywhere, see `patterns`) are false for a null value; each `-not...` operator
  and `-ne` is the negation of its positive, so true for a null value (unconfirmed).
- `null` (or `$null`) is compared with `-eq` / `-ne` only: `-eq null` is true when the value is
  null or absent ("Use of null values").
- A string-collection property (`otherMails`, `proxyAddresses`) compared directly
  (`user.otherMails -startsWith "a"`, documented usage) is true when any item passes the
  positive test; its negated form is true when no item does (unconfirmed); `-eq null` is true
  for an empty collection (unconfirmed).
- `-any` is true when at least one item satisfies the condition on `_`, `-all` when every item
  does, so `-all` of an empty collection is true.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from membership_rules.properties import Kind, UserProperty


def fold(text: str) -> str:
    """``text`` with each character mapped to its simple upper case, as .NET's
    `StringComparison.OrdinalIgnoreCase` compares (a character whose upper case is longer
    than one character, such as `ß`, stays as it is)."""
    upper = text.upper()
    if len(upper) == len(text):
        # No character expanded, so each mapped to exactly one character.
        return upper
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


class Test(enum.Enum):
    """The positive test an operator applies (`-notStartsWith` is STARTS_WITH, negated)."""

    EQUALS = "eq"
    STARTS_WITH = "startsWith"
    ENDS_WITH = "endsWith"
    CONTAINS = "contains"
    MATCHES = "match"
    IN = "in"


class Quantifier(enum.Enum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True)
class Text:
    """A string value as written, and folded for comparison."""

    text: str
    folded: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", fold(self.text))


@dataclass(frozen=True)
class TextList:
    """The `[...]` of `-in` / `-notIn`."""

    items: tuple[Text, ...]

    @property
    def folded(self) -> frozenset[str]:
        """The items, folded."""
        return frozenset(item.folded for item in self.items)


@dataclass(frozen=True)
class Pattern:
    """A `-match` pattern as written, and compiled (`patterns.compile_pattern`)."""

    source: str
    compiled: re.Pattern[str] = field(compare=False)


#: What a comparison compares with: null, a boolean, a string, a list or a pattern.
Value = None | bool | Text | TextList | Pattern


@dataclass(frozen=True)
class Comparison:
    """``subject`` (a user property, or None for the collection item `_`) tested against
    ``value``; ``negated`` for `-ne` and the `-not...` operators."""

    subject: UserProperty | None
    test: Test
    negated: bool
    value: Value


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class And:
    operands: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Expression, ...]


@dataclass(frozen=True)
class Quantified:
    """``collection -any (condition)`` / ``-all``: the condition compares the item `_`."""

    collection: UserProperty
    quantifier: Quantifier
    condition: Expression


Expression = Comparison | Not | And | Or | Quantified


def _passes(test: Test, value: str, against: Value) -> bool:
    """The positive test on a non-null string ``value``."""
    if isinstance(against, Pattern):
        return against.compiled.search(value) is not None
    if isinstance(against, TextList):
        return fold(value) in against.folded
    if not isinstance(against, Text):
        return False
    folded = fold(value)
    if test is Test.EQUALS:
        return folded == against.folded
    if test is Test.STARTS_WITH:
        return folded.startswith(against.folded)
    if test is Test.ENDS_WITH:
        return folded.endswith(against.folded)
    return against.folded in folded


def _compare(comparison: Comparison, user: Mapping[str, object], item: str | None) -> bool:
    value = comparison.value
    subject = comparison.subject
    if subject is None:
        # The item `_` of a collection: a string, never null.
        positive = value is not None and item is not None and _passes(comparison.test, item, value)
    elif subject.kind is Kind.BOOLEAN:
        actual = subject.read(user)
        positive = actual is None if value is None else actual is value
    elif subject.kind is Kind.STRING_COLLECTION:
        items = subject.read(user) or ()
        assert isinstance(items, tuple)
        if value is None:
            positive = not items
        else:
            positive = any(_passes(comparison.test, each, value) for each in items)
    else:
        actual = subject.read(user)
        if value is None:
            positive = actual is None
        else:
            positive = isinstance(actual, str) and _passes(comparison.test, actual, value)
    return positive != comparison.negated


def evaluate(expression: Expression, user: Mapping[str, object], item: str | None = None) -> bool:
    """Whether ``user`` satisfies ``expression`` (``item``: the current `_` inside -any/-all)."""
    if isinstance(expression, Comparison):
        return _compare(expression, user, item)
    if isinstance(expression, Not):
        return not evaluate(expression.operand, user, item)
    if isinstance(expression, And):
        return all(evaluate(operand, user, item) for operand in expression.operands)
    if isinstance(expression, Or):
        return any(evaluate(operand, user, item) for operand in expression.operands)
    items = expression.collection.read(user) or ()
    assert isinstance(items, tuple)
    check = any if expression.quantifier is Quantifier.ANY else all
    return check(evaluate(expression.condition, user, each) for each in items)


def subjects(expression: Expression) -> Iterator[UserProperty]:
    """Every user property the expression reads."""
    if isinstance(expression, Comparison):
        if expression.subject is not None:
            yield expression.subject
    elif isinstance(expression, Not):
        yield from subjects(expression.operand)
    elif isinstance(expression, And | Or):
        for operand in expression.operands:
            yield from subjects(operand)
    else:
        yield expression.collection
        yield from subjects(expression.condition)


@dataclass(frozen=True)
class Rule:
    """A parsed membership rule: the text it came from and the expression it means."""

    text: str
    expression: Expression

    def matches(self, user: Mapping[str, object]) -> bool:
        """Whether a user, as Graph returns it (`companyName`, `officeLocation`, `otherMails`,
        ...; an absent key is null), satisfies the rule. TypeError if a property the rule
        reads has a value of the wrong type."""
        return evaluate(self.expression, user)

    @property
    def properties(self) -> frozenset[UserProperty]:
        """The user properties the rule reads."""
        return frozenset(subjects(self.expression))

    @property
    def graph_properties(self) -> frozenset[str]:
        """The top-level Graph user properties the rule reads: what to `$select`."""
        return frozenset(prop.graph_name for prop in self.properties)
