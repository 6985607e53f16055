"""Metrics and the outcome attributes of a step's span, recorded where outcomes are known."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

from guest_onboarding.domain.outcomes import Outcome, Result
from guest_onboarding.telemetry.names import (
    ERROR_TYPE,
    EXTERNAL_REF,
    GRAPH_RETRY_AFTER,
    GRAPH_THROTTLED,
    GUEST,
    GUEST_REF,
    INVITATIONS,
    MESSAGE_AGE,
    OFFBOARDINGS,
    OUTCOME,
    POISONED,
    QUEUE,
    REDEEMED_EVENT,
    REDEMPTIONS,
    REMINDER_NUMBER,
    REMINDERS,
    REMOVALS,
    RESULT,
    SCOPE,
    STEP,
    STEP_KIND,
    STEPS,
    TARGET,
    TIME_TO_REDEEM,
    TIME_TO_REDEEM_ATTRIBUTE,
    TRIGGER,
)

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

_meter = metrics.get_meter(SCOPE)
_invitations = _meter.create_counter(
    INVITATIONS,
    unit="{invitation}",
    description="Invitations sent to new guests, by outcome (invited; reinvited: an earlier "
    "invitation's guest never appeared, so the guest was invited again)",
)
_reminders = _meter.create_counter(
    REMINDERS, unit="{reminder}", description="Reminder invitations re-sent, by reminder number"
)
_redemptions = _meter.create_counter(
    REDEMPTIONS, unit="{guest}", description="Guests the sweep found redeemed"
)
_time_to_redeem = _meter.create_histogram(
    TIME_TO_REDEEM, unit="s", description="From the first invitation to redemption"
)
_steps = _meter.create_counter(
    STEPS,
    unit="{step}",
    description="Deliveries handled, by step (invite, assign, reminder), assignment kind and "
    "result (done, failed, retried, skipped)",
)
_poisoned = _meter.create_counter(
    POISONED, unit="{message}", description="Messages moved to <queue>-poison, by error code"
)
_graph_throttled = _meter.create_counter(
    GRAPH_THROTTLED, unit="{response}", description="Graph answers 429 Too Many Requests"
)
_graph_retry_after = _meter.create_histogram(
    GRAPH_RETRY_AFTER, unit="s", description="Retry-After of Graph's 429 answers"
)
_offboardings = _meter.create_counter(
    OFFBOARDINGS,
    unit="{offboarding}",
    description="Offboardings asked for, by outcome (offboarding: admitted; brake_engaged: the "
    "brake went on with this one, an alert; held; discarded; not_onboarded; not_a_guest; "
    "already_offboarded) and trigger (hr, end_date, release)",
)
_removals = _meter.create_counter(
    REMOVALS,
    unit="{removal}",
    description="Group memberships and app role assignments this app removed (leavers, movers), "
    "by kind and outcome (done; already_done: gone already)",
)
#: The assignment step kinds that remove access (``internal_messages``).
REMOVAL_KINDS = frozenset({"removeGroup", "removeAppRole"})
_message_age = _meter.create_histogram(
    MESSAGE_AGE, unit="s", description="Time from enqueue to dequeue (deliberate delays included)"
)

#: Log-line fields that become span attributes (all masked or hashed by the entrypoints).
_SPAN_FIELDS = {
    "guest": GUEST,
    "guest_ref": GUEST_REF,
    "external_ref": EXTERNAL_REF,
    "kind": STEP_KIND,
    "target": TARGET,
    "reminder": REMINDER_NUMBER,
    "error": ERROR_TYPE,
    "trigger": TRIGGER,
}


#: An error code as rules and Graph write them (``InvalidJson``, ``Request_BadRequest``).
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,79}$")
#: What stands for an error that is not a code: an exception's message, which may quote anything.
UNEXPECTED = "Unexpected"


def error_code(value: object) -> str | None:
    """``value`` if it is an error code, else :data:`UNEXPECTED` (None for no error)."""
    if value is None:
        return None
    return str(value) if _CODE.match(str(value)) else UNEXPECTED


def record_outcome(step: str, outcome: Outcome, fields: Mapping[str, Any]) -> None:
    """A delivery ended with ``outcome``: annotate its span and count it. ``fields`` are the
    step's log-line fields (``guest`` masked, ``external_ref`` hashed, ``kind``, ``target``,
    ``reminder``, ``error``); nothing else is recorded, and an ``error`` that is not a code (an
    exception's message) is recorded as :data:`UNEXPECTED`.

    Dimensions of ``guest_onboarding.steps`` (docs/operations.md; the alerts filter on them):
    ``guest_onboarding.step``, ``guest_onboarding.outcome``, ``guest_onboarding.result``,
    ``guest_onboarding.step.kind`` for assignment steps, and ``error.type`` where the outcome
    carries an error code (failures, ``tenant_stop``)."""
    span = trace.get_current_span()
    result = outcome.result
    code = error_code(fields.get("error"))
    fields = {**fields, "error": code}
    if span.is_recording():
        span.update_name(step)
        span.set_attribute(STEP, step)
        span.set_attribute(OUTCOME, outcome.value)
        span.set_attribute(RESULT, result.value)
        for name, attribute in _SPAN_FIELDS.items():
            value = fields.get(name)
            if isinstance(value, str | int):
                span.set_attribute(attribute, value)
        if outcome.is_error:
            span.set_status(Status(StatusCode.ERROR, code or outcome.value))
    dimensions: dict[str, AttributeValue] = {
        STEP: step,
        OUTCOME: outcome.value,
        RESULT: result.value,
    }
    if isinstance(fields.get("kind"), str):
        dimensions[STEP_KIND] = fields["kind"]
    if outcome.carries_error_code:
        dimensions[ERROR_TYPE] = code or UNEXPECTED
    _steps.add(1, dimensions)
    if result == Result.FAILED:
        _poisoned.add(1, {STEP: step, ERROR_TYPE: code or UNEXPECTED})
    if step == "offboard":
        record_offboarding(outcome, str(fields.get("trigger") or "hr"))
    if fields.get("kind") in REMOVAL_KINDS and result == Result.DONE:
        _removals.add(1, {STEP_KIND: str(fields["kind"]), OUTCOME: outcome.value})
    if outcome in (Outcome.INVITED, Outcome.REINVITED, Outcome.EMAILED):
        _invitations.add(1, {OUTCOME: outcome.value})
    elif outcome == Outcome.SENT:
        _reminders.add(1, {REMINDER_NUMBER: int(fields.get("reminder") or 0)})


def record_offboarding(outcome: Outcome, trigger: str) -> None:
    """One offboarding asked for (``guest_onboarding.offboardings``); the alert on the brake
    counts those with outcome ``brake_engaged`` (infra/app/alerts.bicep)."""
    _offboardings.add(1, {OUTCOME: outcome.value, TRIGGER: trigger})


def record_message_age(queue: str, inserted_at: datetime | None, now: datetime) -> None:
    """How long the message waited on ``queue`` (re-queued copies include their delay)."""
    if inserted_at is None:
        return
    if inserted_at.tzinfo is None:
        inserted_at = inserted_at.replace(tzinfo=now.tzinfo)
    _message_age.record(max(0.0, (now - inserted_at).total_seconds()), {QUEUE: queue})


def record_sweep(
    counts: Mapping[str, int],
    redemptions: Iterable[tuple[str, str, float | None]],
    offboardings: Iterable[Outcome] = (),
) -> None:
    """The sweep's summary on its span; each redemption (masked guest, guest ref, seconds since
    the first invitation) as an event of the span and in the metrics; each end date's
    offboarding in ``guest_onboarding.offboardings`` (trigger ``end_date``)."""
    for outcome in offboardings:
        record_offboarding(outcome, "end_date")
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(STEP, "sweep")
        span.set_attribute(OUTCOME, Outcome.FINISHED.value)
        for name, value in counts.items():
            span.set_attribute(f"guest_onboarding.sweep.{name}", value)
        if counts.get("errors"):
            span.set_status(Status(StatusCode.ERROR, "some guests failed"))
    _steps.add(1, {STEP: "sweep", OUTCOME: Outcome.FINISHED.value, RESULT: Result.DONE.value})
    if counts.get("redeemed"):
        _redemptions.add(counts["redeemed"])
    for guest, guest_ref, seconds in redemptions:
        attributes: dict[str, AttributeValue] = {GUEST: guest, GUEST_REF: guest_ref}
        if seconds is not None:
            _time_to_redeem.record(max(0.0, seconds))
            attributes[TIME_TO_REDEEM_ATTRIBUTE] = max(0.0, seconds)
        if span.is_recording():
            span.add_event(REDEEMED_EVENT, attributes)


def record_graph_throttled(retry_after_seconds: float) -> None:
    """Graph answered 429, asking to wait ``retry_after_seconds``."""
    _graph_throttled.add(1)
    _graph_retry_after.record(retry_after_seconds)
