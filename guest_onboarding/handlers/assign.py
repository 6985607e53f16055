"""perform_assignment: one fan-out step, a group membership or an app role. "Already there" is
success; a step the ledger records as done never reaches Graph again."""

from __future__ import annotations

from enum import StrEnum

from guest_onboarding.domain.ledger import StepsRecorded, StepStatus
from guest_onboarding.errors import AlreadyDone
from guest_onboarding.messages import AppRoleAssignment, AssignmentStep, GroupMembership
from guest_onboarding.ports import Directory, Ledger


class AssignResult(StrEnum):
    DONE = "done"
    ALREADY_DONE = "already_done"


async def perform_assignment(
    step: AssignmentStep, *, directory: Directory, ledger: Ledger
) -> AssignResult:
    """Carry out one step. Graph errors propagate: the retry policy decides what comes next,
    and the entrypoint records the step as failed when it gives up."""
    entry = await ledger.get(step.email)
    if entry is not None and entry.steps.get(step.key) == StepStatus.DONE:
        return AssignResult.ALREADY_DONE
    try:
        await _call(step, directory)
        result = AssignResult.DONE
    except AlreadyDone:
        result = AssignResult.ALREADY_DONE
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.DONE}))
    return result


async def _call(step: AssignmentStep, directory: Directory) -> None:
    match step:
        case GroupMembership():
            await directory.add_group_member(group_id=step.groupId, user_id=step.userId)
        case AppRoleAssignment():
            await directory.assign_app_role(
                user_id=step.userId, resource_id=step.resourceId, app_role_id=step.appRoleId
            )


async def record_step_failed(step: AssignmentStep, *, ledger: Ledger) -> None:
    """The step will not be tried again (refused, or out of attempts)."""
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.FAILED}))
