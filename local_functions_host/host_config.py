"""host.json, read with the meaning the Functions host (v2 schema, Storage extension 5.x) gives it.

Only the parts the local host acts on are modelled: ``extensions.queues`` and
``functionTimeout``. Defaults are the real host's when host.json is silent.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

_TIMESPAN = re.compile(
    r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$"
)

# The Storage extension never polls faster than this (QueuePollingIntervals.Minimum).
MIN_POLLING_INTERVAL = timedelta(milliseconds=100)


class HostConfigError(ValueError):
    """host.json is invalid in a way the Functions host would refuse too."""


def parse_timespan(value: str) -> timedelta:
    """Parse a .NET TimeSpan string ``[d.]hh:mm:ss[.fff]`` as host.json uses it."""
    match = _TIMESPAN.match(value.strip())
    if match is None:
        raise HostConfigError(f"{value!r} is not a time span of the form hh:mm:ss[.fff]")
    return timedelta(
        days=int(match.group("days") or 0),
        hours=int(match.group("h")),
        minutes=int(match.group("m")),
        seconds=float(match.group("s")),
    )


@dataclass(frozen=True)
class QueueOptions:
    """``extensions.queues`` with the Storage extension's defaults.

    ``new_batch_threshold`` defaults to ``batch_size // 2`` times the processor count, as
    QueuesOptions computes it outside the Consumption plan.
    """

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: timedelta = timedelta(minutes=1)
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @property
    def max_in_flight(self) -> int:
        """The most messages one queue function processes at once: batch plus threshold."""
        return self.batch_size + self.new_batch_threshold


@dataclass(frozen=True)
class HostConfig:
    """The settings of host.json the local host honours."""

    queues: QueueOptions
    function_timeout: timedelta | None


def default_processor_count() -> int:
    """The processor count the host multiplies the default newBatchThreshold by."""
    return os.cpu_count() or 1


def _int_option(section: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HostConfigError(f"extensions.queues.{key} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise HostConfigError(f"extensions.queues.{key} must be between {low} and {high}")
    return value


def _timespan_option(section: dict[str, Any], key: str, default: timedelta) -> timedelta:
    value = section.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise HostConfigError(f"extensions.queues.{key} must be a string hh:mm:ss, got {value!r}")
    return parse_timespan(value)


def parse_queue_options(section: dict[str, Any], *, processor_count: int) -> QueueOptions:
    """Validate ``extensions.queues`` as the v2 schema does and fill in the host's defaults."""
    known = {
        "batchSize",
        "newBatchThreshold",
        "maxPollingInterval",
        "visibilityTimeout",
        "maxDequeueCount",
        "messageEncoding",
    }
    unknown = set(section) - known
    if unknown:
        raise HostConfigError(f"extensions.queues has unknown keys: {sorted(unknown)}")
    batch_size = _int_option(section, "batchSize", 16, 1, 32)
    threshold = _int_option(
        section, "newBatchThreshold", (batch_size // 2) * processor_count, 0, 10_000
    )
    polling = _timespan_option(section, "maxPollingInterval", timedelta(minutes=1))
    if polling < MIN_POLLING_INTERVAL:
        raise HostConfigError("extensions.queues.maxPollingInterval must be at least 00:00:00.1")
    encoding = section.get("messageEncoding", "base64")
    if encoding not in ("base64", "none"):
        raise HostConfigError("extensions.queues.messageEncoding must be 'base64' or 'none'")
    return QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=threshold,
        max_polling_interval=polling,
        visibility_timeout=_timespan_option(section, "visibilityTimeout", timedelta(0)),
        max_dequeue_count=_int_option(section, "maxDequeueCount", 5, 1, 1_000_000),
        message_encoding=str(encoding),
    )


def load_host_config(path: Path, *, processor_count: int | None = None) -> HostConfig:
    """Read host.json. Raises HostConfigError if it is missing, not version 2.0, or invalid."""
    if not path.exists():
        raise HostConfigError(f"{path} is missing; a function app needs host.json")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise HostConfigError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or document.get("version") != "2.0":
        raise HostConfigError(f'{path} must be an object with "version": "2.0"')
    extensions = document.get("extensions", {}) or {}
    queues_section = extensions.get("queues", {}) or {}
    if not isinstance(queues_section, dict):
        raise HostConfigError("extensions.queues must be an object")
    queues = parse_queue_options(
        queues_section,
        processor_count=processor_count
        if processor_count is not None
        else default_processor_count(),
    )
    timeout_value = document.get("functionTimeout")
    function_timeout: timedelta | None
    if timeout_value is None:
        # Core Tools runs as a dedicated (non-Consumption) host: 30 minutes by default.
        function_timeout = timedelta(minutes=30)
    elif timeout_value == "-1":
        function_timeout = None
    elif isinstance(timeout_value, str):
        function_timeout = parse_timespan(timeout_value)
    else:
        raise HostConfigError('functionTimeout must be "hh:mm:ss" or "-1"')
    return HostConfig(queues=queues, function_timeout=function_timeout)
