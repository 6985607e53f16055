"""What became of one delivery (or one sweep): the single vocabulary the handlers return, the
entrypoints log (``"outcome"``) and telemetry records (the ``guest_onboarding.outcome``
dimension, with its ``guest_onboarding.result``). docs/operations.md lists every value, and the
alerts of infra/app/alerts.bicep filter on them: a value is renamed there too, or not at all.
"""

from __future__ import annotations

from enum import StrEnum


class Result(StrEnum):
    """What an outcome means for the message (``guest_onboarding.result``)."""

    DONE = "done"  # its work is done (or was already)
    SKIPPED = "skipped"  # nothing was due
    RETRIED = "retried"  # back on its queue for later (the designed flow, or after an error)
    FAILED = "failed"  # ended without its work: in <queue>-poison with the reason


class Outcome(StrEnum):
    """What one delivery did."""

    # invite: an HR message
    INVITED = "invited"  # a new guest, invited now
    REINVITED = "reinvited"  # invited again: an earlier invitation's guest never appeared
    EXISTING = "existing"  # the address already had a user: no email, steps only
    ALREADY_ONBOARDED = "already_onboarded"  # the ledger's guest: missing steps only
    EMAILED = "emailed"  # invited without an email before; this message asked for it: sent now
    RETURNED = "returned"  # an offboarded guest onboarded again: enabled, access granted again
    # invite: an offboarding (HR's, an end date's, or an operator's release)
    OFFBOARDING = "offboarding"  # admitted: the removal and account steps are queued
    ALREADY_OFFBOARDED = "already_offboarded"  # under way or finished already: nothing new
    NOT_ONBOARDED = "not_onboarded"  # no guest of this app's at that address: nothing to do
    NOT_A_GUEST = "not_a_guest"  # the address is a member of the tenant: never touched
    BRAKE_ENGAGED = "brake_engaged"  # one offboarding too many this hour: the brake is on (alert)
    HELD = "held"  # the brake is on: held until an operator releases or discards it
    DISCARDED = "discarded"  # an operator discarded the held offboarding: nothing removed
    MOVED = "moved"  # an operator released a mover's held removals: queued
    # assign: one step
    DONE = "done"
    ALREADY_DONE = "already_done"
    # reminder: one resend
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    NOT_SCHEDULED = "not_scheduled"
    SKIPPED = "skipped"
    # sweep
    FINISHED = "finished"
    # back on the queue
    DEFERRED = "deferred"  # another delivery holds the guest, or the directory lags
    THROTTLED = "throttled"  # Graph asked to wait (429, pacing, a tenant-wide stop in force)
    TENANT_STOP = "tenant_stop"  # this delivery met a tenant-wide stop and recorded it (alert)
    RETRYING = "retrying"  # a transient error: a copy comes back later (back-off, Storage outage)
    RETRY = "retry"  # a transient error: the queue delivers this message again
    # ended without its work
    REJECTED = "rejected"  # invalid input
    POISONED = "poisoned"  # refused by Graph, needs an operator, or out of attempts

    @property
    def result(self) -> Result:
        return _RESULTS.get(self, Result.DONE)

    @property
    def is_error(self) -> bool:
        """A failure, or a retry after an error (not throttling or deferral, which are the
        designed flow): the span's status is ERROR."""
        return self.result == Result.FAILED or self in (Outcome.RETRYING, Outcome.RETRY)

    @property
    def carries_error_code(self) -> bool:
        """Recorded with its error code as a metric dimension (``error.type``): failures, and
        the tenant-wide stop (Graph's code says which stop it is)."""
        return self.result == Result.FAILED or self == Outcome.TENANT_STOP


_RESULTS = {
    Outcome.NOT_SCHEDULED: Result.SKIPPED,
    Outcome.SKIPPED: Result.SKIPPED,
    # nothing was done, by design: no guest to offboard, or the brake holds it for an operator
    Outcome.NOT_ONBOARDED: Result.SKIPPED,
    Outcome.NOT_A_GUEST: Result.SKIPPED,
    Outcome.BRAKE_ENGAGED: Result.SKIPPED,
    Outcome.HELD: Result.SKIPPED,
    Outcome.DISCARDED: Result.SKIPPED,
    Outcome.DEFERRED: Result.RETRIED,
    Outcome.THROTTLED: Result.RETRIED,
    Outcome.TENANT_STOP: Result.RETRIED,
    Outcome.RETRYING: Result.RETRIED,
    Outcome.RETRY: Result.RETRIED,
    Outcome.REJECTED: Result.FAILED,
    Outcome.POISONED: Result.FAILED,
}
