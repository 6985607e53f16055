"""The `$filter` parser on its own: grammar, errors, evaluation and index narrowing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graph_emulator.odata_filter import (
    AnyClause,
    BoolOp,
    Comparison,
    FilterSyntaxError,
    Not,
    UnsupportedFilterError,
    compile_filter,
    index_keys,
    needs_advanced_query,
    parse_filter,
)

ROW = {"mail": "Ada@Fabrikam.example", "userType": "Guest", "otherMails": ["a@b.example"]}


def resolve(name: str) -> Callable[[object], object]:
    if name not in ("mail", "userType", "otherMails"):
        raise KeyError(name)
    return lambda row: row[name]  # type: ignore[index]


#: The Edm type of a quoted literal.
S = "Edm.String"


def matches(text: str) -> bool:
    return compile_filter(parse_filter(text), resolve, frozenset({"otherMails"}))(ROW)


def test_precedence_and_binds_tighter_than_or() -> None:
    tree = parse_filter("mail eq 'a' or mail eq 'b' and userType eq 'Guest'")
    assert tree == BoolOp(
        "or",
        (
            Comparison("mail", "eq", "a", S),
            BoolOp(
                "and",
                (Comparison("mail", "eq", "b", S), Comparison("userType", "eq", "Guest", S)),
            ),
        ),
    )


def test_lambda_guid_and_escaped_quote_literals() -> None:
    assert parse_filter("otherMails/any(x:x eq 'o''brien@x.example')") == AnyClause(
        "otherMails", "eq", "o'brien@x.example", S
    )
    guid = "33333333-3333-3333-3333-333333333333"
    assert parse_filter(f"resourceId eq {guid}") == Comparison("resourceId", "eq", guid, "Edm.Guid")
    assert parse_filter(f"resourceId eq '{guid}'") == Comparison("resourceId", "eq", guid, S)
    assert parse_filter("NOT (userType EQ 'Guest')") == Not(
        Comparison("userType", "eq", "Guest", S)
    )


@pytest.mark.parametrize(
    ("text", "value", "literal_type"),
    [
        ("accountEnabled eq false", False, "Edm.Boolean"),
        ("accountEnabled eq TRUE", True, "Edm.Boolean"),
        ("mail eq null", None, "null"),
        ("deviceEnrollmentLimit eq 5", 5, "Edm.Int32"),
    ],
)
def test_literals_carry_their_edm_type(text: str, value: object, literal_type: str) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert (node.value, node.literal_type) == (value, literal_type)


@pytest.mark.parametrize(
    "text",
    ["mail eq", "mail 'a'", "(mail eq 'a'", "otherMails/any(x:y eq 'a')", "mail eq 'a' extra", "%"],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_filter(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail eq 'ada@fabrikam.EXAMPLE'", True),
        ("mail ne 'ada@fabrikam.example'", False),
        ("otherMails/any(x:x eq 'A@B.example')", True),
        ("userType eq 'Member' or otherMails/any(x:x eq 'a@b.example')", True),
        ("userType eq 'Guest' and not (mail eq 'x@y.example')", True),
    ],
)
def test_evaluation_is_case_insensitive(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_unknown_property_and_misused_collection() -> None:
    with pytest.raises(UnsupportedFilterError):
        matches("shoeSize eq 'x'")
    with pytest.raises(UnsupportedFilterError):
        matches("otherMails eq 'x'")


def test_advanced_query_detection() -> None:
    assert needs_advanced_query(parse_filter("userType ne 'Member'"))
    assert needs_advanced_query(parse_filter("not (userType eq 'Member')"))
    assert not needs_advanced_query(parse_filter("userType eq 'Member' or mail eq 'a'"))


def test_index_keys_narrow_or_of_addresses_only() -> None:
    def key(name: str, value: str) -> str | None:
        return value.lower() if name == "mail" else None

    assert index_keys(parse_filter("mail eq 'A' or mail eq 'b'"), key) == {"a", "b"}
    assert index_keys(parse_filter("mail eq 'A' and userType eq 'Guest'"), key) == {"a"}
    assert index_keys(parse_filter("mail eq 'A' or userType eq 'Guest'"), key) is None
    assert index_keys(parse_filter("not (mail eq 'A')"), key) is None
