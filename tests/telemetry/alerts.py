"""Alert rules as Azure Monitor evaluates them, over what the app really emitted.

A test of an alert (docs/extending.md, "Adding an alert") does three things:

1. ``with ingested() as telemetry:`` runs a scenario through the real code; the block records
   what the app's OpenTelemetry pipeline and the host's log lines would send
   (:class:`Ingestion`), and ``telemetry.tables()`` turns it into Application Insights rows
   (tests/telemetry/appinsights.py: Microsoft's exporter's own conversion, then the tables'
   columns);
2. ``rule = alert_rules()["tenantStopAlert"]`` reads the rule from infra/app/alerts.bicep as the
   deployment evaluates it (infra/checks/bicep_eval.py over infra/main.bicep's defaults);
3. ``evaluate(rule, telemetry.tables())`` runs the rule's query (tests/telemetry/kql.py) and
   applies its condition; ``.fires`` and ``.firing`` (the dimension values that fire) are what
   the test asserts, for the condition and for a healthy run alike.

The condition of a ``Microsoft.Insights/scheduledQueryRules`` rule of kind ``LogAlert``
(API 2022-08-01-preview, the one alerts.bicep uses), from the API's published model as the
pinned azure-mgmt-monitor 6.0.2 ships it (``azure/mgmt/monitor/v2022_08_01_preview/models/
_models_py3.py``: ``ScheduledQueryRuleResource``, ``Condition``, ``Dimension``,
``ConditionFailingPeriods``) and "Create or edit a log search alert rule"
(learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-log-alert-rule):

- ``windowSize``: "The period of time ... on which the Alert query will be executed (bin
  size)"; the query runs over ``windowSize * numberOfEvaluationPeriods`` ("default ... query time
  range"), ending when the rule runs; each period of ``windowSize`` is one aggregated point.
- ``timeAggregation`` over ``metricMeasureColumn``: ``Total`` (sum), ``Average``, ``Minimum``,
  ``Maximum`` of the column, or ``Count`` of the rows, per period and per combination of the
  dimension columns; the query's rows are placed in periods by their ``timestamp`` (or
  ``TimeGenerated``) column, which the query must therefore keep.
- ``dimensions``: "Dimension splitting and filtering": ``Include`` with ``*`` splits by every value
  of the column, with values splits by those values only; ``Exclude`` splits by every other
  value. A rule without dimensions has one series.
- ``operator``/``threshold``: each point of each series is compared with the threshold; a series
  fires when at least ``minFailingPeriodsToAlert`` of its ``numberOfEvaluationPeriods`` points do
  ("The number of violations to trigger an alert"). A period with no rows has no point: it never
  violates. A rule with ``enabled: false`` ("The flag which indicates whether this scheduled
  query rule is enabled") fires nothing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from infra.checks.bicep_eval import Template
from infra.checks.contract import main_template
from tests.telemetry import appinsights, kql
from tests.telemetry.support import Collected, recording

REPO_ROOT = Path(__file__).resolve().parents[2]
ALERTS_MODULE = "alerts"  # infra/main.bicep's module for infra/app/alerts.bicep
RULE_TYPE = "Microsoft.Insights/scheduledQueryRules"

#: The loggers whose lines reach ``traces``: the worker's (the Functions host ships them, see
#: docs/operations.md "Logs") and the local host's, which stands for the Functions host's own.
SHIPPED_LOGGERS = ("guest_onboarding", "local_functions_host")
#: host.json ``logging.logLevel.default``: Information; lower lines are not shipped.
SHIPPED_LEVEL = logging.INFO


# ---- the rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    name: str
    operator: str  # "Include" | "Exclude"
    values: tuple[str, ...]


@dataclass(frozen=True)
class AlertRule:
    """A scheduled query rule: its one criterion, its window, and whether it runs at all."""

    resource: str  # the Bicep symbolic name
    display_name: str
    enabled: bool
    query: str
    time_aggregation: str
    metric_measure_column: str | None
    dimensions: tuple[Dimension, ...]
    operator: str
    threshold: float
    window: timedelta
    frequency: timedelta
    evaluation_periods: int
    min_failing_periods: int


def alert_rules(overrides: Mapping[str, Any] | None = None) -> dict[str, AlertRule]:
    """Every ``scheduledQueryRules`` rule of infra/app/alerts.bicep, as infra/main.bicep deploys
    it with its defaults and ``overrides``, by its Bicep name. The evaluated properties are read
    through the API version's published model (azure-mgmt-monitor), so a misnamed field or a
    malformed duration fails. A rule with several criteria (``allOf``: it fires when all of them
    do) is refused: none is written, and this module does not combine criteria."""
    alerts: Template = main_template(REPO_ROOT, overrides).module(ALERTS_MODULE)
    rules: dict[str, AlertRule] = {}
    for name, resource in alerts.resources.items():
        if resource["type"] != RULE_TYPE:
            continue
        properties = alerts.evaluate(alerts.resource_body(name)["properties"])
        model = _rule_model(resource["api_version"], properties)
        if model.window_size is None or model.evaluation_frequency is None:
            raise ValueError(f"{name}: a log alert needs windowSize and evaluationFrequency")
        conditions = model.criteria.all_of if model.criteria else None
        if not conditions or len(conditions) != 1:
            raise ValueError(f"{name}: one criterion expected, found {len(conditions or [])}")
        for condition in conditions:
            failing = condition.failing_periods
            rules[name] = AlertRule(
                resource=name,
                display_name=str(model.display_name),
                enabled=model.enabled is True,  # "Value should be true or false": no default
                query=_text(condition.query, f"{name}: query"),
                time_aggregation=str(condition.time_aggregation),
                metric_measure_column=condition.metric_measure_column,
                dimensions=tuple(
                    Dimension(d.name, str(d.operator), tuple(d.values))
                    for d in condition.dimensions or []
                ),
                operator=str(condition.operator),
                threshold=float(condition.threshold),
                window=model.window_size,
                frequency=model.evaluation_frequency,
                evaluation_periods=failing.number_of_evaluation_periods if failing else 1,
                min_failing_periods=failing.min_failing_periods_to_alert if failing else 1,
            )
    return rules


#: The rule's fields this module reads (the rest, scopes and actions, are deployment values).
_READ = ("displayName", "enabled", "windowSize", "evaluationFrequency", "criteria")


def _rule_model(api_version: str, properties: Mapping[str, Any]) -> Any:
    module = f"azure.mgmt.monitor.v{api_version.replace('-', '_')}.models"
    models = importlib.import_module(module)
    body = {"location": "placeholder", "kind": "LogAlert"}
    body["properties"] = {k: properties[k] for k in _READ if k in properties}  # type: ignore[assignment]
    return models.ScheduledQueryRuleResource.deserialize(body)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not known before deployment: {value}")
    return value


# ---- what was emitted -------------------------------------------------------------------------


@dataclass
class Ingestion:
    """What reached Application Insights during an :func:`ingested` block."""

    collected: Collected
    logs: InMemoryLogRecordExporter
    envelopes: list[Any] = field(default_factory=list)
    _exported_spans: int = 0

    def export(self) -> None:
        """One export of each exporter: the metrics that changed since the last export, the spans
        that ended and the log lines written since."""
        self.envelopes += appinsights.metric_envelopes(self.collected.exported.get_metrics_data())
        spans = self.collected.finished()
        self.envelopes += appinsights.span_envelopes(spans[self._exported_spans :])
        self._exported_spans = len(spans)
        self.envelopes += appinsights.log_envelopes(self.logs.get_finished_logs())
        self.logs.clear()

    def tables(self) -> dict[str, kql.Result]:
        """Everything exported so far (exporting first), as Application Insights tables."""
        self.export()
        return appinsights.tables(self.envelopes)


@contextmanager
def ingested(loggers: Sequence[str] = SHIPPED_LOGGERS) -> Iterator[Ingestion]:
    """Record the app's spans and metrics (from nothing earlier) and the lines of ``loggers``
    (at host.json's level) until the block ends."""
    with recording() as collected:
        collected.exported.get_metrics_data()  # earlier deltas are not this block's
        exporter = InMemoryLogRecordExporter()
        provider = LoggerProvider(resource=Resource.create({"service.name": "functions-host"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        handler = LoggingHandler(level=SHIPPED_LEVEL, logger_provider=provider)
        saved: list[tuple[logging.Logger, int]] = []
        for name in loggers:
            logger = logging.getLogger(name)
            saved.append((logger, logger.level))
            if logger.getEffectiveLevel() > SHIPPED_LEVEL:
                logger.setLevel(SHIPPED_LEVEL)
            logger.addHandler(handler)
        try:
            yield Ingestion(collected, exporter)
        finally:
            for logger, level in saved:
                logger.removeHandler(handler)
                logger.setLevel(level)
            provider.shutdown()


# ---- the evaluation ---------------------------------------------------------------------------

Series = tuple[tuple[str, str], ...]  # (dimension, value) pairs; () for a rule without any

_AGGREGATIONS = {
    "Total": sum,
    "Average": lambda values: sum(values) / len(values),
    "Minimum": min,
    "Maximum": max,
    "Count": len,
}
_OPERATORS = {
    "GreaterThan": lambda a, t: a > t,
    "GreaterThanOrEqual": lambda a, t: a >= t,
    "LessThan": lambda a, t: a < t,
    "LessThanOrEqual": lambda a, t: a <= t,
    "Equals": lambda a, t: a == t,
}
_TIME_COLUMNS = ("timestamp", "TimeGenerated")


@dataclass
class Evaluation:
    """One run of a rule: the query's rows, each series' points (oldest period first; None for a
    period without rows) and the series that fire."""

    rule: AlertRule
    rows: list[kql.Row]
    points: dict[Series, list[float | None]]
    firing: list[Series]

    @property
    def fires(self) -> bool:
        return bool(self.firing)


def evaluate(
    rule: AlertRule, tables: Mapping[str, kql.Result], *, at: datetime | None = None
) -> Evaluation:
    """Run ``rule`` at ``at`` (default: now) over ``tables`` as Azure Monitor would."""
    end = at or datetime.now(UTC) + timedelta(milliseconds=1)
    start = end - rule.window * rule.evaluation_periods
    in_range = {
        name: kql.Result(t.columns, [r for r in t.rows if _within(r, start, end)])
        for name, t in tables.items()
    }
    result = kql.run(rule.query, in_range)
    time_column = next((c for c in _TIME_COLUMNS if c in result.columns), None)
    if time_column is None:
        raise kql.KqlError(f"{rule.resource}: the query keeps no timestamp column to bin on")
    if rule.time_aggregation not in _AGGREGATIONS:
        raise kql.KqlError(f"{rule.resource}: unknown timeAggregation {rule.time_aggregation}")
    measure = rule.metric_measure_column
    if rule.time_aggregation != "Count" and measure not in result.columns:
        raise kql.KqlError(f"{rule.resource}: the query has no measure column {measure!r}")
    for dimension in rule.dimensions:
        if dimension.name not in result.columns:
            raise kql.KqlError(f"{rule.resource}: the query has no dimension {dimension.name!r}")

    grouped: dict[Series, list[list[float]]] = {}
    for row in result.rows:
        series = _series(rule.dimensions, row)
        if series is None:
            continue
        period = int((row[time_column] - start) / rule.window)
        values = grouped.setdefault(series, [[] for _ in range(rule.evaluation_periods)])
        if rule.time_aggregation == "Count":
            values[period].append(1.0)
        elif row.get(measure) is not None:
            values[period].append(float(row[measure]))
    aggregate = _AGGREGATIONS[rule.time_aggregation]
    compare = _OPERATORS[rule.operator]
    points: dict[Series, list[float | None]] = {}
    firing: list[Series] = []
    for series, periods in grouped.items():
        points[series] = [float(aggregate(p)) if p else None for p in periods]
        violations = sum(1 for p in points[series] if p is not None and compare(p, rule.threshold))
        if rule.enabled and violations >= rule.min_failing_periods:
            firing.append(series)
    return Evaluation(rule, result.rows, points, sorted(firing))


def _within(row: kql.Row, start: datetime, end: datetime) -> bool:
    stamp = row.get("timestamp") or row.get("TimeGenerated")
    return isinstance(stamp, datetime) and start <= stamp < end


def _series(dimensions: Sequence[Dimension], row: kql.Row) -> Series | None:
    """The row's series, or None when a dimension filter leaves it out."""
    key: list[tuple[str, str]] = []
    for dimension in dimensions:
        value = kql.run_function("tostring", row.get(dimension.name))
        if dimension.operator == "Include":
            if "*" not in dimension.values and value not in dimension.values:
                return None
        elif dimension.operator == "Exclude":
            if value in dimension.values:
                return None
        else:
            raise kql.KqlError(f"unknown dimension operator {dimension.operator}")
        key.append((dimension.name, value))
    return tuple(key)
