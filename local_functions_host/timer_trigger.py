"""The timer trigger: NCRONTAB (six fields, seconds first) or TimeSpan schedules, in UTC.

- Invocations of one timer never overlap; an occurrence that passes while the previous
  invocation still runs is fired once when it ends, with ``past_due`` true, and any further
  missed occurrences are skipped (no catch-up storm).
- ``past_due`` is true whenever an invocation starts more than ``LATE_TOLERANCE`` after its
  occurrence.
- With the schedule monitor (``use_monitor``; by default on for schedules at least a minute
  apart, as on Azure) the last and next occurrences are recorded in Table storage; a host that
  starts after a recorded next occurrence fires once at startup with ``past_due`` true.
- ``run_on_startup`` fires once when the host starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.functions.timer import TimerRequest
from croniter import croniter

from local_functions_host.host_config import HostConfigError, parse_timespan
from local_functions_host.indexing import IndexedFunction, TimerTriggerBinding
from local_functions_host.invocation import InvocationOutcome, Invoker

logger = logging.getLogger("local_functions_host")

LATE_TOLERANCE = timedelta(seconds=1)
MONITOR_TABLE = "AzureWebJobsTimerStatus"


class TimerSchedule:
    """The occurrences of one schedule expression."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: timedelta | None = None
        fields = self.expression.split()
        if len(fields) == 1 and ":" in self.expression:
            try:
                self._interval = parse_timespan(self.expression)
            except HostConfigError as error:
                raise ValueError(f"invalid timer schedule {expression!r}: {error}") from error
            if self._interval <= timedelta(0):
                raise ValueError(f"invalid timer schedule {expression!r}: must be positive")
        elif len(fields) == 6:
            if not croniter.is_valid(self.expression, second_at_beginning=True):
                raise ValueError(f"invalid NCRONTAB expression {expression!r}")
        elif len(fields) == 5:
            if not croniter.is_valid(self.expression):
                raise ValueError(f"invalid NCRONTAB expression {expression!r}")
        else:
            raise ValueError(
                f"invalid timer schedule {expression!r}: NCRONTAB needs six fields "
                "({second} {minute} {hour} {day} {month} {day-of-week}) or a TimeSpan hh:mm:ss"
            )

    def next_after(self, moment: datetime) -> datetime:
        """Return the first occurrence strictly after ``moment`` (UTC)."""
        if self._interval is not None:
            return moment + self._interval
        with_seconds = len(self.expression.split()) == 6
        iterator = croniter(self.expression, moment, second_at_beginning=with_seconds)
        occurrence: datetime = iterator.get_next(datetime)
        return occurrence

    def typical_interval(self, moment: datetime) -> timedelta:
        """The gap between the next two occurrences (decides the monitor default)."""
        first = self.next_after(moment)
        return self.next_after(first) - first


@dataclass(frozen=True)
class ScheduleStatus:
    """What the schedule monitor records for one timer function."""

    last: datetime | None
    next: datetime
    last_updated: datetime

    def as_payload(self) -> dict[str, str]:
        """The ``ScheduleStatus`` object the real host hands the function."""
        return {
            "Last": (self.last or datetime.min.replace(tzinfo=UTC)).isoformat(),
            "Next": self.next.isoformat(),
            "LastUpdated": self.last_updated.isoformat(),
        }


class ScheduleMonitor:
    """Timer status kept in Table storage, so past-due occurrences survive host restarts."""

    def __init__(self, connection_string: str, host_id: str) -> None:
        self._table = TableClient.from_connection_string(connection_string, MONITOR_TABLE)
        self._host_id = host_id
        self._created = False

    async def _ensure_table(self) -> None:
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                await self._table.create_table()
            self._created = True

    async def read(self, function_name: str) -> ScheduleStatus | None:
        """Return the recorded status, or None if this function has none yet."""
        await self._ensure_table()
        try:
            entity = await self._table.get_entity(self._host_id, function_name)
        except ResourceNotFoundError:
            return None
        return ScheduleStatus(
            last=entity.get("Last"), next=entity["Next"], last_updated=entity["LastUpdated"]
        )

    async def write(self, function_name: str, status: ScheduleStatus) -> None:
        """Record ``status`` for the function."""
        await self._ensure_table()
        entity: dict[str, object] = {
            "PartitionKey": self._host_id,
            "RowKey": function_name,
            "Next": status.next,
            "LastUpdated": status.last_updated,
        }
        if status.last is not None:
            entity["Last"] = status.last
        await self._table.upsert_entity(entity)

    async def close(self) -> None:
        """Close the Table client."""
        await self._table.close()


def utc_now() -> datetime:
    """The current time in UTC (the clock every schedule is evaluated on)."""
    return datetime.now(UTC)


class TimerListener:
    """Runs one timer-triggered function on its schedule until ``stop()``."""

    def __init__(
        self,
        *,
        function: IndexedFunction,
        invoker: Invoker,
        monitor_factory: Callable[[], ScheduleMonitor] | None,
    ) -> None:
        assert isinstance(function.trigger, TimerTriggerBinding)
        self.function = function
        self.binding: TimerTriggerBinding = function.trigger
        self.schedule = TimerSchedule(self.binding.schedule)
        self._invoker = invoker
        use_monitor = self.binding.use_monitor
        if use_monitor is None:
            use_monitor = self.schedule.typical_interval(utc_now()) >= timedelta(minutes=1)
        self._monitor = monitor_factory() if use_monitor and monitor_factory else None
        self._stopping = asyncio.Event()
        self._last: datetime | None = None

    async def run(self) -> None:
        """Fire on every occurrence until ``stop()``."""
        past_due_at_start = await self._check_past_due()
        if (self.binding.run_on_startup or past_due_at_start) and not self._stopping.is_set():
            await self.fire(past_due=past_due_at_start, occurrence=utc_now())
        resume_from: datetime | None = None
        while not self._stopping.is_set():
            occurrence = self.schedule.next_after(resume_from or utc_now())
            await self._record(occurrence)
            await self._sleep_until(occurrence)
            if self._stopping.is_set():
                return
            past_due = utc_now() - occurrence > LATE_TOLERANCE
            await self.fire(past_due=past_due, occurrence=occurrence)
            # After a late firing, skip the other missed occurrences rather than replay them.
            resume_from = utc_now() if past_due else occurrence

    async def fire(self, *, past_due: bool, occurrence: datetime) -> None:
        """Invoke the function for ``occurrence``; failures are logged, never raised."""
        await self._invoke(
            past_due=past_due,
            occurrence=occurrence,
            reason=f"Timer fired at {occurrence.isoformat()}",
        )

    async def _invoke(
        self, *, past_due: bool, occurrence: datetime, reason: str
    ) -> InvocationOutcome:
        following = self.schedule.next_after(max(occurrence, utc_now()))
        status = ScheduleStatus(last=self._last, next=following, last_updated=utc_now())
        request = TimerRequest(
            past_due=past_due,
            schedule_status=status.as_payload(),
            schedule={"AdjustForDST": True},
        )
        outcome = await self._invoker.invoke(self.function, request, reason=reason)
        self._last = occurrence
        return outcome

    async def fire_now(self) -> InvocationOutcome:
        """Invoke once now, not past due (the admin endpoint's semantics)."""
        now = utc_now()
        return await self._invoke(
            past_due=False, occurrence=now, reason="Invoked through the admin endpoint"
        )

    async def _check_past_due(self) -> bool:
        if self._monitor is None:
            return False
        try:
            status = await self._monitor.read(self.function.name)
        except Exception as error:
            logger.warning(
                "Reading the schedule status of %s failed: %r", self.function.name, error
            )
            return False
        if status is None:
            return False
        self._last = status.last
        return utc_now() - status.next > LATE_TOLERANCE

    async def _record(self, upcoming: datetime) -> None:
        if self._monitor is None:
            return
        try:
            await self._monitor.write(
                self.function.name,
                ScheduleStatus(last=self._last, next=upcoming, last_updated=utc_now()),
            )
        except Exception as error:
            logger.warning(
                "Recording the schedule status of %s failed: %r", self.function.name, error
            )

    async def _sleep_until(self, moment: datetime) -> None:
        while not self._stopping.is_set():
            remaining = (moment - utc_now()).total_seconds()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=remaining)

    def stop(self) -> None:
        """Stop scheduling; an invocation already running is awaited by the host."""
        self._stopping.set()

    async def close(self) -> None:
        """Release the monitor's Table client."""
        if self._monitor is not None:
            await self._monitor.close()
