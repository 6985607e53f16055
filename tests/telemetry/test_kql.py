"""The alert harness itself: the KQL subset against the examples of Microsoft's KQL reference,
the exporter mapping against what the SDK recorded, and the rule semantics against hand-made
rows. Expected values come from the cited pages, not from the evaluator."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import metrics

from tests.telemetry import kql
from tests.telemetry.alerts import AlertRule, Dimension, evaluate, ingested
from tests.telemetry.appinsights import SCHEMAS

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def table(*rows: dict[str, object], columns: tuple[str, ...] = ("timestamp", "s")) -> kql.Result:
    return kql.Result(list(columns), [{c: r.get(c) for c in columns} for r in rows])


def one(expression: str, **row: object) -> object:
    """The value of ``expression`` over one row."""
    columns = tuple(row) or ("x",)
    result = kql.run(f"T | extend v = {expression}", {"T": table(row, columns=columns)})
    return result.rows[0]["v"]


# ---- the language ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        # datatypes-string-operators.md, "Operators on strings": "North America" has "america".
        ("North America", "america", True),
        # "What is a term?": the terms of this string are Kusto, KustoExplorerQueryRun, ad67d136,
        # c1db, 4f9f, 88ef and d94f3b6b0b5a.
        ("Kusto: ad67d136-c1db-4f9f-88ef-d94f3b6b0b5a;KustoExplorerQueryRun", "c1db", True),
        ("Kusto: ad67d136-c1db-4f9f-88ef-d94f3b6b0b5a;KustoExplorerQueryRun", "KUSTO", True),
        ("Kusto: ad67d136-c1db-4f9f-88ef-d94f3b6b0b5a;KustoExplorerQueryRun", "Explorer", False),
        ("Kusto: ad67d136-c1db-4f9f-88ef-d94f3b6b0b5a;KustoExplorerQueryRun", "d94f", False),
        ("Moving message to queue 'guest-invitations-poison'.", "poison", True),
    ],
)
def test_has_matches_whole_terms_ignoring_case(text: str, term: str, expected: bool) -> None:
    assert one(f'x has "{term}"', x=text) is expected
    assert one(f'x !has "{term}"', x=text) is (not expected)


@pytest.mark.parametrize("needle", ["-poison", "a b", "c1db-4f9f", ""])
def test_has_with_more_or_less_than_one_term_is_refused_before_any_row(needle: str) -> None:
    """The page defines ``has`` for a term only; the query is refused even over no rows."""
    with pytest.raises(kql.KqlError, match="not one term"):
        kql.run(f'T | where s has "{needle}"', {"T": table()})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # "Operators on strings": == and != are case-sensitive, =~ and !~ are not.
        ('"aBc" == "aBc"', True),
        ('"abc" != "ABC"', True),
        ('"abc" =~ "ABC"', True),
        ('"aBc" !~ "xyz"', True),
        ('"FabriKam" contains "BRik"', True),
        ('"Fabrikam" !contains "xyz"', True),
        ('"Fabrikam" startswith "fab"', True),
        ('"Fabrikam" endswith "Kam"', True),
        # tostring-function.md: "If value is null, the result is an empty string."
        ("tostring(x)", ""),
        ("isempty(x)", True),
        ("1 < 2 and 2 <= 2 and not(3 > 4)", True),
        ('"b" in ("a", "b")', True),
        ('"c" !in ("a", "b")', True),
        ('todouble("2.5")', 2.5),
    ],
)
def test_operators_and_functions_as_the_reference_defines_them(
    expression: str, expected: object
) -> None:
    assert one(expression, x=None) == expected


def test_a_missing_key_of_a_property_bag_is_null_and_comparisons_with_null_keep_no_row() -> None:
    rows = table(
        {"timestamp": T, "d": {"k": "v"}},
        {"timestamp": T, "d": {}},
        columns=("timestamp", "d"),
    )
    result = kql.run('T | extend k = tostring(d["k"]), raw = d.k | where raw == "v"', {"T": rows})
    assert [(r["k"], r["raw"]) for r in result.rows] == [("v", "v")]


def test_union_keeps_every_legs_columns_with_nulls_where_a_leg_has_none() -> None:
    """union-operator.md (kind=outer, the default)."""
    tables = {
        "A": table({"timestamp": T, "s": "a"}),
        "B": kql.Result(["timestamp", "n"], [{"timestamp": T, "n": 1}]),
    }
    result = kql.run("union (A | extend m = 1), B | project s, n, m", tables)
    assert result.columns == ["s", "n", "m"]
    assert result.rows == [{"s": "a", "n": None, "m": 1}, {"s": None, "n": 1, "m": None}]


@pytest.mark.parametrize(
    "query",
    [
        "T | where nosuchcolumn == 1",  # a misspelt column, as Kusto refuses it
        "T | project s | where timestamp == 1",  # gone after project
        "T | summarize count() by s",  # outside the subset
        "Nosuchtable | where s == 1",
        "T | extend v = strlen(s)",  # a function outside the subset
    ],
)
def test_queries_kusto_would_refuse_or_this_subset_lacks_fail_even_over_no_rows(query: str) -> None:
    with pytest.raises(kql.KqlError):
        kql.run(query, {"T": table()})


# ---- what the exporter sends -------------------------------------------------------------------


def test_each_export_holds_what_changed_since_the_last_as_customMetrics_rows() -> None:
    """Counters are exported as deltas (APPLICATION_INSIGHTS_METRIC_TEMPORALITIES): a series that
    did not change is not exported again; the attributes become ``customDimensions``."""
    name = "tests.alerts.counted"
    counter = metrics.get_meter("tests.alerts").create_counter(name)
    with ingested() as telemetry:
        counter.add(2, {"kind": "a"})
        counter.add(1, {"kind": "a"})
        counter.add(5, {"kind": "b", "n": 7})
        telemetry.export()
        counter.add(4, {"kind": "a"})
        rows = [r for r in telemetry.tables()["customMetrics"].rows if r["name"] == name]

    exported = [(r["valueSum"], r["valueCount"], r["customDimensions"]) for r in rows]
    assert exported == [
        (3.0, 1, {"kind": "a"}),
        (5.0, 1, {"kind": "b", "n": "7"}),  # every property is a string
        (4.0, 1, {"kind": "a"}),
    ]
    assert set(rows[0]) == set(SCHEMAS["customMetrics"])


def test_log_lines_are_traces_with_their_severity_and_errors_with_exceptions_are_exceptions() -> (
    None
):
    logger = logging.getLogger("local_functions_host.tests")
    with ingested() as telemetry:
        logger.debug("below host.json's level")
        logger.warning("Message has reached MaxDequeueCount of %d.", 5)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("Executed 'Functions.x' (Failed)")
        tables = telemetry.tables()

    assert [(r["message"], r["severityLevel"]) for r in tables["traces"].rows] == [
        ("Message has reached MaxDequeueCount of 5.", 2)  # Warning
    ]
    (exception,) = tables["exceptions"].rows
    assert (exception["type"], exception["severityLevel"]) == ("RuntimeError", 3)  # Error


# ---- the rule's condition ----------------------------------------------------------------------

RULE = AlertRule(
    resource="rule",
    display_name="rule",
    enabled=True,
    query="T | project timestamp, s, m",
    time_aggregation="Total",
    metric_measure_column="m",
    dimensions=(),
    operator="GreaterThan",
    threshold=0.0,
    window=timedelta(minutes=5),
    frequency=timedelta(minutes=5),
    evaluation_periods=1,
    min_failing_periods=1,
)


def rows(*points: tuple[timedelta, str, float]) -> dict[str, kql.Result]:
    return {
        "T": kql.Result(
            ["timestamp", "s", "m"],
            [{"timestamp": T - ago, "s": s, "m": m} for ago, s, m in points],
        )
    }


def test_only_rows_inside_the_window_count() -> None:
    minute = timedelta(minutes=1)
    evaluation = evaluate(RULE, rows((minute, "a", 1.0), (6 * minute, "a", 9.0)), at=T)
    assert evaluation.points == {(): [1.0]}
    assert not evaluate(RULE, rows((6 * minute, "a", 9.0)), at=T).fires


def test_dimensions_split_and_filter_the_series() -> None:
    minute = timedelta(minutes=1)
    data = rows((minute, "a", 1.0), (minute, "b", 0.0), (minute, "c", 2.0))
    split = dataclasses.replace(RULE, dimensions=(Dimension("s", "Include", ("*",)),))
    evaluation = evaluate(split, data, at=T)
    assert evaluation.points == {(("s", "a"),): [1.0], (("s", "b"),): [0.0], (("s", "c"),): [2.0]}
    assert evaluation.firing == [(("s", "a"),), (("s", "c"),)]
    only_b = dataclasses.replace(RULE, dimensions=(Dimension("s", "Include", ("b",)),))
    assert not evaluate(only_b, data, at=T).fires
    not_c = dataclasses.replace(RULE, dimensions=(Dimension("s", "Exclude", ("c",)),))
    assert evaluate(not_c, data, at=T).firing == [(("s", "a"),)]


def test_a_series_fires_when_enough_of_its_periods_violate() -> None:
    minute = timedelta(minutes=1)
    two_of_three = dataclasses.replace(RULE, evaluation_periods=3, min_failing_periods=2)
    once = rows((minute, "a", 1.0))
    twice = rows((minute, "a", 1.0), (11 * minute, "a", 1.0))
    assert evaluate(two_of_three, once, at=T).points == {(): [None, None, 1.0]}
    assert not evaluate(two_of_three, once, at=T).fires
    assert evaluate(two_of_three, twice, at=T).fires


def test_a_disabled_rule_fires_nothing() -> None:
    data = rows((timedelta(minutes=1), "a", 1.0))
    assert evaluate(RULE, data, at=T).fires
    assert not evaluate(dataclasses.replace(RULE, enabled=False), data, at=T).fires


def test_a_query_without_its_measure_or_time_column_is_refused() -> None:
    no_time = dataclasses.replace(RULE, query="T | project s, m")
    with pytest.raises(kql.KqlError, match="timestamp"):
        evaluate(no_time, rows(), at=T)
    no_measure = dataclasses.replace(RULE, metric_measure_column="messages")
    with pytest.raises(kql.KqlError, match="measure"):
        evaluate(no_measure, rows(), at=T)
