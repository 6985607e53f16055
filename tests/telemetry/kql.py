"""The subset of the Kusto Query Language (KQL) the alert rules of infra/app/alerts.bicep use,
parsed with a lark grammar and evaluated over rows (dicts) of Application Insights tables.

Semantics, from Microsoft's KQL reference (learn.microsoft.com/kusto/query; MicrosoftDocs/
dataexplorer-docs, data-explorer/kusto/query/, read 2026-12):

- ``T | where P``: the rows for which ``P`` is true; a null predicate keeps nothing
  (where-operator.md).
- ``extend c = e, ...``: adds (or replaces) columns; ``project c, d = e, ...``: keeps exactly
  those columns, in that order (extend-operator.md, project-operator.md).
- ``union (Q1), (Q2), T``: the rows of every leg; its columns are every leg's columns, a column a
  leg lacks is null in that leg's rows (union-operator.md, ``kind=outer``, the default).
- A column a query names that its input does not have is an error, as in Kusto ("Failed to
  resolve scalar expression"): a misspelt column fails the test instead of reading as empty.
- ``d["key"]`` and ``d.key`` on a ``dynamic`` property bag: the value, or null when the key is
  missing (scalar-data-types/dynamic.md).
- ``tostring(x)``: the string form of ``x``; null gives the empty string (tostring-function.md).
  ``todouble``/``toreal``/``toint``/``tolong``: the number, or null when ``x`` is not one.
  ``isempty(x)``: null or ``""``; ``isnotempty`` its negation. ``tolower``, ``toupper``.
- ``==`` and ``!=`` compare case-sensitively, ``=~`` and ``!~`` ignoring case; ``<``, ``<=``,
  ``>``, ``>=`` on numbers, strings and datetimes; any comparison with null is null
  (datatypes-string-operators.md, "Operators on strings"; null-values.md).
- ``has``/``!has``: "Right-hand-side (RHS) is a whole term in left-hand-side (LHS)", ignoring
  case, where "each string value is broken into maximal sequences of alphanumeric characters,
  and each of those sequences is made into a term" (datatypes-string-operators.md, "What is a
  term?"). The page does not say what ``has`` does with a right-hand side that is not one term
  (``has "-poison"``, ``has "a b"``): such a query is refused here instead of guessed.
  ``contains``/``!contains``: substring, ignoring case; ``startswith``/``endswith`` likewise.
- ``and``, ``or``, ``not(...)``; ``in (...)``/``!in (...)`` (case-sensitive membership).
- Literals: strings in double or single quotes with ``\\`` escapes, integers, reals, ``true``,
  ``false``.

Anything else (``summarize``, ``join``, ``let``, ``ago()``, ...) is a syntax error naming what
was not understood: extend the grammar and :class:`Evaluator` when an alert needs more, with a
test in tests/telemetry/test_kql.py citing the page that defines it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput, VisitError

Row = dict[str, Any]


class KqlError(Exception):
    """A query outside the subset, or one Kusto itself would refuse."""


GRAMMAR = r"""
?start: query

query: source ("|" operator)*

?source: table
       | "union" union_leg ("," union_leg)*  -> union

?union_leg: "(" query ")"
          | table

table: NAME

?operator: "where" expr                               -> where
         | "extend" assignment ("," assignment)*      -> extend
         | "project" projection ("," projection)*     -> project

assignment: NAME "=" expr
?projection: assignment
           | NAME                                     -> column

?expr: or_expr
?or_expr: and_expr ("or" and_expr)*                   -> any_of
?and_expr: comparison ("and" comparison)*             -> all_of
?comparison: operand
           | operand COMPARE operand                  -> compare
           | operand IN "(" expr ("," expr)* ")"      -> membership
?operand: primary
        | "not" "(" expr ")"                          -> negation
?primary: literal
        | NAME "(" [expr ("," expr)*] ")"             -> call
        | primary "[" expr "]"                        -> index
        | primary "." NAME                            -> member
        | NAME                                        -> column_ref
        | "(" expr ")"

?literal: STRING                                      -> string
        | NUMBER                                      -> number
        | "true"                                      -> true
        | "false"                                     -> false

COMPARE.2: "==" | "!=" | "=~" | "!~" | "<=" | ">=" | "<" | ">"
         | /!?(has|contains|startswith|endswith)(?![A-Za-z0-9_])/
IN.2: /!?in(?![A-Za-z0-9_])/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/

%import common.WS
%ignore WS
"""


# ---- the syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class ColumnRef:
    name: str


@dataclass(frozen=True)
class Call:
    function: str
    arguments: tuple[Any, ...]


@dataclass(frozen=True)
class Index:
    target: Any
    key: Any


@dataclass(frozen=True)
class Compare:
    operator: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Membership:
    negated: bool
    value: Any
    candidates: tuple[Any, ...]


@dataclass(frozen=True)
class Logical:
    operator: str  # "and" | "or" | "not"
    operands: tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    name: str


@dataclass(frozen=True)
class Union:
    legs: tuple[Any, ...]


@dataclass(frozen=True)
class Where:
    predicate: Any


@dataclass(frozen=True)
class Extend:
    assignments: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Project:
    columns: tuple[tuple[str, Any], ...]  # (name, expression)


@dataclass(frozen=True)
class Query:
    source: Table | Union
    operators: tuple[Where | Extend | Project, ...]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _unquote(text: str) -> str:
    body = text[1:-1]
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char == "\\":
            escaped = next(chars)
            if escaped not in _ESCAPES:
                raise KqlError(f"unknown escape \\{escaped} in {text}")
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


@v_args(inline=True)
class _ToTree(Transformer[Token, Any]):
    def query(self, source: Any, *operators: Any) -> Query:
        return Query(source, tuple(operators))

    def union(self, *legs: Any) -> Union:
        return Union(tuple(legs))

    def table(self, name: Token) -> Table:
        return Table(str(name))

    def where(self, predicate: Any) -> Where:
        return Where(predicate)

    def extend(self, *assignments: tuple[str, Any]) -> Extend:
        return Extend(tuple(assignments))

    def project(self, *columns: tuple[str, Any]) -> Project:
        return Project(tuple(columns))

    def assignment(self, name: Token, value: Any) -> tuple[str, Any]:
        return (str(name), value)

    def column(self, name: Token) -> tuple[str, Any]:
        return (str(name), ColumnRef(str(name)))

    # lark keeps an aliased rule's node even with one child: a lone operand is itself.
    def any_of(self, *operands: Any) -> Any:
        return operands[0] if len(operands) == 1 else Logical("or", tuple(operands))

    def all_of(self, *operands: Any) -> Any:
        return operands[0] if len(operands) == 1 else Logical("and", tuple(operands))

    def negation(self, operand: Any) -> Logical:
        return Logical("not", (operand,))

    def compare(self, left: Any, operator: Token, right: Any) -> Compare:
        return Compare(str(operator), left, right)

    def membership(self, value: Any, operator: Token, *candidates: Any) -> Membership:
        return Membership(str(operator).startswith("!"), value, tuple(candidates))

    def call(self, name: Token, *arguments: Any) -> Call:
        return Call(str(name).lower(), tuple(a for a in arguments if a is not None))

    def index(self, target: Any, key: Any) -> Index:
        return Index(target, key)

    def member(self, target: Any, name: Token) -> Index:
        return Index(target, Literal(str(name)))

    def column_ref(self, name: Token) -> ColumnRef:
        return ColumnRef(str(name))

    def string(self, token: Token) -> Literal:
        return Literal(_unquote(str(token)))

    def number(self, token: Token) -> Literal:
        text = str(token)
        return Literal(float(text) if any(c in text for c in ".eE") else int(text))

    def true(self) -> Literal:
        return Literal(True)

    def false(self) -> Literal:
        return Literal(False)


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)


def parse(text: str) -> Query:
    """The query's syntax tree; :class:`KqlError` for anything outside the subset."""
    try:
        tree = _parser().parse(text)
        result = _ToTree().transform(tree)
    except UnexpectedInput as exc:
        context = exc.get_context(text, span=30).strip()
        where = f"line {exc.line}, column {exc.column}"
        raise KqlError(f"not in the KQL subset ({where}): {context}") from exc
    except VisitError as exc:
        raise KqlError(str(exc.orig_exc)) from exc.orig_exc
    if not isinstance(result, Query):
        raise KqlError(f"not a query: {text!r}")
    return result


def output_columns(query: Query, schemas: Mapping[str, Sequence[str]]) -> list[str]:
    """The columns ``query`` returns over tables with these columns, checked as Kusto checks a
    query before running it: every column it names exists where it is named, every function is
    known, every ``has`` looks for one term. Raises :class:`KqlError` (with no rows needed)."""
    columns = _source_columns(query.source, schemas)
    for operator in query.operators:
        if isinstance(operator, Where):
            _check(operator.predicate, columns)
        elif isinstance(operator, Extend):
            columns = list(columns)
            for name, expression in operator.assignments:
                _check(expression, columns)
                if name not in columns:
                    columns.append(name)
        else:
            for _, expression in operator.columns:
                _check(expression, columns)
            columns = [name for name, _ in operator.columns]
            if len(set(columns)) != len(columns):
                raise KqlError(f"project names a column twice: {columns}")
    return columns


def _source_columns(source: Table | Union, schemas: Mapping[str, Sequence[str]]) -> list[str]:
    if isinstance(source, Table):
        if source.name not in schemas:
            raise KqlError(f"no table named {source.name!r}")
        return list(schemas[source.name])
    columns: list[str] = []
    for leg in source.legs:
        found = (
            output_columns(leg, schemas)
            if isinstance(leg, Query)
            else _source_columns(leg, schemas)
        )
        columns += [c for c in found if c not in columns]
    return columns


def _check(expression: Any, columns: Sequence[str]) -> None:
    if isinstance(expression, ColumnRef) and expression.name not in columns:
        raise KqlError(f"failed to resolve column {expression.name!r} among {list(columns)}")
    if isinstance(expression, Call):
        if expression.function not in _FUNCTIONS:
            raise KqlError(f"function {expression.function}() is not in the KQL subset")
        if len(expression.arguments) != 1:
            raise KqlError(f"{expression.function}() takes one argument")
    has_literal = isinstance(expression, Compare) and isinstance(expression.right, Literal)
    if has_literal and expression.operator.lstrip("!") == "has":
        _has_term(expression.right.value)
    children: tuple[Any, ...] = ()
    if isinstance(expression, Call | Logical):
        children = expression.arguments if isinstance(expression, Call) else expression.operands
    elif isinstance(expression, Index):
        children = (expression.target, expression.key)
    elif isinstance(expression, Compare):
        children = (expression.left, expression.right)
    elif isinstance(expression, Membership):
        children = (expression.value, *expression.candidates)
    for child in children:
        _check(child, columns)


# ---- evaluation ------------------------------------------------------------------------------


@dataclass
class Result:
    """A tabular result: its columns (in order) and its rows."""

    columns: list[str]
    rows: list[Row]


#: Terms for ``has``: maximal runs of alphanumeric characters.
_TERM = re.compile(r"[A-Za-z0-9]+")


def terms(text: str) -> list[str]:
    """The terms of ``text`` as Kusto's ``has`` sees them (lower-cased)."""
    return [t.lower() for t in _TERM.findall(text)]


def _has_term(needle: Any) -> str:
    text = _text(needle)
    if _TERM.fullmatch(text) is None:
        raise KqlError(
            f'has "{text}": the right-hand side is not one term (a run of letters and digits);'
            " what Kusto does with it is not documented"
        )
    return text.lower()


def _has(left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    return _has_term(right) in terms(_text(left))


def _string_test(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool | None]:
    def apply(left: Any, right: Any) -> bool | None:
        if left is None or right is None:
            return None
        return test(_text(left).lower(), _text(right).lower())

    return apply


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _order(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def apply(left: Any, right: Any) -> bool | None:
        if left is None or right is None:
            return None
        if isinstance(left, int | float) != isinstance(right, int | float):
            raise KqlError(f"cannot compare {left!r} with {right!r}")
        return test(left, right)

    return apply


def _equals(left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    return bool(left == right)


def _equals_ignoring_case(left: Any, right: Any) -> bool | None:
    if left is None or right is None:
        return None
    return _text(left).lower() == _text(right).lower()


def _negated(test: Callable[[Any, Any], bool | None]) -> Callable[[Any, Any], bool | None]:
    def apply(left: Any, right: Any) -> bool | None:
        result = test(left, right)
        return None if result is None else not result

    return apply


_COMPARISONS: dict[str, Callable[[Any, Any], bool | None]] = {
    "==": _equals,
    "!=": _negated(_equals),
    "=~": _equals_ignoring_case,
    "!~": _negated(_equals_ignoring_case),
    "<": _order(lambda a, b: a < b),
    "<=": _order(lambda a, b: a <= b),
    ">": _order(lambda a, b: a > b),
    ">=": _order(lambda a, b: a >= b),
    "has": _has,
    "contains": _string_test(lambda a, b: b in a),
    "startswith": _string_test(lambda a, b: a.startswith(b)),
    "endswith": _string_test(lambda a, b: a.endswith(b)),
}
for _name in ("has", "contains", "startswith", "endswith"):
    _COMPARISONS["!" + _name] = _negated(_COMPARISONS[_name])


def _to_number(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number):
        return None
    return number if kind is float else int(number)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": lambda v: _text(v),
    "todouble": lambda v: _to_number(v, float),
    "toreal": lambda v: _to_number(v, float),
    "toint": lambda v: _to_number(v, int),
    "tolong": lambda v: _to_number(v, int),
    "isempty": lambda v: v is None or v == "",
    "isnotempty": lambda v: not (v is None or v == ""),
    "tolower": lambda v: _text(v).lower(),
    "toupper": lambda v: _text(v).upper(),
}


class Evaluator:
    """Runs a parsed :class:`Query` over ``tables``: name -> (columns, rows)."""

    def __init__(self, tables: Mapping[str, Result]) -> None:
        self._tables = tables

    def run(self, query: Query) -> Result:
        output_columns(query, {name: t.columns for name, t in self._tables.items()})
        return self._run(query)

    def _run(self, query: Query) -> Result:
        result = self._source(query.source)
        for operator in query.operators:
            if isinstance(operator, Where):
                rows = []
                for row in result.rows:
                    keep = self._value(operator.predicate, row, result)
                    if keep is not None and not isinstance(keep, bool):
                        raise KqlError(f"where needs a bool, not {keep!r}")
                    if keep is True:
                        rows.append(row)
                result = Result(result.columns, rows)
            elif isinstance(operator, Extend):
                result = self._extend(result, operator.assignments)
            else:
                result = self._project(result, operator.columns)
        return result

    def _source(self, source: Table | Union) -> Result:
        if isinstance(source, Table):
            if source.name not in self._tables:
                raise KqlError(f"no table named {source.name!r}")
            table = self._tables[source.name]
            return Result(list(table.columns), [dict(r) for r in table.rows])
        legs = [
            self._run(leg) if isinstance(leg, Query) else self._source(leg) for leg in source.legs
        ]
        columns: list[str] = []
        for leg in legs:
            columns += [c for c in leg.columns if c not in columns]
        rows = [{c: row.get(c) for c in columns} for leg in legs for row in leg.rows]
        return Result(columns, rows)

    def _extend(self, result: Result, assignments: Iterable[tuple[str, Any]]) -> Result:
        columns = list(result.columns)
        rows = [dict(r) for r in result.rows]
        for name, expression in assignments:
            # Each assignment sees the columns of the ones before it (extend-operator.md).
            scope = Result(columns, rows)
            values = [self._value(expression, row, scope) for row in rows]
            for row, value in zip(rows, values, strict=True):
                row[name] = value
            if name not in columns:
                columns.append(name)
        return Result(columns, rows)

    def _project(self, result: Result, projections: Sequence[tuple[str, Any]]) -> Result:
        names = [name for name, _ in projections]
        if len(set(names)) != len(names):
            raise KqlError(f"project names a column twice: {names}")
        rows = [
            {name: self._value(expression, row, result) for name, expression in projections}
            for row in result.rows
        ]
        return Result(names, rows)

    def _value(self, expression: Any, row: Row, scope: Result) -> Any:
        if isinstance(expression, Literal):
            return expression.value
        if isinstance(expression, ColumnRef):
            if expression.name not in scope.columns:
                raise KqlError(f"failed to resolve column {expression.name!r} in {scope.columns}")
            return row.get(expression.name)
        if isinstance(expression, Index):
            target = self._value(expression.target, row, scope)
            key = self._value(expression.key, row, scope)
            if isinstance(target, Mapping):
                return target.get(key)
            if (
                isinstance(target, list)
                and isinstance(key, int)
                and -len(target) <= key < len(target)
            ):
                return target[key]
            return None
        if isinstance(expression, Call):
            if expression.function not in _FUNCTIONS:
                raise KqlError(f"function {expression.function}() is not in the KQL subset")
            arguments = [self._value(a, row, scope) for a in expression.arguments]
            if len(arguments) != 1:
                raise KqlError(f"{expression.function}() takes one argument")
            return _FUNCTIONS[expression.function](*arguments)
        if isinstance(expression, Compare):
            left = self._value(expression.left, row, scope)
            right = self._value(expression.right, row, scope)
            return _COMPARISONS[expression.operator](left, right)
        if isinstance(expression, Membership):
            value = self._value(expression.value, row, scope)
            if value is None:
                return None
            found = value in [self._value(c, row, scope) for c in expression.candidates]
            return found != expression.negated
        if isinstance(expression, Logical):
            values = [self._value(o, row, scope) for o in expression.operands]
            if expression.operator == "not":
                return None if values[0] is None else not values[0]
            if expression.operator == "and":
                if any(v is False for v in values):
                    return False
                return None if any(v is None for v in values) else True
            if any(v is True for v in values):
                return True
            return None if any(v is None for v in values) else False
        raise KqlError(f"cannot evaluate {expression!r}")


def run_function(name: str, *arguments: Any) -> Any:
    """A scalar function of the subset (``tostring``, ...) applied to values."""
    if name not in _FUNCTIONS:
        raise KqlError(f"function {name}() is not in the KQL subset")
    return _FUNCTIONS[name](*arguments)


def run(query: str | Query, tables: Mapping[str, Result]) -> Result:
    """Parse (if needed) and run ``query`` over ``tables``."""
    parsed = parse(query) if isinstance(query, str) else query
    return Evaluator(tables).run(parsed)
