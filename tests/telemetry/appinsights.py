"""What Application Insights would hold for what the app emitted: OpenTelemetry data turned into
envelopes by Microsoft's exporter's own conversion functions, and the envelopes into rows of the
classic tables the alerts query (``customMetrics``, ``traces``, ``exceptions``, ``requests``,
``dependencies``).

OpenTelemetry to envelopes: azure-monitor-opentelemetry-exporter 1.0.0b58, the version
requirements.txt pins (the distro's exporter; read in the virtual environment,
``azure/monitor/opentelemetry/exporter/``). Its conversion functions are called here, not
copied, so a change in them shows; an upgrade of the pin fails :func:`_check_version` until this
module is read against the new version.

- ``export/metrics/_exporter.py``: ``APPLICATION_INSIGHTS_METRIC_TEMPORALITIES`` (counters and
  histograms are exported as **deltas**: each export holds what changed since the one before, and
  a series that did not change is not exported); ``AzureMonitorMetricExporter.export`` and
  ``_point_to_envelope`` (one envelope per data point; outside AKS every metric goes to Log
  Analytics; the autocollected HTTP duration metrics become standard metrics, others as they
  are); ``_convert_point_to_envelope`` (a ``MetricDataPoint`` whose ``value`` is the point's value,
  or a histogram's sum, ``count`` 1, or the histogram's count, ``min``/``max`` for histograms only;
  the attributes, each ``str()``-ed, as properties, keys over 150 characters dropped).
- ``export/logs/_exporter.py``: ``_convert_log_to_envelope`` (a record with ``exception.type`` or
  ``exception.message`` is an exception; otherwise a message whose text is the body, stripped,
  with the severity level ``(severity_number - 1) / 4 - 1``, 0 below INFO).
- ``export/trace/_exporter.py``: ``export`` (each span, then its events),
  ``_convert_span_to_envelope`` (SERVER and CONSUMER spans are requests, others dependencies),
  ``_convert_span_events_to_envelopes`` (an ``exception`` event is an exception, any other event
  a message whose text is the event's name). The ``_OTELRESOURCE_`` metric the trace exporter adds
  to each batch is left out (the service's handling of it is not documented).

Envelopes to rows: the data model's field meanings (the exporter's
``_generated/exporter/models/_models.py``: ``MetricDataPoint.value`` "Sum of individual
measurements for the aggregation", ``count`` "Metric weight of the aggregated metric") and
Microsoft's column list of each table ("Migrate to workspace-based Application Insights
resources", section "Table schemas": MicrosoftDocs/azure-monitor-docs,
articles/azure-monitor/app/convert-classic-resource.md at 438bf70): ``customMetrics.valueSum`` is
``AppMetrics.Sum``, ``valueCount`` is ``ItemCount`` ("The number of measurements that were
aggregated"), ``valueMin``/``valueMax`` are ``Min``/``Max``; ``value`` (removed from the workspace
table) is the sum too. Columns this module cannot know (``appId``, ``client_*`` the service fills
from the connection, ``problemId``) are empty, as they would be for a worker with no client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from azure.monitor.opentelemetry.exporter._constants import _AUTOCOLLECTED_INSTRUMENT_NAMES
from azure.monitor.opentelemetry.exporter._generated.exporter.models import (
    ContextTagKeys,
    MessageData,
    MetricsData,
    RemoteDependencyData,
    RequestData,
    TelemetryExceptionData,
    TelemetryItem,
)
from azure.monitor.opentelemetry.exporter._version import VERSION as EXPORTER_VERSION
from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope
from azure.monitor.opentelemetry.exporter.export.metrics._exporter import (
    APPLICATION_INSIGHTS_METRIC_TEMPORALITIES,
    _convert_point_to_envelope,
    _handle_std_metric_envelope,
)
from azure.monitor.opentelemetry.exporter.export.trace._exporter import (
    _convert_span_events_to_envelopes,
    _convert_span_to_envelope,
)
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import MetricsData as OTelMetricsData
from opentelemetry.sdk.trace import ReadableSpan

from tests.telemetry.kql import Result, Row

#: The exporter version this module was read against (requirements.txt pins it).
READ_AGAINST = "1.0.0b58"

#: How the exporter asks the SDK to aggregate each instrument kind (deltas for counters).
TEMPORALITIES = APPLICATION_INSIGHTS_METRIC_TEMPORALITIES


def _check_version() -> None:
    if EXPORTER_VERSION != READ_AGAINST:
        raise RuntimeError(
            f"azure-monitor-opentelemetry-exporter is {EXPORTER_VERSION}; tests/telemetry/"
            f"appinsights.py was read against {READ_AGAINST}: re-read its conversion functions"
        )


_check_version()

# ---- OpenTelemetry -> envelopes ---------------------------------------------------------------


def metric_envelopes(data: OTelMetricsData | None) -> list[TelemetryItem]:
    """One export of the metric exporter (``AzureMonitorMetricExporter.export``)."""
    envelopes: list[TelemetryItem] = []
    for resource_metric in data.resource_metrics if data else []:
        for scope_metric in resource_metric.scope_metrics:
            for metric in scope_metric.metrics:
                for point in metric.data.data_points:
                    envelope: TelemetryItem | None = _convert_point_to_envelope(
                        point, metric.name, resource_metric.resource, scope_metric.scope
                    )
                    if metric.name in _AUTOCOLLECTED_INSTRUMENT_NAMES:
                        envelope = _handle_std_metric_envelope(
                            envelope, metric.name, point.attributes
                        )
                    if envelope is not None:
                        envelopes.append(envelope)
    return envelopes


def log_envelopes(records: Iterable[ReadableLogRecord]) -> list[TelemetryItem]:
    """One export of the log exporter (``AzureMonitorLogExporter.export``)."""
    return [_convert_log_to_envelope(record) for record in records]


def span_envelopes(spans: Iterable[ReadableSpan]) -> list[TelemetryItem]:
    """One export of the trace exporter (``AzureMonitorTraceExporter.export``), without the
    ``_OTELRESOURCE_`` metric."""
    envelopes: list[TelemetryItem] = []
    for span in spans:
        envelopes.append(_convert_span_to_envelope(span))
        if span.events:
            envelopes.extend(_convert_span_events_to_envelopes(span))
    return envelopes


# ---- envelopes -> table rows ------------------------------------------------------------------

_COMMON = {
    "timestamp": "datetime",
    "itemType": "string",
    "itemCount": "int",
    "customDimensions": "dynamic",
    "operation_Id": "string",
    "operation_Name": "string",
    "operation_ParentId": "string",
    "operation_SyntheticSource": "string",
    "session_Id": "string",
    "user_Id": "string",
    "user_AuthenticatedId": "string",
    "user_AccountId": "string",
    "application_Version": "string",
    "client_Type": "string",
    "client_Model": "string",
    "client_OS": "string",
    "client_IP": "string",
    "client_City": "string",
    "client_StateOrProvince": "string",
    "client_CountryOrRegion": "string",
    "client_Browser": "string",
    "cloud_RoleName": "string",
    "cloud_RoleInstance": "string",
    "appId": "string",
    "appName": "string",
    "iKey": "string",
    "sdkVersion": "string",
    "itemId": "string",
}
#: Each table's columns and their types (convert-classic-resource.md, "Table schemas").
SCHEMAS: dict[str, dict[str, str]] = {
    "customMetrics": {
        **{k: v for k, v in _COMMON.items() if k != "itemCount"},
        "name": "string",
        "value": "real",
        "valueCount": "int",
        "valueSum": "real",
        "valueMin": "real",
        "valueMax": "real",
        "valueStdDev": "real",
    },
    "traces": {
        **_COMMON,
        "message": "string",
        "severityLevel": "int",
        "customMeasurements": "dynamic",
    },
    "exceptions": {
        **_COMMON,
        "problemId": "string",
        "handledAt": "string",
        "type": "string",
        "message": "string",
        "assembly": "string",
        "method": "string",
        "outerType": "string",
        "outerMessage": "string",
        "outerAssembly": "string",
        "outerMethod": "string",
        "innermostType": "string",
        "innermostMessage": "string",
        "innermostAssembly": "string",
        "innermostMethod": "string",
        "severityLevel": "int",
        "details": "dynamic",
        "customMeasurements": "dynamic",
    },
    "requests": {
        **_COMMON,
        "id": "string",
        "name": "string",
        "url": "string",
        "source": "string",
        "success": "string",
        "resultCode": "string",
        "duration": "real",
        "performanceBucket": "string",
        "customMeasurements": "dynamic",
    },
    "dependencies": {
        **_COMMON,
        "id": "string",
        "target": "string",
        "type": "string",
        "name": "string",
        "data": "string",
        "success": "string",
        "resultCode": "string",
        "duration": "real",
        "performanceBucket": "string",
        "customMeasurements": "dynamic",
    },
}

_EMPTY = {"string": "", "dynamic": None, "int": None, "real": None, "datetime": None}
_TAG_COLUMNS = {
    ContextTagKeys.AI_OPERATION_ID: "operation_Id",
    ContextTagKeys.AI_OPERATION_NAME: "operation_Name",
    ContextTagKeys.AI_OPERATION_PARENT_ID: "operation_ParentId",
    ContextTagKeys.AI_OPERATION_SYNTHETIC_SOURCE: "operation_SyntheticSource",
    ContextTagKeys.AI_SESSION_ID: "session_Id",
    ContextTagKeys.AI_USER_ID: "user_Id",
    ContextTagKeys.AI_USER_AUTH_USER_ID: "user_AuthenticatedId",
    ContextTagKeys.AI_USER_ACCOUNT_ID: "user_AccountId",
    ContextTagKeys.AI_APPLICATION_VER: "application_Version",
    ContextTagKeys.AI_CLOUD_ROLE: "cloud_RoleName",
    ContextTagKeys.AI_CLOUD_ROLE_INSTANCE: "cloud_RoleInstance",
    ContextTagKeys.AI_INTERNAL_SDK_VERSION: "sdkVersion",
}
#: The data model's severity levels, in order (``MessageData.severity_level``).
_SEVERITIES = ("Verbose", "Information", "Warning", "Error", "Critical")
_DURATION = re.compile(r"^(\d+)\.(\d\d):(\d\d):(\d\d)\.(\d+)$")


def _duration_ms(text: str | None) -> float | None:
    """``D.HH:MM:SS.mmm`` (``_utils.ns_to_duration``) in milliseconds."""
    match = _DURATION.match(text or "")
    if match is None:
        return None
    days, hours, minutes, seconds = (int(g) for g in match.groups()[:4])
    fraction = float("0." + match.group(5))
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + (seconds + fraction) * 1000


def _severity(level: Any) -> int | None:
    if level is None:
        return None
    if isinstance(level, int):
        return level
    return _SEVERITIES.index(str(level)) if str(level) in _SEVERITIES else None


def _row(table: str, envelope: TelemetryItem, item_type: str, **values: Any) -> Row:
    row: Row = {column: _EMPTY[kind] for column, kind in SCHEMAS[table].items()}
    time = envelope.time
    row["timestamp"] = time if isinstance(time, datetime) else datetime.fromisoformat(str(time))
    row["itemType"] = item_type
    if "itemCount" in row:
        row["itemCount"] = 1
    row["iKey"] = envelope.instrumentation_key or ""
    for tag, column in _TAG_COLUMNS.items():
        value = (envelope.tags or {}).get(tag)
        if value is not None:
            row[column] = str(value)
    unknown = set(values) - set(row)
    if unknown:
        raise KeyError(f"{table} has no column {sorted(unknown)}")
    row.update(values)
    return row


def _rows(envelope: TelemetryItem) -> Iterable[tuple[str, Row]]:
    data = envelope.data.base_data if envelope.data else None
    if isinstance(data, MetricsData):
        for point in data.metrics:
            total = float(point.value)
            yield (
                "customMetrics",
                _row(
                    "customMetrics",
                    envelope,
                    "customMetric",
                    name=point.name,
                    value=total,
                    valueSum=total,
                    valueCount=1 if point.count is None else int(point.count),
                    valueMin=point.min,
                    valueMax=point.max,
                    valueStdDev=point.std_dev,
                    customDimensions=dict(data.properties or {}),
                ),
            )
    elif isinstance(data, MessageData):
        yield (
            "traces",
            _row(
                "traces",
                envelope,
                "trace",
                message=data.message,
                severityLevel=_severity(data.severity_level),
                customDimensions=dict(data.properties or {}),
                customMeasurements=dict(data.measurements or {}) or None,
            ),
        )
    elif isinstance(data, TelemetryExceptionData):
        details = list(data.exceptions or [])
        outer, inner = details[0], details[-1]
        yield (
            "exceptions",
            _row(
                "exceptions",
                envelope,
                "exception",
                type=outer.type_name or "",
                outerType=outer.type_name or "",
                innermostType=inner.type_name or "",
                message=outer.message or "",
                outerMessage=outer.message or "",
                innermostMessage=inner.message or "",
                severityLevel=_severity(data.severity_level),
                details=[{"type": d.type_name, "message": d.message} for d in details],
                customDimensions=dict(data.properties or {}),
                customMeasurements=dict(data.measurements or {}) or None,
            ),
        )
    elif isinstance(data, RequestData):
        yield (
            "requests",
            _row(
                "requests",
                envelope,
                "request",
                id=data.id,
                name=data.name,
                url=data.url or "",
                source=data.source or "",
                success=str(bool(data.success)),
                resultCode=data.response_code or "",
                duration=_duration_ms(data.duration),
                customDimensions=dict(data.properties or {}),
                customMeasurements=dict(data.measurements or {}) or None,
            ),
        )
    elif isinstance(data, RemoteDependencyData):
        yield (
            "dependencies",
            _row(
                "dependencies",
                envelope,
                "dependency",
                id=data.id or "",
                name=data.name,
                target=data.target or "",
                type=data.type or "",
                data=data.data or "",
                success=str(bool(data.success)),
                resultCode=data.result_code or "",
                duration=_duration_ms(data.duration),
                customDimensions=dict(data.properties or {}),
                customMeasurements=dict(data.measurements or {}) or None,
            ),
        )
    else:
        raise ValueError(f"no table for envelope {envelope.name} ({type(data).__name__})")


def tables(envelopes: Iterable[TelemetryItem]) -> dict[str, Result]:
    """The rows each table would hold for these envelopes (every table, empty or not)."""
    found: dict[str, Result] = {
        name: Result(list(columns), []) for name, columns in SCHEMAS.items()
    }
    for envelope in envelopes:
        for table, row in _rows(envelope):
            found[table].rows.append(row)
    return found


def schemas() -> Mapping[str, Sequence[str]]:
    """Each table's column names."""
    return {name: list(columns) for name, columns in SCHEMAS.items()}
