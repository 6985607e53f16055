"""A small parser for the OData `$filter` subset this project sends to Graph.

Grammar (keywords are case-insensitive, as Graph treats them)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | primary
    primary    := "(" expr ")" | comparison | any_clause
    comparison := property ("eq" | "ne") literal
    any_clause := property "/any(" var ":" var ("eq" | "ne") literal ")"
    literal    := 'string with '' escapes' | guid | true | false | null | integer

A parsed filter compiles to a predicate over any entity through a property resolver, and can
name the candidate rows an index may supply (so an address lookup over 50,000 users does not scan).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Literal = str | bool | int | None
Resolver = Callable[[str], Callable[[object], object]]
Predicate = Callable[[object], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
      | (?P<number>-?\d+(?![\w-]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<punct>[()/:,])
    )""",
    re.VERBOSE,
)


class FilterSyntaxError(ValueError):
    """The filter text does not follow the grammar; `position` is the offending offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class UnsupportedFilterError(ValueError):
    """The filter is well formed but names a property or operator the entity cannot filter on."""

    def __init__(self, message: str, property_name: str) -> None:
        super().__init__(message)
        self.property_name = property_name


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Comparison:
    property_name: str
    operator: str
    value: Literal
    #: The literal's Edm type as written: ``Edm.String`` ('...'), ``Edm.Guid``, ``Edm.Int32``,
    #: ``Edm.Boolean``, or ``null`` (empty when built by hand).
    literal_type: str = ""


@dataclass(frozen=True)
class AnyClause:
    property_name: str
    operator: str
    value: Literal
    literal_type: str = ""


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    operator: str
    operands: tuple[Node, ...]


Node = Comparison | AnyClause | Not | BoolOp


def tokenize(text: str) -> list[Token]:
    """Split filter text into tokens; raise FilterSyntaxError on anything unrecognised."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterSyntaxError(f"Syntax error at position {position}", position)
        kind = match.lastgroup or ""
        start = match.start(kind)
        tokens.append(Token(kind, match.group(kind), start))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def _peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _error(self, what: str) -> FilterSyntaxError:
        token = self._peek()
        position = token.position if token else len(self.text)
        return FilterSyntaxError(f"Syntax error: {what} at position {position}", position)

    def _take(self) -> Token:
        token = self._peek()
        if token is None:
            raise self._error("unexpected end of expression")
        self.index += 1
        return token

    def _expect_punct(self, char: str) -> None:
        token = self._take()
        if token.kind != "punct" or token.text != char:
            self.index -= 1
            raise self._error(f"'{char}' expected")

    def _is_keyword(self, word: str) -> bool:
        token = self._peek()
        return token is not None and token.kind == "name" and token.text.lower() == word

    def parse(self) -> Node:
        node = self._or()
        if self._peek() is not None:
            raise self._error("unexpected token")
        return node

    def _or(self) -> Node:
        operands = [self._and()]
        while self._is_keyword("or"):
            self.index += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def _and(self) -> Node:
        operands = [self._unary()]
        while self._is_keyword("and"):
            self.index += 1
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def _unary(self) -> Node:
        if self._is_keyword("not"):
            self.index += 1
            return Not(self._unary())
        return self._primary()

    def _primary(self) -> Node:
        token = self._peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.index += 1
            node = self._or()
            self._expect_punct(")")
            return node
        name = self._take()
        if name.kind != "name":
            self.index -= 1
            raise self._error("property name expected")
        nxt = self._peek()
        if nxt is not None and nxt.kind == "punct" and nxt.text == "/":
            return self._any(name.text)
        operator = self._operator()
        value, literal_type = self._literal()
        return Comparison(name.text, operator, value, literal_type)

    def _any(self, property_name: str) -> Node:
        self._expect_punct("/")
        if not self._is_keyword("any"):
            raise self._error("only the 'any' lambda is supported")
        self.index += 1
        self._expect_punct("(")
        variable = self._take()
        if variable.kind != "name":
            self.index -= 1
            raise self._error("lambda variable expected")
        self._expect_punct(":")
        used = self._take()
        if used.kind != "name" or used.text != variable.text:
            self.index -= 1
            raise self._error(f"'{variable.text}' expected")
        operator = self._operator()
        value, literal_type = self._literal()
        self._expect_punct(")")
        return AnyClause(property_name, operator, value, literal_type)

    def _operator(self) -> str:
        token = self._take()
        if token.kind == "name" and token.text.lower() in ("eq", "ne"):
            return token.text.lower()
        self.index -= 1
        raise self._error("'eq' or 'ne' expected")

    def _literal(self) -> tuple[Literal, str]:
        token = self._take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'"), "Edm.String"
        if token.kind == "guid":
            return token.text, "Edm.Guid"
        if token.kind == "number":
            return int(token.text), "Edm.Int32"
        if token.kind == "name" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true", "Edm.Boolean"
        if token.kind == "name" and token.text.lower() == "null":
            return None, "null"
        self.index -= 1
        raise self._error("literal value expected")


def parse_filter(text: str) -> Node:
    """Parse `$filter` text into a syntax tree, or raise FilterSyntaxError."""
    return _Parser(text).parse()


def needs_advanced_query(node: Node) -> bool:
    """True when the filter uses `ne` or `not`, which Graph only serves as an advanced query."""
    if isinstance(node, Not):
        return True
    if isinstance(node, Comparison | AnyClause):
        return node.operator == "ne"
    return any(needs_advanced_query(operand) for operand in node.operands)


def _fold(value: object) -> object:
    # Directory string comparisons are case-insensitive in Graph.
    return value.casefold() if isinstance(value, str) else value


def _compare(operator: str, left: object, right: Literal) -> bool:
    equal = _fold(left) == _fold(right)
    return equal if operator == "eq" else not equal


def compile_filter(node: Node, resolve: Resolver, collections: frozenset[str]) -> Predicate:
    """Turn a tree into a predicate; `resolve` maps a property name to a getter.

    `collections` names the multi-valued properties that only `any()` may address. Raises
    UnsupportedFilterError for a property `resolve` does not know (it raises KeyError).
    """

    def getter(name: str) -> Callable[[object], object]:
        try:
            return resolve(name)
        except KeyError:
            raise UnsupportedFilterError(
                f"Unsupported or invalid query filter clause specified for property '{name}'.",
                name,
            ) from None

    if isinstance(node, Comparison):
        if node.property_name in collections:
            raise UnsupportedFilterError(
                f"Unsupported or invalid query filter clause specified for property "
                f"'{node.property_name}'.",
                node.property_name,
            )
        get = getter(node.property_name)
        operator, value = node.operator, node.value
        return lambda entity: _compare(operator, get(entity), value)
    if isinstance(node, AnyClause):
        if node.property_name not in collections:
            raise UnsupportedFilterError(
                f"'any' is not supported on property '{node.property_name}'.", node.property_name
            )
        get_many = getter(node.property_name)
        operator, value = node.operator, node.value

        def any_matches(entity: object) -> bool:
            items = get_many(entity)
            assert isinstance(items, Iterable)
            return any(_compare(operator, item, value) for item in items)

        return any_matches
    if isinstance(node, Not):
        inner = compile_filter(node.operand, resolve, collections)
        return lambda entity: not inner(entity)
    parts = [compile_filter(operand, resolve, collections) for operand in node.operands]
    if node.operator == "and":
        return lambda entity: all(part(entity) for part in parts)
    return lambda entity: any(part(entity) for part in parts)


def index_keys(node: Node, indexed: Callable[[str, str], str | None]) -> set[str] | None:
    """Index keys that together cover every row the filter can match, or None (full scan).

    `indexed(property, value)` gives the index key for an `eq` on an indexed property, else None.
    The rows found through the keys are a superset; the compiled predicate still decides.
    """
    if isinstance(node, Comparison | AnyClause):
        if node.operator != "eq" or not isinstance(node.value, str):
            return None
        key = indexed(node.property_name, node.value)
        return None if key is None else {key}
    if isinstance(node, Not):
        return None
    found = [index_keys(operand, indexed) for operand in node.operands]
    if node.operator == "or":
        if any(keys is None for keys in found):
            return None
        union: set[str] = set()
        for keys in found:
            assert keys is not None
            union |= keys
        return union
    narrowest = [keys for keys in found if keys is not None]
    return min(narrowest, key=len) if narrowest else None
