"""The assignment steps: ``queue_steps``, the fan-out an invitation ends with (one step per
group, app role and sponsor link, and the profile step, recorded in the ledger before it is
queued), and ``perform_step``, one step carried out (a profile step by :mod:`.profile_step`, a
removal or an account step by :mod:`.remove`). "Already there" is success; a step the ledger
records as done never reaches Graph again. A grant remembers whether this app made it
(``done``, with Graph's id of an app role assignment) or found it there (``found``: someone
else's, never removed by this app)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from guest_onboarding.domain import offboarding
from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import ONBOARDED, LedgerEntry, StepStatus, created_here
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import AlreadyDone, InvalidMessage
from guest_onboarding.handlers.profile_step import write_profile
from guest_onboarding.handlers.remove import perform_account_step, perform_removal
from guest_onboarding.handlers.step_keys import removal_step
from guest_onboarding.handlers.step_records import record_step
from guest_onboarding.internal_messages import (
    AccountStep,
    AppRoleAssignment,
    AppRoleRemoval,
    AssignmentStep,
    GroupMembership,
    GroupRemoval,
    ProfileUpdate,
    SponsorLink,
    assignment_steps,
)
from guest_onboarding.ports import Directory, Ledger, Outbox

#: Statuses after which a step is not queued again (granted, by this app or by someone else).
_SETTLED = frozenset({StepStatus.DONE, StepStatus.FOUND})
#: Statuses a step is queued from afresh (recorded ``queued`` first): new, or removed since.
_AFRESH = frozenset({None, StepStatus.REMOVING, StepStatus.REMOVED})


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
    acts only on steps the ledger records. A grant removed earlier (a mover's message, a
    leaver) is granted again. The profile step only for a guest this app invited (the row read
    again: ``created_here``). The number queued."""
    profile = cmd.profile is not None and created_here(await ledger.get(cmd.email))
    steps = assignment_steps(cmd, user_id, link_sponsors=link_sponsors, profile=profile)
    steps = [s for s in steps if done.get(s.key) not in _SETTLED]
    new = {s.key: StepStatus.QUEUED for s in steps if done.get(s.key) in _AFRESH}
    if new:
        await ledger.update(cmd.email, StepsRecorded(steps=new))
    for step in steps:
        await outbox.queue_assignment(step)
    return len(steps)


async def perform_step(
    step: AssignmentStep,
    *,
    policy: Policy,
    link_sponsors: bool,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    first_try: bool,
    now: datetime,
) -> Outcome:
    """One step of the assignments queue, whatever its kind: a grant, a sponsor link or the
    profile step (:func:`perform_assignment`), a removal or an account step (:mod:`.remove`)."""
    if isinstance(step, GroupRemoval | AppRoleRemoval):
        return await perform_removal(
            step, directory=directory, ledger=ledger, outbox=outbox, now=now
        )
    if isinstance(step, AccountStep):
        return await perform_account_step(step, directory=directory, ledger=ledger, now=now)
    return await perform_assignment(
        step,
        policy=policy,
        link_sponsors=link_sponsors,
        directory=directory,
        ledger=ledger,
        outbox=outbox,
        first_try=first_try,
    )


async def perform_assignment(
    step: GroupMembership | AppRoleAssignment | SponsorLink | ProfileUpdate,
    *,
    policy: Policy,
    link_sponsors: bool,
    directory: Directory,
    ledger: Ledger,
    outbox: Outbox,
    first_try: bool = False,
) -> Outcome:
    """Carry out one step, after checking it again: anyone who can write to the assignments
    queue could have written it. The target must be on the allow-lists, the user must be the one
    the ledger recorded for that address, and the step one that ``invite_fn`` queued for them
    (``InvalidMessage`` otherwise, before any Graph call). A guest who is leaving, or a grant
    whose removal was decided since, is not granted (``skipped``). ``first_try``: no earlier
    delivery of this step can have reached Graph (Graph's "already there" then means someone
    else granted it). Graph errors propagate: the retry rules decide what comes next, and the
    entrypoint records the step as failed when they give up."""
    match step:
        case GroupMembership():
            policy.check_group(step.groupId)
        case AppRoleAssignment():
            policy.check_app_role(step.role)
        case SponsorLink():
            if not link_sponsors:
                raise InvalidMessage("SponsorLinkDisabled", "ADD_SPONSORS_TO_EXISTING_USERS is off")
        case ProfileUpdate():
            if not policy.profile_fields:
                raise InvalidMessage("ProfileFieldNotAllowed", "GUEST_PROFILE_FIELDS is empty")
    entry = await ledger.get(step.email)
    known = ONBOARDED | offboarding.LEAVING
    if entry is None or entry.status not in known or entry.user_id is None:
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
    if isinstance(step, ProfileUpdate):
        return await write_profile(step, entry, policy=policy, directory=directory, ledger=ledger)
    status = entry.steps[step.key]
    if status == StepStatus.DONE or (status == StepStatus.FOUND and first_try):
        return Outcome.ALREADY_DONE
    # ``found`` met by a copy that may follow one of this app's own calls (a redelivery, a
    # retry): another copy's "already there" may have been this delivery's own grant, so Graph
    # is asked again, and its "already there" now records ``done``.
    if entry.status in offboarding.LEAVING or status in (StepStatus.REMOVING, StepStatus.REMOVED):
        return Outcome.SKIPPED  # the latest decision is that the guest has no such access
    try:
        grant_id = await _call(step, directory)
        answer, result = StepStatus.DONE, Outcome.DONE
    except AlreadyDone:
        grant_id, result = None, Outcome.ALREADY_DONE
        answer = offboarding.answer_already_there(first_try=first_try)
    if isinstance(step, SponsorLink):  # never removed: nothing to reconcile
        await ledger.update(step.email, StepsRecorded(steps={step.key: answer}))
        return result
    # A ``done`` wins over a ``found`` another copy of this step wrote (that copy met this
    # delivery's own grant); a removal decided meanwhile wins over both (handled below).
    expected: tuple[StepStatus, ...] = (StepStatus.QUEUED, StepStatus.FAILED)
    if answer == StepStatus.DONE:
        expected += (StepStatus.FOUND,)
    recorded = await record_step(
        ledger, entry, step.key, answer, still=_granting(step.key, expected), grant_id=grant_id
    )
    row = recorded.row
    if not recorded.written and row is not None and answer == StepStatus.DONE:
        leaving = row.status in offboarding.LEAVING
        if leaving or row.steps.get(step.key) in (StepStatus.REMOVING, StepStatus.REMOVED):
            # This grant landed after its removal was decided (maybe after the removal ran):
            # the decision stands, so this grant is removed too.
            ids = {step.key: grant_id} if grant_id else {}
            again = StepsRecorded(steps={step.key: StepStatus.REMOVING}, grant_ids=ids)
            await ledger.update(step.email, again)
            await outbox.queue_assignment(
                removal_step(step.email, step.userId, step.key, external_id=step.externalId)
            )
    return result


def _granting(key: str, expected: tuple[StepStatus, ...]) -> Callable[[LedgerEntry], bool]:
    """``still``: the guest is not leaving and the row records one of ``expected`` for ``key``
    (no removal was decided since the step read it)."""
    return lambda row: row.status in ONBOARDED and row.steps.get(key) in expected


async def _call(
    step: GroupMembership | AppRoleAssignment | SponsorLink, directory: Directory
) -> str | None:
    """The Graph call; Graph's id of what it created, when the ledger needs it to undo it."""
    match step:
        case GroupMembership():
            await directory.add_group_member(group_id=step.groupId, user_id=step.userId)
        case AppRoleAssignment():
            return await directory.assign_app_role(
                user_id=step.userId, resource_id=step.resourceId, app_role_id=step.appRoleId
            )
        case SponsorLink():
            await directory.add_sponsor(user_id=step.userId, sponsor_id=step.sponsorId)
    return None


async def record_step_failed(step: AssignmentStep, *, ledger: Ledger) -> None:
    """The step will not be tried again (refused, or out of attempts). A removal stays
    ``removing``: the access is still there, and the offboarding is not finished until the
    step, replayed from poison once the cause is fixed, removes it."""
    if isinstance(step, GroupRemoval | AppRoleRemoval):
        return
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.FAILED}))
