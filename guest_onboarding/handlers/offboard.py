"""offboard_guest: one leaver (HR's ``"action": "offboard"``, an end date the sweep found, or
an operator's release of a held offboarding). The ledger says what this app granted; the brake
says whether offboarding may go on; the rest is steps on the assignments queue, each carried
out once by ``assign_fn`` (:mod:`.remove`).

1. Nothing of this app's at the address (no row, a refused or vanished user): ``not_onboarded``.
   A member of the tenant is never touched: ``not_a_guest``.
2. Under way or finished already: the steps not finished are queued again (a redelivery after a
   crash), nothing else.
3. The brake (``domain.brake``): past ``OFFBOARD_THRESHOLD`` this hour, the offboarding is held
   in its row (``brake_engaged`` for the one that engaged it, then ``held``) until an operator
   releases or discards it (``guest-onboarding release``).
4. Admitted: the row becomes ``offboarding`` (etag-checked, one history line), every grant this
   app made becomes ``removing`` and the account's steps (revoke sessions, disable sign-in) are
   queued; the last step to finish writes ``offboarded`` (:func:`finish_offboarding`). On a
   guest this app invited, the profile attributes this app set are recorded as cleared and the
   profile step queued (``domain.profile.profile_to_clear``): dynamic groups that matched them
   drop the guest (not a condition of ``offboarded``: a failed one is in poison with its reason).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guest_onboarding.domain import brake as brakes
from guest_onboarding.domain import movers, offboarding
from guest_onboarding.domain.addresses import pseudonym
from guest_onboarding.domain.invitation import PROFILE_STEP_KEY, OffboardCommand
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus, invited_recently
from guest_onboarding.domain.offboarding import (
    HoldCleared,
    OffboardAction,
    Offboarded,
    OffboardHeld,
)
from guest_onboarding.domain.offboarding import OffboardingStarted as Started
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.profile_changes import OffboardingClearsProfile
from guest_onboarding.errors import LedgerContention
from guest_onboarding.handlers.step_keys import step_for_key
from guest_onboarding.internal_messages import HeldOffboarding
from guest_onboarding.ports import Directory, Ledger, Outbox

#: Etag-checked attempts on the brake's record before the message is delivered again.
BRAKE_ATTEMPTS = 8
#: An offboarding that met an invitation under way (or a user not replicated) comes back.
RECHECK_SECONDS = 15.0

log = logging.getLogger("guest_onboarding")


@dataclass(frozen=True, kw_only=True)
class OffboardSettings:
    """The settings an offboarding decides with."""

    action: OffboardAction
    #: Offboardings admitted per hour before the brake holds the rest (``OFFBOARD_THRESHOLD``).
    threshold: int
    #: A user invited this recently may not show in the directory yet: not "gone".
    replication_wait: timedelta


@dataclass(frozen=True, kw_only=True)
class OffboardOutcome:
    outcome: Outcome
    steps_queued: int = 0
    #: For the delivery's log line and telemetry: what asked for it (``hr``, ``release``).
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Offboarding:
    """What one offboarding works with."""

    settings: OffboardSettings
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    clock: Callable[[], datetime]


async def offboard_message(
    message: OffboardCommand | HeldOffboarding, *, raw_body: str, run: Offboarding
) -> OffboardOutcome:
    """An offboarding from the invitations queue: HR's (``"action": "offboard"``), or a held one
    an operator's decision settles (``guest-onboarding release``). Deferred (an invitation under
    way, a user not replicated yet), ``raw_body`` goes back on the queue."""
    if isinstance(message, HeldOffboarding):
        left = await settle_held_offboarding(message.email, message.heldAt, run=run)
        fields = {"trigger": "release"}
    else:
        left = await offboard_guest(message.email, run=run)
        ref = pseudonym(message.external_id)
        fields = {"trigger": "hr", **({"external_ref": ref} if ref else {})}
    if left.outcome == Outcome.DEFERRED:
        await run.outbox.requeue_invitation(raw_body, delay_seconds=RECHECK_SECONDS)
    return dataclasses.replace(left, fields=fields)


async def offboard_guest(
    email: str, *, run: Offboarding, settling: bool = False
) -> OffboardOutcome:
    """Offboard the guest at ``email`` (see the module docstring). ``DEFERRED`` when the row is
    being invited right now (the caller puts the message back). ``settling``: an operator's
    decision on the row's hold, which may be a mover's held removals."""
    entry = await run.ledger.get(email)
    if entry is None:
        return OffboardOutcome(outcome=Outcome.NOT_ONBOARDED)
    if entry.status == GuestStatus.INVITING:
        return OffboardOutcome(outcome=Outcome.DEFERRED)  # an invitation is under way
    if entry.status in offboarding.LEAVING:
        queued = await queue_pending_steps(entry, outbox=run.outbox)
        return OffboardOutcome(outcome=Outcome.ALREADY_OFFBOARDED, steps_queued=queued)
    if entry.status not in offboarding.OFFBOARDABLE or entry.user_id is None:
        return OffboardOutcome(outcome=Outcome.NOT_ONBOARDED)
    user = await run.directory.get_user(entry.user_id)
    if user is None:
        if invited_recently(entry, now=run.clock(), wait=run.settings.replication_wait):
            return OffboardOutcome(outcome=Outcome.DEFERRED)  # not replicated yet: not gone
        return OffboardOutcome(outcome=Outcome.NOT_ONBOARDED)  # the sweep records it removed
    if user.is_member:
        return OffboardOutcome(outcome=Outcome.NOT_A_GUEST)
    if (held_at := entry.offboard_held_at) is not None:
        if entry.mover_held and not settling:  # an offboarding supersedes a held move
            entry = await _hold_as_offboarding(run, entry, held_at)
        return await _settle(run, entry, held_at)
    verdict = await ask_brake(run.ledger, email, now=run.clock(), threshold=run.settings.threshold)
    if verdict == brakes.Verdict.ADMITTED:
        return await _start(run, entry)
    held = OffboardHeld(offboard_held_at=run.clock())
    if not await run.ledger.update(email, held, etag=entry.etag):
        raise LedgerContention("the guest's ledger row changed while the brake held it")
    engaged = verdict == brakes.Verdict.ENGAGED
    return OffboardOutcome(outcome=Outcome.BRAKE_ENGAGED if engaged else Outcome.HELD)


async def settle_held_offboarding(
    email: str, held_at: datetime, *, run: Offboarding
) -> OffboardOutcome:
    """An operator decided on held offboardings (``guest-onboarding release``): the one held in
    ``email``'s row at ``held_at`` goes ahead, is dropped, or (no decision for it yet) waits.
    A row not held at that time is left alone (``skipped``)."""
    entry = await run.ledger.get(email)
    if entry is None or entry.offboard_held_at != held_at:
        return OffboardOutcome(outcome=Outcome.SKIPPED)
    return await offboard_guest(email, run=run, settling=True)


async def _hold_as_offboarding(run: Offboarding, entry: LedgerEntry, at: datetime) -> LedgerEntry:
    if not await run.ledger.update(entry.email, OffboardHeld(offboard_held_at=at), etag=entry.etag):
        raise LedgerContention("the guest's ledger row changed while the brake held it")
    fresh = await run.ledger.get(entry.email)
    if fresh is None:
        raise LedgerContention("the guest's ledger row went while the brake held it")
    return fresh


async def _settle(run: Offboarding, entry: LedgerEntry, held_at: datetime) -> OffboardOutcome:
    """A held offboarding, as the operators' decision for it says."""
    decision = brakes.decision_for(await run.ledger.brake(), held_at)
    if decision is None:
        return OffboardOutcome(outcome=Outcome.HELD)
    if decision == brakes.Decision.RELEASE and entry.mover_held:
        return await _release_mover(run, entry)
    if decision == brakes.Decision.RELEASE:
        return await _start(run, entry)  # released: it does not count towards the threshold
    if not await run.ledger.update(entry.email, HoldCleared(), etag=entry.etag):
        raise LedgerContention("the guest's ledger row changed while discarding its offboarding")
    return OffboardOutcome(outcome=Outcome.DISCARDED)


async def ask_brake(ledger: Ledger, email: str, *, now: datetime, threshold: int) -> brakes.Verdict:
    """The brake's verdict on one more offboarding (or a mover's removals), recorded
    (etag-checked) in its record."""
    for _ in range(BRAKE_ATTEMPTS):
        verdict, written = brakes.admit(await ledger.brake(), email, now=now, threshold=threshold)
        if written is None or await ledger.write_brake(written):
            return verdict
    raise LedgerContention("the offboarding brake's record kept changing")


async def _release_mover(run: Offboarding, entry: LedgerEntry) -> OffboardOutcome:
    """A mover's held removals released: only those go (the account is left as it is)."""
    assert entry.user_id is not None
    keys = movers.mover_release(entry)
    released = movers.MoverReleased(steps=dict.fromkeys(keys, StepStatus.REMOVING))
    if not await run.ledger.update(entry.email, released, etag=entry.etag):
        raise LedgerContention("the guest's ledger row changed while releasing its removals")
    for key in keys:
        step = step_for_key(
            entry.email, entry.user_id, key, leave_date=None, external_id=entry.external_id
        )
        await run.outbox.queue_assignment(step)
    return OffboardOutcome(outcome=Outcome.MOVED, steps_queued=len(keys))


async def _start(run: Offboarding, entry: LedgerEntry) -> OffboardOutcome:
    """The offboarding goes ahead: recorded, then its steps queued."""
    assert entry.user_id is not None
    plan = offboarding.plan_offboarding(entry, run.settings.action)
    now = run.clock()
    started = OffboardingClearsProfile.of(
        Started(offboard_started_at=now, offboard_action=plan.action, steps=plan.steps, at=now),
        entry,
    )
    if not await run.ledger.update(entry.email, started, etag=entry.etag):
        raise LedgerContention("the guest's ledger row changed as the offboarding started")
    clears = (PROFILE_STEP_KEY,) if isinstance(started, OffboardingClearsProfile) else ()
    for key in (*plan.queued, *clears):
        step = step_for_key(
            entry.email, entry.user_id, key, leave_date=None, external_id=entry.external_id
        )
        await run.outbox.queue_assignment(step)
    if not plan.queued:  # nothing granted, an account that is not this app's: finished now
        fresh = await run.ledger.get(entry.email)
        if fresh is not None:
            await finish_offboarding(fresh, ledger=run.ledger, now=now)
    return OffboardOutcome(outcome=Outcome.OFFBOARDING, steps_queued=len(plan.queued))


async def queue_pending_steps(entry: LedgerEntry, *, outbox: Outbox) -> int:
    """Queue again the steps the row still waits for (a redelivery after a crash between the
    row's write and the queueing); one that finished meanwhile does nothing a second time."""
    if entry.user_id is None:
        return 0
    pending = offboarding.pending_steps(entry)
    for key in pending:
        step = step_for_key(
            entry.email,
            entry.user_id,
            key,
            leave_date=entry.access_ends_on,
            external_id=entry.external_id,
        )
        await outbox.queue_assignment(step)
    return len(pending)


async def finish_offboarding(row: LedgerEntry, *, ledger: Ledger, now: datetime) -> bool:
    """Write ``offboarded`` once every step of the offboarding is done (etag-checked: of the
    steps finishing together, one writes it). True when this call wrote it."""
    current: LedgerEntry | None = row
    for _ in range(BRAKE_ATTEMPTS):
        if current is None or not offboarding.offboarding_finished(current):
            return False
        action = current.offboard_action
        disables = action not in (None, offboarding.GRANTS_ONLY) and (
            OffboardAction(action).disables
        )
        done = Offboarded(offboarded_at=now, disabled_at=now if disables else None, at=now)
        if await ledger.update(current.email, done, etag=current.etag):
            return True
        current = await ledger.get(current.email)
    raise LedgerContention("the guest's ledger row kept changing")
