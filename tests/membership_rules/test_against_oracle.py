"""Property-based: generated rules, rendered as text in the many ways the language allows, parse
and evaluate as a separate, simple oracle says they should.

The oracle below reads the rule's meaning from the generated tree, not from text, and shares
no code with membership_rules: it is the documented semantics written out plainly (case
ignored, null only equal to null, `-not...` the negation of the positive test, a collection
compared directly passing when any item does, `-any` / `-all` over the items). Strings are
drawn from an alphabet on which every case-insensitive comparison agrees (ASCII letters, `Ä`,
quotation marks, backtick, hyphen, `@`, space), so the oracle may compare with `str.lower`;
the .NET-style folding of other letters has its own tests in test_semantics.py. Deterministic
(derandomized), no deadline.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from membership_rules import parse

CHECK = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Rule name -> Graph name, for the properties generated here (from Microsoft's reference).
STRINGS = {
    "companyName": "companyName",
    "department": "department",
    "city": "city",
    "employeeType": "employeeType",
    "userType": "userType",
    "physicalDeliveryOfficeName": "officeLocation",
    "objectId": "id",
}
BOOLEANS = {"accountEnabled": "accountEnabled"}
COLLECTIONS = {"otherMails": "otherMails", "proxyAddresses": "proxyAddresses"}
GRAPH_NAMES = {**STRINGS, **BOOLEANS, **COLLECTIONS}

STRING_OPERATORS = (
    "eq",
    "ne",
    "startsWith",
    "notStartsWith",
    "endsWith",
    "notEndsWith",
    "contains",
    "notContains",
    "match",
    "notMatch",
    "in",
    "notIn",
)


# -- the generated rule (the oracle's own tree) -------------------------------------------------


@dataclass(frozen=True)
class Compare:
    prop: str | None  # a rule property name, or None for the item `_`
    operator: str
    value: bool | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Negate:
    inner: Node


@dataclass(frozen=True)
class Both:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Either:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Over:
    prop: str
    quantifier: str  # "any" or "all"
    condition: Node
    bare: bool  # written without parentheses around the condition (then the whole is wrapped)


Node = Compare | Negate | Both | Either | Over


# -- strategies ---------------------------------------------------------------------------------

# Letters more often than the rest, so that strings overlap often; quotation marks and the
# backtick often enough that escaping is exercised.
ALPHABET = "aAbBÄä" * 2 + "\"'`" * 2 + "- @"
texts = st.text(alphabet=st.sampled_from(ALPHABET), max_size=3)
#: Strings whose quoting is easy to get wrong.
TRICKY = ("O'Brien", "''", 'say "hi"', '"', "a`b", "``", '`"', "'\"`")
# What rules compare with: an empty string now and then, mostly one to three characters.
rule_texts = st.one_of(
    st.just(""),
    st.sampled_from(TRICKY),
    *[st.text(alphabet=st.sampled_from(ALPHABET), min_size=1, max_size=3)] * 3,
)
pattern_pieces = st.sampled_from(["a", "b", "B", "Ä", ".", ".*", "[ab]", "a?", "(a|b)", "-", " "])
patterns = st.builds(
    lambda start, pieces, end: ("^" if start else "") + "".join(pieces) + ("$" if end else ""),
    st.booleans(),
    st.lists(pattern_pieces, max_size=4),
    st.booleans(),
)


def string_comparison(prop: str | None) -> st.SearchStrategy[Compare]:
    """A comparison of a string, a collection (directly) or the item `_`."""

    def build(operator: str, data: st.DataObject) -> Compare:
        if operator in ("in", "notIn"):
            value: Any = tuple(data.draw(st.lists(rule_texts, max_size=3)))
        elif operator in ("match", "notMatch"):
            value = data.draw(patterns)
        elif operator in ("eq", "ne") and data.draw(st.booleans()) and data.draw(st.booleans()):
            value = None
        else:
            value = data.draw(rule_texts)
        return Compare(prop, operator, value)

    return st.builds(build, st.sampled_from(STRING_OPERATORS), st.data())


boolean_comparisons = st.builds(
    Compare,
    st.sampled_from(sorted(BOOLEANS)),
    st.sampled_from(["eq", "ne"]),
    st.sampled_from([True, False, None]),
)
property_comparisons = st.one_of(
    st.sampled_from(sorted(STRINGS)).flatmap(string_comparison),
    st.sampled_from(sorted(COLLECTIONS)).flatmap(string_comparison),
    boolean_comparisons,
)


def combined(leaves: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    """``leaves`` joined by -and, -or and -not, a few levels deep."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Negate, inner),
            st.builds(Both, st.lists(inner, min_size=2, max_size=3).map(tuple)),
            st.builds(Either, st.lists(inner, min_size=2, max_size=3).map(tuple)),
        ),
        max_leaves=6,
    )


def quantified(condition: Node, prop: str, quantifier: str, bare: bool) -> Over:
    return Over(prop, quantifier, condition, bare and isinstance(condition, Compare))


quantifications = st.builds(
    quantified,
    combined(string_comparison(None)),
    st.sampled_from(sorted(COLLECTIONS)),
    st.sampled_from(["any", "all"]),
    st.booleans(),
)
comparisons = st.one_of(property_comparisons, quantifications)
rules = combined(comparisons)


def literals(node: Node) -> set[str]:
    """The strings a rule compares with (patterns too, which often are literal text)."""
    if isinstance(node, Compare):
        if isinstance(node.value, str):
            return {node.value}
        return set(node.value) if isinstance(node.value, tuple) else set()
    if isinstance(node, Negate):
        return literals(node.inner)
    if isinstance(node, Both | Either):
        return set().union(*(literals(part) for part in node.parts))
    return literals(node.condition)


def users_for(tree: Node) -> st.SearchStrategy[dict[str, Any]]:
    """Users holding the properties the rule reads (or null, or not at all), whose strings
    are often the rule's own in another case or with more around them, so that equal,
    prefix, suffix and substring cases come up as often as unrelated ones."""
    related = sorted(
        variant
        for text in literals(tree)
        for variant in (text, text.swapcase(), "a" + text.upper(), text + "B", "-" + text + "'")
    )
    strings = st.one_of(texts, *[st.sampled_from(related)] * 2) if related else texts
    absent = object()

    def value(graph: str) -> st.SearchStrategy[Any]:
        if graph in BOOLEANS.values():
            present: st.SearchStrategy[Any] = st.booleans()
        elif graph in COLLECTIONS.values():
            present = st.lists(strings, max_size=3)
        else:
            present = strings
        return st.one_of(present, present, st.none(), st.just(absent))

    read = sorted(graph_names_read(tree))
    return st.fixed_dictionaries({graph: value(graph) for graph in read}).map(
        lambda user: {key: item for key, item in user.items() if item is not absent}
    )


# -- the oracle ---------------------------------------------------------------------------------


def passes(operator: str, actual: str, value: Any) -> bool:
    """The positive form of ``operator`` on a non-null string."""
    base = {"ne": "eq"}.get(operator, operator)
    if base.startswith("not"):
        base = base[3].lower() + base[4:]
    if base == "eq":
        return bool(actual.lower() == value.lower())
    if base == "startsWith":
        return bool(actual.lower().startswith(value.lower()))
    if base == "endsWith":
        return bool(actual.lower().endswith(value.lower()))
    if base == "contains":
        return bool(value.lower() in actual.lower())
    if base == "match":
        return re.search(value, actual, re.IGNORECASE) is not None
    return actual.lower() in [item.lower() for item in value]


def oracle(node: Node, user: dict[str, Any], item: str | None = None) -> bool:
    """What the rule means for this user, read from the generated tree."""
    if isinstance(node, Negate):
        return not oracle(node.inner, user, item)
    if isinstance(node, Both):
        return all(oracle(part, user, item) for part in node.parts)
    if isinstance(node, Either):
        return any(oracle(part, user, item) for part in node.parts)
    if isinstance(node, Over):
        items = user.get(GRAPH_NAMES[node.prop]) or []
        results = [oracle(node.condition, user, each) for each in items]
        return any(results) if node.quantifier == "any" else all(results)
    negated = node.operator == "ne" or node.operator.startswith("not")
    if node.prop is None:
        assert item is not None
        positive = node.value is not None and passes(node.operator, item, node.value)
    else:
        actual = user.get(GRAPH_NAMES[node.prop])
        if node.value is None:
            positive = not actual if node.prop in COLLECTIONS else actual is None
        elif node.prop in BOOLEANS:
            positive = actual is not None and actual == node.value
        elif node.prop in COLLECTIONS:
            positive = any(passes(node.operator, each, node.value) for each in actual or [])
        else:
            positive = actual is not None and passes(node.operator, actual, node.value)
    return positive != negated


def graph_names_read(node: Node) -> set[str]:
    if isinstance(node, Compare):
        return {GRAPH_NAMES[node.prop]} if node.prop is not None else set()
    if isinstance(node, Negate):
        return graph_names_read(node.inner)
    if isinstance(node, Both | Either):
        return set().union(*(graph_names_read(part) for part in node.parts))
    return {GRAPH_NAMES[node.prop]} | graph_names_read(node.condition)


# -- rendering: one of the many texts the language allows for the tree --------------------------

OR, AND, NOT, ATOM = 1, 2, 3, 4


def spelled(word: str, rng: random.Random) -> str:
    """An operator as a person may type it: any case, with or without its hyphen."""
    cased = rng.choice([word, word.lower(), word.upper()])
    return cased if rng.random() < 0.3 else "-" + cased


def space(rng: random.Random) -> str:
    return rng.choice([" ", " ", "  ", "\n", "\t", " \n  "])


def literal(value: Any, rng: random.Random) -> str:
    if value is None:
        return rng.choice(["null", "NULL", "$null"])
    if isinstance(value, bool):
        return rng.choice([str(value).lower(), str(value), str(value).upper()])
    if isinstance(value, tuple):
        items = ("," + rng.choice(["", " "])).join(literal(item, rng) for item in value)
        return f"[{items}]"
    if rng.random() < 0.5:
        return "'" + value.replace("'", "''") + "'"
    return '"' + value.replace("`", "``").replace('"', '`"') + '"'


def render(node: Node, rng: random.Random, context: int = OR) -> str:
    """Rule text for ``node``, parenthesised where precedence needs it (and at random)."""
    if isinstance(node, Compare):
        text, precedence = render_comparison(node, rng), ATOM
    elif isinstance(node, Negate):
        text, precedence = spelled("not", rng) + space(rng) + render(node.inner, rng, NOT), NOT
    elif isinstance(node, Both | Either):
        precedence = AND if isinstance(node, Both) else OR
        word = "and" if isinstance(node, Both) else "or"
        joined = [render(part, rng, precedence + 1) for part in node.parts]
        text = "".join(
            (space(rng) + spelled(word, rng) + space(rng) if index else "") + part
            for index, part in enumerate(joined)
        )
    else:
        collection = f"user.{node.prop}{space(rng)}{spelled(node.quantifier, rng)}{space(rng)}"
        if node.bare:
            assert isinstance(node.condition, Compare)
            text, precedence = "(" + collection + render_comparison(node.condition, rng) + ")", ATOM
        else:
            text = collection + "(" + render(node.condition, rng) + ")"
            precedence = ATOM
    if precedence < context or rng.random() < 0.15:
        return "(" + space(rng) + text + space(rng) + ")"
    return text


def render_comparison(node: Compare, rng: random.Random) -> str:
    subject = "_" if node.prop is None else f"user.{rng.choice([node.prop, node.prop.lower()])}"
    value = literal(node.value, rng)
    gap = "" if value[0] in "\"'" and rng.random() < 0.2 else space(rng)
    return f"{subject}{space(rng)}{spelled(node.operator, rng)}{gap}{value}"


# -- the properties -----------------------------------------------------------------------------


def swapped(value: Any) -> Any:
    """Every string in ``value`` with its letters' case swapped."""
    if isinstance(value, str):
        return value.swapcase()
    if isinstance(value, list):
        return [swapped(item) for item in value]
    if isinstance(value, dict):
        return {key: swapped(item) for key, item in value.items()}
    return value


def check_against_oracle(tree: Node, data: st.DataObject, rng: random.Random) -> None:
    """The rule rendered once; each generated user, and the same user in swapped case."""
    text = render(tree, rng)
    rule = parse(text)
    people = data.draw(st.lists(users_for(tree), min_size=2, max_size=6))
    for user in people + [swapped(user) for user in people]:
        assert rule.matches(user) == oracle(tree, user), (text, user)


@settings(CHECK, max_examples=800)
@given(comparisons, st.data(), st.randoms(use_true_random=False))
def test_one_comparison_evaluates_as_the_oracle_says(
    tree: Node, data: st.DataObject, rng: random.Random
) -> None:
    """Each operator on each kind of property, null, lists, patterns and -any / -all."""
    check_against_oracle(tree, data, rng)


@CHECK
@given(rules, st.data(), st.randoms(use_true_random=False))
def test_a_rendered_rule_evaluates_as_the_oracle_says(
    tree: Node, data: st.DataObject, rng: random.Random
) -> None:
    """Comparisons joined by -and, -or, -not and parentheses: precedence and rendering."""
    check_against_oracle(tree, data, rng)


@CHECK
@given(rules, st.randoms(use_true_random=False))
def test_a_rule_names_the_graph_properties_it_reads(tree: Node, rng: random.Random) -> None:
    assert parse(render(tree, rng)).graph_properties == graph_names_read(tree)
