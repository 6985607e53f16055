"""What a later HR message changes for a guest this app knows (the mover, the returning person),
for ``invite_guest``: an end date moved, access no longer named removed (``exact``), an
offboarding the brake holds cleared, an offboarded guest brought back, the leave date written
on the user. Removals, enabling and the leave date are steps on the assignments queue, carried
out by :mod:`.remove`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from guest_onboarding.domain import changes, movers, offboarding
from guest_onboarding.domain.brake import Verdict
from guest_onboarding.domain.invitation import (
    AccessMode,
    InvitationCommand,
    app_role_step_key,
    group_step_key,
)
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus
from guest_onboarding.errors import InvalidMessage, LedgerContention
from guest_onboarding.handlers.offboard import ask_brake
from guest_onboarding.handlers.step_keys import account_step, removal_step
from guest_onboarding.ports import Directory, Ledger, Outbox

#: An onboarding message for a guest whose offboarding is under way waits for it this long,
#: checking again every ``OFFBOARDING_RECHECK_SECONDS``; past that the offboarding is stuck (a
#: removal in poison) and the message goes to poison too (``OffboardingIncomplete``), to replay
#: once it is fixed.
OFFBOARDING_PATIENCE = timedelta(hours=1)
OFFBOARDING_RECHECK_SECONDS = 30.0


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """The deployment's joiner-mover-leaver settings an onboarding message is read with."""

    #: What a message's groups and app roles mean when it does not say (``ACCESS_MODE``).
    access_mode: AccessMode = AccessMode.ADD
    #: Write HR's end date on the user too (``SET_EMPLOYEE_LEAVE_DATE``).
    leave_dates: bool = False
    #: A mover's removals count as an offboarding against the brake (``OFFBOARD_THRESHOLD``).
    threshold: int = 10


class Comeback(Enum):
    """Why an offboarded guest was not brought back by :func:`bring_back`."""

    GONE = "gone"  # the user is gone from the directory: onboard afresh
    RACED = "raced"  # another delivery wrote the row first: try again later


async def record_latest_word(
    cmd: InvitationCommand,
    entry: LedgerEntry,
    user_id: str,
    *,
    lifecycle: Lifecycle,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> int:
    """HR's latest word for a guest already onboarded: it clears an offboarding (or a move) the
    brake holds (etag-checked), moves (or removes) the end date, and, stating the whole access
    (``exact``, and only a message that carries groups, profiles or app roles), has what this
    app granted and the message no longer names removed, each by a step, through the brake like
    an offboarding (held, while it is on, until an operator decides). The removals queued."""
    if entry.offboard_held_at is not None:
        held = await ledger.get(cmd.email)  # earlier writes of this delivery changed the etag
        if held is None or not await ledger.update(
            cmd.email, offboarding.HoldCleared(), etag=held.etag
        ):
            raise LedgerContention("the guest's ledger row changed as its hold was cleared")
    if cmd.ends_on_given and entry.access_ends_on != cmd.access_ends_on:
        ends = offboarding.AccessEndRecorded(access_ends_on=cmd.access_ends_on)
        await ledger.update(cmd.email, ends)
    exact = (cmd.access_mode or lifecycle.access_mode) == AccessMode.EXACT
    if not (exact and cmd.access_given):
        return 0
    wanted = [group_step_key(g) for g in cmd.groups]
    wanted += [app_role_step_key(r.resource_id, r.app_role_id) for r in cmd.app_roles]
    removals = movers.mover_removals(entry.steps, wanted)
    if not removals:
        return 0
    if await ask_brake(ledger, cmd.email, now=now, threshold=lifecycle.threshold) != (
        Verdict.ADMITTED
    ):
        held_move = movers.MoverHeld(offboard_held_at=now, mover_held=removals)
        await ledger.update(cmd.email, held_move)
        return 0
    decided = dict.fromkeys(removals, StepStatus.REMOVING)
    await ledger.update(cmd.email, changes.StepsRecorded(steps=decided))
    for key in removals:
        await outbox.queue_assignment(
            removal_step(cmd.email, user_id, key, external_id=cmd.external_id)
        )
    return len(removals)


def check_offboarding_not_stuck(entry: LedgerEntry, *, now: datetime) -> None:
    """``OffboardingIncomplete`` when the guest's offboarding has been under way longer than
    ``OFFBOARDING_PATIENCE`` (a removal step in poison): the waiting message gives up."""
    started = entry.offboard_started_at
    if started is not None and now - started > OFFBOARDING_PATIENCE:
        raise InvalidMessage(
            "OffboardingIncomplete",
            "the guest's offboarding has not finished (see its steps in status and the "
            "assignments poison queue); replay this message once it has",
        )


async def bring_back(
    cmd: InvitationCommand,
    entry: LedgerEntry,
    user_id: str,
    *,
    sponsor_contact: str | None,
    now: datetime,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
) -> int | Comeback:
    """An offboarded guest onboarded again: a new lifecycle of the same user in its row (the
    history kept), and sign-in enabled again by a step if their offboarding disabled it. No
    email: the invitation they had still holds. The steps queued (their access is the caller's
    fan-out), or why not."""
    user = await directory.get_user(user_id)
    if user is None:
        return Comeback.GONE
    row = offboarding.returning_row(
        cmd, entry, redeemed=user.has_redeemed, now=now, sponsor_contact=sponsor_contact
    )
    if entry.etag is None or not await ledger.take_over(row, etag=entry.etag):
        return Comeback.RACED
    if entry.disabled_at is None:
        return 0
    key = offboarding.ENABLE_SIGN_IN
    await ledger.update(cmd.email, changes.StepsRecorded(steps={key: StepStatus.QUEUED}))
    await outbox.queue_assignment(account_step(cmd.email, user_id, key, external_id=None))
    return 1


async def queue_leave_date(
    cmd: InvitationCommand, user_id: str, *, ledger: Ledger, outbox: Outbox
) -> int:
    """The end date the message gave, written on the user too (``employeeLeaveDateTime``) by a
    step the ledger records; the step carries the date and does nothing once the row holds
    another (a later message queued its own)."""
    if not cmd.ends_on_given:
        return 0
    key = offboarding.LEAVE_DATE
    await ledger.update(cmd.email, changes.StepsRecorded(steps={key: StepStatus.QUEUED}))
    step = account_step(
        cmd.email, user_id, key, leave_date=cmd.access_ends_on, external_id=cmd.external_id
    )
    await outbox.queue_assignment(step)
    return 1
