"""The assignment steps: ``queue_steps``, the fan-out an invitation ends with (one step per
group, app role and sponsor link, recorded in the ledger before it is queued), and
``perform_assignment``, one step carried out. "Already there" is success; a step the ledger
records as done never reaches Graph again."""

from __future__ import annotations

from collections.abc import Mapping

from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import ONBOARDED, StepStatus
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import AlreadyDone, InvalidMessage
from guest_onboarding.internal_messages import (
    AppRoleAssignment,
    AssignmentStep,
    GroupMembership,
    SponsorLink,
    assignment_steps,
)
from guest_onboarding.ports import Directory, Ledger, Outbox


async def queue_steps(
    cmd: InvitationCommand,
    user_id: str,
    done: Mapping[str, StepStatus],
    *,
    link_sponsors: bool,
    ledger: Ledger,
    outbox: Outbox,
) -> int:
    """Queue every step of ``cmd`` for ``user_id`` not ``done`` yet (and, ``link_sponsors``,
    one per sponsor); the new ones are recorded as queued first, since ``perform_assignment``
    acts only on steps the ledger records. The number queued."""
    steps = assignment_steps(cmd, user_id, link_sponsors=link_sponsors)
    steps = [s for s in steps if done.get(s.key) != StepStatus.DONE]
    new = {s.key: StepStatus.QUEUED for s in steps if s.key not in done}
    if new:
        await ledger.update(cmd.email, StepsRecorded(steps=new))
    for step in steps:
        await outbox.queue_assignment(step)
    return len(steps)


async def perform_assignment(
    step: AssignmentStep,
    *,
    policy: Policy,
    link_sponsors: bool,
    directory: Directory,
    ledger: Ledger,
) -> Outcome:
    """Carry out one step, after checking it again: anyone who can write to the assignments
    queue could have written it. The target must be on the allow-lists, the user must be the one
    the ledger recorded for that address, and the step one that ``invite_fn`` queued for them
    (``InvalidMessage`` otherwise, before any Graph call). Graph errors propagate: the retry
    rules decide what comes next, and the entrypoint records the step as failed when they give
    up."""
    match step:
        case GroupMembership():
            policy.check_group(step.groupId)
        case AppRoleAssignment():
            policy.check_app_role(step.role)
        case SponsorLink():
            if not link_sponsors:
                raise InvalidMessage("SponsorLinkDisabled", "ADD_SPONSORS_TO_EXISTING_USERS is off")
    entry = await ledger.get(step.email)
    if entry is None or entry.status not in ONBOARDED or entry.user_id is None:
        raise InvalidMessage("UnknownGuest", "the ledger records no onboarded guest for the step")
    if entry.user_id.lower() != step.userId.lower():
        raise InvalidMessage(
            "UserMismatch", "the step's user is not the one the ledger records for the address"
        )
    if step.key not in entry.steps:
        raise InvalidMessage("UnknownStep", "no invitation queued this step for the guest")
    if isinstance(step, SponsorLink) and (
        entry.invitation is None or step.sponsorId.lower() not in entry.invitation.sponsors
    ):
        raise InvalidMessage("UnknownStep", "the ledger records no such sponsor for the guest")
    if entry.steps[step.key] == StepStatus.DONE:
        return Outcome.ALREADY_DONE
    try:
        await _call(step, directory)
        result = Outcome.DONE
    except AlreadyDone:
        result = Outcome.ALREADY_DONE
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
        case SponsorLink():
            await directory.add_sponsor(user_id=step.userId, sponsor_id=step.sponsorId)


async def record_step_failed(step: AssignmentStep, *, ledger: Ledger) -> None:
    """The step will not be tried again (refused, or out of attempts)."""
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.FAILED}))
