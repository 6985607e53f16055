"""The evaluator's reading of each point Microsoft's reference states (or leaves open), one
behaviour per test, with expectations worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from membership_rules import RuleErrorKind, RuleSyntaxError, parse


def refusal(rule: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as refused:
        parse(rule)
    return refused.value


def matching(rule: str, *users: dict[str, Any]) -> list[bool]:
    parsed = parse(rule)
    return [parsed.matches(user) for user in users]


# ----- strings: case, null ------------------------------------------------------------------


def test_strings_compare_ignoring_case_as_dotnet_ordinal_ignore_case_does() -> None:
    assert matching('user.city -eq "ÄRHUS"', {"city": "ärhus"}, {"city": "arhus"}) == [True, False]
    # Simple case mapping: ß has no one-character upper case, so it is not SS; nor is the
    # ligature ﬀ FF.
    assert matching('user.city -eq "STRASSE"', {"city": "Straße"}) == [False]
    assert matching('user.city -eq "FF"', {"city": "\ufb00"}) == [False]
    # The dotted capital İ upper-cases to itself; i upper-cases to I.
    assert matching('user.city -eq "i"', {"city": "İ"}, {"city": "I"}) == [False, True]


@pytest.mark.parametrize(
    ("operator", "value", "positive"),
    [
        ("startsWith", '"Fab"', True),
        ("endsWith", '"KAM"', True),
        ("contains", '"bri"', True),
        ("match", '"^f.b"', True),
        ("in", '["x", "FABRIKAM"]', True),
        ("eq", '"fabrikam"', True),
        ("startsWith", '"kam"', False),
        ("endsWith", '"Fab"', False),
        ("contains", '"xyz"', False),
        ("match", '"^kam"', False),
        ("in", '["x"]', False),
    ],
)
def test_each_operator_and_its_negation(operator: str, value: str, positive: bool) -> None:
    user = {"companyName": "Fabrikam"}
    assert parse(f"user.companyName -{operator} {value}").matches(user) is positive
    negated = "ne" if operator == "eq" else "not" + operator[0].upper() + operator[1:]
    assert parse(f"user.companyName -{negated} {value}").matches(user) is not positive


@pytest.mark.parametrize("operator", ["eq", "startsWith", "endsWith", "contains", "match", "in"])
def test_a_null_value_fails_every_positive_test_and_passes_every_negated_one(
    operator: str,
) -> None:
    value = '[""]' if operator == "in" else '""'
    negated = "ne" if operator == "eq" else "not" + operator[0].upper() + operator[1:]
    for user in ({"department": None}, {}):
        assert not parse(f"user.department -{operator} {value}").matches(user)
        assert parse(f"user.department -{negated} {value}").matches(user)


def test_null_is_written_null_or_dollar_null_and_a_quoted_null_is_a_string() -> None:
    absent: dict[str, Any] = {}
    for spelling in ("null", "NULL", "$null", "$Null"):
        assert matching(f"user.jobTitle -eq {spelling}", absent, {"jobTitle": "x"}) == [True, False]
        assert matching(f"user.jobTitle -ne {spelling}", absent, {"jobTitle": "x"}) == [False, True]
    assert matching('user.jobTitle -eq "null"', absent, {"jobTitle": "NULL"}) == [False, True]


def test_null_is_compared_with_eq_or_ne_only() -> None:
    error = refusal("user.city -startsWith null")
    assert error.kind is RuleErrorKind.NOT_FOR_PROPERTY
    assert error.column == len("user.city -") and "-eq or -ne" in error.reason


def test_match_finds_the_pattern_anywhere_ignoring_case() -> None:
    rule = 'user.userPrincipalName -match "@CONTOSO\\.example$"'
    users = (
        {"userPrincipalName": "ada@contoso.example"},
        {"userPrincipalName": "a@contosoxexample"},
    )
    assert matching(rule, *users) == [True, False]


# ----- booleans ---------------------------------------------------------------------------------


def test_booleans_compare_with_unquoted_true_or_false() -> None:
    users = ({"accountEnabled": True}, {"accountEnabled": False}, {})
    assert matching("user.accountEnabled -eq TRUE", *users) == [True, False, False]
    assert matching("user.accountEnabled -ne false", *users) == [True, False, True]
    assert matching("user.accountEnabled -eq null", *users) == [False, False, True]


@pytest.mark.parametrize(
    "rule",
    [
        'user.accountEnabled -eq "true"',
        "user.accountEnabled -startsWith true",
        "user.accountEnabled -in [true]",
        "user.city -eq true",
        "user.city -eq 5",
        "user.city -eq 2020-06-10T18:13:20Z",
        "user.city -eq system.now",
        'user.city -in "Lagos"',
        'user.city -eq ["Lagos"]',
        'user.city -ge "a"',
        'user.city -any (_ -eq "a")',
    ],
)
def test_values_and_operators_must_fit_the_property(rule: str) -> None:
    assert refusal(rule).kind is RuleErrorKind.NOT_FOR_PROPERTY


# ----- collections ------------------------------------------------------------------------------

OTHER = {"otherMails": ["ada@fabrikam.example", "ada@outlook.example"]}
NONE: dict[str, Any] = {"otherMails": []}


def test_a_collection_compared_directly_passes_when_any_item_does() -> None:
    assert matching('user.otherMails -endsWith "@outlook.example"', OTHER, NONE) == [True, False]
    assert matching('user.otherMails -notEndsWith "@outlook.example"', OTHER, NONE) == [False, True]
    assert matching("user.otherMails -eq null", OTHER, NONE, {}) == [False, True, True]


def test_any_and_all_quantify_over_the_items() -> None:
    any_rule = 'user.otherMails -any (_ -startsWith "ada@" -and _ -notContains "outlook")'
    all_rule = 'user.otherMails -all (_ -startsWith "ada@")'
    assert matching(any_rule, OTHER, NONE, {}) == [True, False, False]
    assert matching(all_rule, OTHER, {"otherMails": ["ada@x", "bob@x"]}, NONE) == [
        True,
        False,
        True,
    ]


def test_the_item_and_the_properties_each_have_their_place() -> None:
    assert refusal('_ -eq "a"').kind is RuleErrorKind.SYNTAX
    assert refusal('user.otherMails -any (user.city -eq "a")').kind is RuleErrorKind.SYNTAX
    nested = refusal('user.otherMails -any (user.proxyAddresses -any (_ -eq "a"))')
    assert nested.kind is RuleErrorKind.SYNTAX


def test_an_unparenthesised_condition_must_end_its_group() -> None:
    assert matching('user.otherMails -any _ -contains "fabrikam"', OTHER) == [True]
    assert matching(
        'user.city -eq "x" -or (user.otherMails -any _ -contains "fab") -and user.city -eq "y"',
        {**OTHER, "city": "y"},
    ) == [True]
    error = refusal('user.otherMails -any _ -contains "fab" -or user.city -eq "y"')
    assert error.kind is RuleErrorKind.SYNTAX and error.column == 40


# ----- precedence and spelling ------------------------------------------------------------------


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    a_only = {"city": "a"}
    # a -or b -and c: true when a alone holds (it would be false as (a -or b) -and c).
    assert matching('user.city -eq "a" -or user.city -eq "b" -and user.state -eq "c"', a_only) == [
        True
    ]
    # -not a -and b: (-not a) -and b, false for a user with neither (-not (a -and b) is true).
    assert matching('-not user.city -eq "a" -and user.state -eq "b"', {}) == [False]


def test_operators_in_any_case_with_or_without_their_hyphen() -> None:
    user = {"city": "Lagos", "country": "NG"}
    for rule in (
        'user.city EQ "lagos" AND user.country -Eq "ng"',
        'user.city -eq "lagos" and user.country eq"NG"',
        'NOT user.city -NE "Lagos" -AND -not user.country notin ["NG"] -oR user.city in []',
    ):
        assert parse(rule).matches(user), rule


def test_property_names_ignore_case_and_read_graphs_names() -> None:
    rule = parse('user.PHYSICALDELIVERYOFFICENAME -eq "B1" -and user.mobile -eq "1"')
    assert rule.matches({"officeLocation": "b1", "mobilePhone": "1"})
    assert rule.graph_properties == {"officeLocation", "mobilePhone"}
    assert {p.rule_name for p in rule.properties} == {"physicalDeliveryOfficeName", "mobile"}
    extension = parse('user.extensionAttribute7 -eq "x" -or user.objectId -ne null')
    assert extension.graph_properties == {"onPremisesExtensionAttributes", "id"}


# ----- quoting ----------------------------------------------------------------------------------


def test_strings_in_single_or_double_quotes_with_their_escapes() -> None:
    assert matching("user.surname -eq 'O''Brien'", {"surname": "o'brien"}) == [True]
    assert matching('user.surname -eq "say `"hi`""', {"surname": 'say "hi"'}) == [True]
    assert matching('user.surname -eq "a``b"', {"surname": "a`b"}) == [True]
    assert matching('user.surname -eq "C:\\dir"', {"surname": "C:\\dir"}) == [True]
    assert matching('user.surname -eq "it\'s"', {"surname": "it's"}) == [True]


@pytest.mark.parametrize(
    ("rule", "column"),
    [
        ('user.city -eq "a`b"', 15),  # a backtick escapes only " and `
        ('user.city -eq "a\\"b"', 19),  # a backslash escapes nothing: the string ends at \"
        ('user.city -eq "open', 15),
        ("user.city -eq 'open", 15),
        ("user.city -eq Lagos", 15),
    ],
)
def test_strings_that_are_not_closed_or_not_quoted_are_refused(rule: str, column: int) -> None:
    error = refusal(rule)
    assert (error.kind, error.column) == (RuleErrorKind.SYNTAX, column)


# ----- what is refused, and where ---------------------------------------------------------------


def test_an_error_says_where_on_which_line() -> None:
    error = refusal('user.city -eq "a"\n  -and user.nickname -eq "b"')
    assert (error.kind, error.line, error.column, error.position) == (
        RuleErrorKind.UNKNOWN_PROPERTY,
        2,
        8,
        25,
    )
    assert str(error).splitlines()[1:] == ['    -and user.nickname -eq "b"', "         ^"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ('user.officeLocation -eq "x"', "physicalDeliveryOfficeName"),
        ('user.id -eq "x"', "objectId"),
        ('user.mobilePhone -eq "x"', "user.mobile"),
    ],
)
def test_graph_names_for_rule_properties_are_refused_with_the_rule_name(
    rule: str, expected: str
) -> None:
    error = refusal(rule)
    assert error.kind is RuleErrorKind.UNKNOWN_PROPERTY and expected in error.reason


@pytest.mark.parametrize(
    ("rule", "kind"),
    [
        ('user.extension_c272a57b722d_OfficeNumber -eq "1"', RuleErrorKind.UNKNOWN_PROPERTY),
        ('manager.city -eq "x"', RuleErrorKind.UNKNOWN_PROPERTY),
        ("user.dirSyncEnabled -eq true", RuleErrorKind.NOT_EVALUATED),
        ('user.city -eq "a" -and', RuleErrorKind.SYNTAX),
        ('user.city -eq "a" -eq "b"', RuleErrorKind.SYNTAX),
        ("", RuleErrorKind.SYNTAX),
        ('user.city \u2013eq "a"', RuleErrorKind.SYNTAX),
        ("user.city -eq \u201ca\u201d", RuleErrorKind.SYNTAX),
    ],
)
def test_refusals(rule: str, kind: RuleErrorKind) -> None:
    assert refusal(rule).kind is kind


def test_a_rule_is_at_most_3072_characters() -> None:
    longest = 'user.city -in ["' + "a" * (3072 - 18) + '"]'
    assert len(longest) == 3072
    parse(longest)
    error = refusal(longest + " ")
    assert (error.kind, error.position) == (RuleErrorKind.SYNTAX, 3072)


def test_nesting_deeper_than_the_evaluator_goes_is_refused_not_crashed() -> None:
    parse("(" * 100 + 'user.city -eq "a"' + ")" * 100)
    assert refusal("-not " * 200 + 'user.city -eq "a"').kind is RuleErrorKind.NOT_EVALUATED
    # As deep as 3,072 characters allow: refused where the nesting passes 100, no RecursionError.
    deepest = refusal("(" * 1500 + 'user.city -eq "a"' + ")" * 1500)
    assert (deepest.kind, deepest.position) == (RuleErrorKind.NOT_EVALUATED, 101)


# ----- -match patterns: .NET and Python --------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "x\\Z",  # end, or before a final newline, in .NET; the very end in Python
        "a{,3}",  # literal in .NET, a quantifier in Python
        "a++",  # possessive: Python 3.11 only
        "a{2}+",
        "(?P<x>a)",  # Python's named group
        "(?a)x",  # Python-only inline flag
        "[a-z-[aeiou]]",  # .NET class subtraction
        "[[a]",  # a set Python warns may change meaning
        "(?<x>a)",  # .NET's named group, which Python's re does not read
        "\\p{L}",
        "*@domain.ext",  # Microsoft's own example of a bad pattern
    ],
)
def test_patterns_the_engines_read_differently_are_refused(pattern: str) -> None:
    error = refusal(f'user.mail -match "{pattern}"')
    assert error.kind is RuleErrorKind.PATTERN
    assert error.position >= len('user.mail -match "')


@pytest.mark.parametrize(
    "pattern", ["a{2}", "a{2,}x", "a+?b", "(?i)ab", "(?:x)y", "\\(?P", "[\\]a]", "[]a]", "x$"]
)
def test_patterns_both_engines_read_alike_are_accepted(pattern: str) -> None:
    parse(f'user.mail -match "{pattern}"')


# ----- the user it reads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "user"),
    [
        ('user.city -eq "x"', {"city": 5}),
        ("user.accountEnabled -eq true", {"accountEnabled": "true"}),
        ('user.otherMails -any (_ -eq "x")', {"otherMails": "x"}),
        ('user.otherMails -eq "x"', {"otherMails": ["x", 1]}),
    ],
)
def test_a_user_value_of_the_wrong_type_is_an_error_not_a_guess(
    rule: str, user: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        parse(rule).matches(user)
