"""The retry rules, for both queues: what happens to a message whose handler raised.

- rejected input and permanent Graph refusals: poison now, with the reason;
- throttled (429), or invitations stopped for the whole tenant: back on the queue after
  Retry-After (the probe interval); never counted as a failure, never poisoned;
- transient Graph failures: back-off (a fresh copy, ``attempt`` + 1) where the message carries
  an attempt count (assignment steps), else the queue's own redelivery of the same message
  (invitations keep their message id, which their ledger claim is keyed on);
- transient Storage failures (down, busy, slow, a contended row): never poisoned, however long
  they last. The queue redelivers the same message (``visibilityTimeout`` apart) up to the
  second-to-last delivery ``maxDequeueCount`` allows; that one puts a fresh copy back, visible
  after ``STORE_RETRY_SECONDS`` and not counted as an attempt, which starts the cycle again.
  The last delivery is kept in reserve: if putting the copy back failed too (the queue itself
  down), it tries again. During a long outage every message waits on its queue, re-tried about
  once a minute, and carries on when Storage answers: nothing is lost;
- anything else: the queue's redelivery;
- on the last attempt (``max_attempts``, or ``maxDequeueCount`` for redeliveries): poison with
  the last error, so the reason is never lost (the host would poison without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from guest_onboarding.errors import (
    InvalidMessage,
    Paused,
    PermanentDirectoryError,
    PermanentStoreError,
    TransientDirectoryError,
    TransientStoreError,
)

#: Back-off between attempts of a transient failure: 1, 2, 4 ... seconds, at most this.
MAX_BACKOFF_SECONDS = 60.0
#: A message that met a Storage outage on all but its last delivery comes back this much later.
STORE_RETRY_SECONDS = 60.0


class Action(StrEnum):
    POISON = "poison"
    REQUEUE = "requeue"  # a copy, visible after ``delay``
    REDELIVER = "redeliver"  # raise: the queue shows the same message again


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    delay: float = 0.0
    counts_as_attempt: bool = True


def backoff_seconds(attempt: int) -> float:
    """Delay before retry ``attempt`` + 1 of a transient failure: 1, 2, 4 ... capped at 60 s."""
    return min(2.0**attempt, MAX_BACKOFF_SECONDS)


@dataclass(frozen=True, kw_only=True)
class RetryRules:
    """``max_attempts`` applies to messages that carry their attempt count; ``None`` means the
    queue's redelivery handles transient failures too."""

    max_dequeue_count: int
    max_attempts: int | None = None

    def decide(self, exc: BaseException, *, attempt: int, dequeue_count: int) -> Decision:
        """What to do with a message that failed with ``exc`` on its ``attempt`` (0-based,
        carried by the message) and ``dequeue_count`` (this copy's deliveries)."""
        if isinstance(exc, InvalidMessage | PermanentDirectoryError | PermanentStoreError):
            return Decision(action=Action.POISON)
        if isinstance(exc, TransientStoreError):
            if dequeue_count + 1 < self.max_dequeue_count:
                return Decision(action=Action.REDELIVER)
            return Decision(
                action=Action.REQUEUE, delay=STORE_RETRY_SECONDS, counts_as_attempt=False
            )
        if isinstance(exc, Paused):
            return Decision(action=Action.REQUEUE, delay=exc.retry_after, counts_as_attempt=False)
        if isinstance(exc, TransientDirectoryError) and self.max_attempts is not None:
            if attempt + 1 >= self.max_attempts:
                return Decision(action=Action.POISON)
            return Decision(action=Action.REQUEUE, delay=backoff_seconds(attempt))
        if dequeue_count < self.max_dequeue_count:
            return Decision(action=Action.REDELIVER)
        return Decision(action=Action.POISON)
