"""The names the app's telemetry uses (span and metric attributes, metrics, events); the alerts
and docs/operations.md query these names. Their values (outcomes and results) are
:mod:`guest_onboarding.domain.outcomes`."""

from __future__ import annotations

SCOPE = "guest_onboarding"

#: Span and metric attributes: the only ones the app sets.
OUTCOME = "guest_onboarding.outcome"
RESULT = "guest_onboarding.result"
STEP = "guest_onboarding.step"
STEP_KIND = "guest_onboarding.step.kind"
TARGET = "guest_onboarding.step.target"
GUEST = "guest_onboarding.guest"  # masked: a***@fabrikam.example
GUEST_REF = "guest_onboarding.guest_ref"  # a hash of the canonical address (a correlation key)
EXTERNAL_REF = "guest_onboarding.external_ref"  # a hash of HR's external id
REMINDER_NUMBER = "guest_onboarding.reminder.number"
ERROR_TYPE = "error.type"  # our rejection code or Graph's error code
#: What asked for an offboarding: ``hr`` (a message), ``end_date`` (the sweep), ``release`` (an
#: operator released a held one).
TRIGGER = "guest_onboarding.offboarding.trigger"
QUEUE = "messaging.destination.name"
MESSAGE_ID = "messaging.message.id"
DELIVERY_COUNT = "messaging.message.delivery_count"
#: On a span link: what the link is (``queued_by``: the step its message claims queued it).
LINK = "guest_onboarding.link"
QUEUED_BY = "queued_by"

#: The app's metrics (docs/operations.md).
INVITATIONS = "guest_onboarding.invitations"
REMINDERS = "guest_onboarding.reminders"
REDEMPTIONS = "guest_onboarding.redemptions"
TIME_TO_REDEEM = "guest_onboarding.time_to_redeem"
STEPS = "guest_onboarding.steps"
POISONED = "guest_onboarding.poisoned"
GRAPH_THROTTLED = "guest_onboarding.graph.throttled"
GRAPH_RETRY_AFTER = "guest_onboarding.graph.retry_after"
MESSAGE_AGE = "guest_onboarding.queue.message_age"
OFFBOARDINGS = "guest_onboarding.offboardings"
REMOVALS = "guest_onboarding.removals"

_HOUR, _DAY = 3600.0, 86400.0
#: Histogram buckets (seconds): redemption takes hours to weeks, a message waits seconds to hours.
TIME_TO_REDEEM_BUCKETS = tuple(
    [_HOUR, 6 * _HOUR]
    + [d * _DAY for d in (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 60.0, 90.0)]
)
MESSAGE_AGE_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, _HOUR, 6 * _HOUR)
RETRY_AFTER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

#: The sweep span's event for each guest found redeemed (a row of `traces` in Application Insights).
REDEEMED_EVENT = "guest_onboarding.redeemed"
TIME_TO_REDEEM_ATTRIBUTE = "guest_onboarding.time_to_redeem_seconds"
