"""The steps that take access away, and the account's own steps: ``perform_removal`` (one group
membership or app role assignment this app granted, removed) and ``perform_account_step``
(revoke sessions, disable or enable sign-in, the leave date). Each acts only on what the ledger
records as decided for that guest: a forged step, one for another user, or one for a grant the
ledger does not record as this app's to remove is refused before any Graph call; a repeated one
finds its work done. Graph's "not found" means already gone: success."""

from __future__ import annotations

from datetime import datetime

from guest_onboarding.domain import offboarding
from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.ledger import ONBOARDED, GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.errors import InvalidMessage, NotFound
from guest_onboarding.handlers.offboard import finish_offboarding
from guest_onboarding.handlers.step_keys import grant_step
from guest_onboarding.handlers.step_records import record_step, step_is
from guest_onboarding.internal_messages import (
    AccountStep,
    AppRoleRemoval,
    GroupRemoval,
)
from guest_onboarding.ports import Directory, Ledger, Outbox

#: Rows a removal or an account step may act on: onboarded guests (a mover's removals, a
#: returning guest's enabling) and leaving ones.
_KNOWN = ONBOARDED | offboarding.LEAVING


async def _checked_row(
    step: GroupRemoval | AppRoleRemoval | AccountStep, ledger: Ledger
) -> LedgerEntry:
    """The guest's row, when it names the step's user and records the step (InvalidMessage
    otherwise: someone with send rights on the queue wrote it, or it is for another user)."""
    entry = await ledger.get(step.email)
    if entry is None or entry.status not in _KNOWN or entry.user_id is None:
        raise InvalidMessage("UnknownGuest", "the ledger records no onboarded guest for the step")
    if entry.user_id.lower() != step.userId.lower():
        raise InvalidMessage(
            "UserMismatch", "the step's user is not the one the ledger records for the address"
        )
    if step.key not in entry.steps:
        raise InvalidMessage("UnknownStep", "the ledger records no such step for the guest")
    return entry


async def perform_removal(
    step: GroupRemoval | AppRoleRemoval,
    *,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    now: datetime,
) -> Outcome:
    """Remove one grant the ledger records as this app's and as being removed (``removing``):
    ``done`` (removed), ``already_done`` (gone already, or removed by an earlier delivery)."""
    entry = await _checked_row(step, ledger)
    status = entry.steps[step.key]
    if status == StepStatus.REMOVED:
        await _finish(entry, ledger, now, read_again=False)  # another delivery removed it
        return Outcome.ALREADY_DONE
    if status == StepStatus.FOUND:
        raise InvalidMessage(
            "GrantedByOthers", "someone else granted this access: this app never removes it"
        )
    if status != StepStatus.REMOVING:
        raise InvalidMessage("UnknownStep", "the ledger records no removal of this grant")
    gone = await _remove(step, entry, directory)
    recorded = await record_step(
        ledger, entry, step.key, StepStatus.REMOVED, still=step_is(step.key, StepStatus.REMOVING)
    )
    row = recorded.row
    regranted = row is not None and row.steps.get(step.key) in (StepStatus.QUEUED, StepStatus.DONE)
    if not recorded.written and row is not None and row.status in ONBOARDED and regranted:
        # Granted again since the removal was decided (a later message named it): this
        # removal may have undone that grant, so it is made again.
        again = StepsRecorded(steps={step.key: StepStatus.QUEUED})
        await ledger.update(step.email, again)
        await outbox.queue_assignment(
            grant_step(step.email, step.userId, step.key, external_id=step.externalId)
        )
    await _finish(entry, ledger, now)
    return Outcome.ALREADY_DONE if gone else Outcome.DONE


async def _remove(
    step: GroupRemoval | AppRoleRemoval, entry: LedgerEntry, directory: Directory
) -> bool:
    """The Graph call; True when there was nothing to remove."""
    try:
        if isinstance(step, GroupRemoval):
            await directory.remove_group_member(group_id=step.groupId, user_id=step.userId)
            return False
        assignment = entry.grant_ids.get(step.key) or await directory.find_app_role_assignment(
            user_id=step.userId, resource_id=step.resourceId, app_role_id=step.appRoleId
        )
        if assignment is None:
            return True
        await directory.remove_app_role_assignment(
            resource_id=step.resourceId, assignment_id=assignment
        )
    except NotFound:
        return True
    return False


async def perform_account_step(
    step: AccountStep, *, directory: Directory, ledger: Ledger, now: datetime
) -> Outcome:
    """One step on the account the ledger records as queued for it: revoke its sessions,
    disable or enable sign-in, or set the leave date the row holds now (a step carrying an
    older date does nothing: the message that moved it queued its own)."""
    entry = await _checked_row(step, ledger)
    status = entry.steps[step.key]
    if status == StepStatus.DONE:
        await _finish(entry, ledger, now, read_again=False)
        return Outcome.ALREADY_DONE
    if status == StepStatus.CANCELLED or (
        step.action == "enable" and entry.status not in ONBOARDED
    ):
        return Outcome.SKIPPED  # an offboarding came after the comeback that queued it
    if status != StepStatus.QUEUED:
        raise InvalidMessage("UnknownStep", "the ledger records no such step as queued")
    if step.action == "leavedate" and step.leaveDate != entry.access_ends_on:
        return Outcome.SKIPPED
    if step.action in ("revoke", "disable") and entry.status != GuestStatus.OFFBOARDING:
        raise InvalidMessage("UnknownStep", "the guest is not being offboarded")
    assert entry.user_id is not None
    try:
        match step.action:
            case "revoke":
                await directory.revoke_sessions(entry.user_id)
            case "disable":
                await directory.set_account_enabled(entry.user_id, enabled=False)
            case "enable":
                await directory.set_account_enabled(entry.user_id, enabled=True)
            case "leavedate":
                await directory.set_leave_date(entry.user_id, step.leaveDate)
        outcome = Outcome.DONE
    except NotFound:
        outcome = Outcome.ALREADY_DONE  # the user is gone: nothing to revoke, disable, date

    def still(row: LedgerEntry) -> bool:
        queued = row.steps.get(step.key) == StepStatus.QUEUED
        return queued and (step.action != "leavedate" or row.access_ends_on == step.leaveDate)

    await record_step(ledger, entry, step.key, StepStatus.DONE, still=still)
    await _finish(entry, ledger, now)
    return outcome


async def _finish(
    entry: LedgerEntry, ledger: Ledger, now: datetime, *, read_again: bool = True
) -> None:
    """Write ``offboarded`` when this was the offboarding's last step (``entry``: the row as
    this step read it; the row is read again after this step's own write)."""
    if entry.status != GuestStatus.OFFBOARDING:
        return  # a mover's removal, an enabling, a leave date: no offboarding to finish
    row = await ledger.get(entry.email) if read_again else entry
    if row is not None and offboarding.offboarding_finished(row):
        await finish_offboarding(row, ledger=ledger, now=now)
