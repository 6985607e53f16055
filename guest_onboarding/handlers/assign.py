"""The assignment steps: ``queue_steps``, the fan-out an invitation ends with (one step per
group, app role and sponsor link, and the profile step, recorded in the ledger before it is
queued), and ``perform_assignment``, one step carried out. "Already there" is success; a step
the ledger records as done never reaches Graph again. The profile step writes the profile the
ledger records, whichever message queued it, and marks itself done only if the row has not
changed since it read it (so a profile recorded meanwhile is written too)."""

from __future__ import annotations

from collections.abc import Mapping

from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import ONBOARDED, LedgerEntry, StepStatus, created_here
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import Policy, check_guest
from guest_onboarding.domain.profile import writable_now
from guest_onboarding.domain.profile_changes import ProfileRecorded
from guest_onboarding.errors import AlreadyDone, InvalidMessage, LedgerContention
from guest_onboarding.internal_messages import (
    AppRoleAssignment,
    AssignmentStep,
    GroupMembership,
    ProfileUpdate,
    SponsorLink,
    assignment_steps,
)
from guest_onboarding.ports import Directory, Ledger, Outbox

#: The profile step re-reads a row that changed under it this many times, then lets the queue
#: bring it back (``LedgerContention``).
PROFILE_ATTEMPTS = 5


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
    acts only on steps the ledger records. The profile step only for a guest this app invited
    (the row read again: ``created_here``). The number queued."""
    profile = cmd.profile is not None and created_here(await ledger.get(cmd.email))
    steps = assignment_steps(cmd, user_id, link_sponsors=link_sponsors, profile=profile)
    steps = [s for s in steps if done.get(s.key) != StepStatus.DONE]
    new = {s.key: StepStatus.QUEUED for s in steps if s.key not in done}
    if new:
        await ledger.update(cmd.email, StepsRecorded(steps=new))
    for step in steps:
        await outbox.queue_assignment(step)
    return len(steps)


async def record_profile(
    cmd: InvitationCommand, entry: LedgerEntry, *, ledger: Ledger
) -> Mapping[str, StepStatus]:
    """HR's profile (``cmd.profile``) recorded on an onboarded guest's row with its step queued
    again when it changed, etag-checked and re-read on a conflict; the row's steps as they now
    are (what ``queue_steps`` is to skip). Nothing for a user this app did not invite."""
    if cmd.profile is None or not created_here(entry):
        return entry.steps
    for _ in range(PROFILE_ATTEMPTS):
        change = ProfileRecorded.stating(entry, cmd.profile)
        if change is None:
            return entry.steps
        if await ledger.update(entry.email, change, etag=entry.etag):
            return {**entry.steps, **change.steps}
        if (fresh := await ledger.get(entry.email)) is None:
            return entry.steps
        entry = fresh
    raise LedgerContention("the guest's ledger row kept changing")


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
        case ProfileUpdate():
            if not policy.profile_fields:
                raise InvalidMessage("ProfileFieldNotAllowed", "GUEST_PROFILE_FIELDS is empty")
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
    if isinstance(step, ProfileUpdate):
        return await _write_profile(step, entry, policy=policy, directory=directory, ledger=ledger)
    if entry.steps[step.key] == StepStatus.DONE:
        return Outcome.ALREADY_DONE
    try:
        await _call(step, directory)
        result = Outcome.DONE
    except AlreadyDone:
        result = Outcome.ALREADY_DONE
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.DONE}))
    return result


async def _write_profile(
    step: ProfileUpdate,
    entry: LedgerEntry,
    *,
    policy: Policy,
    directory: Directory,
    ledger: Ledger,
) -> Outcome:
    """Write the profile the row records (what ``GUEST_PROFILE_FIELDS`` allows today), then
    mark the step done, etag-checked: if the row changed meanwhile (a later message recorded
    another profile, or another step wrote), read it again and write again what differs from
    what was sent. Whichever delivery marks the step done wrote the profile the row held then."""
    sent: dict[str, str | None] | None = None
    await _check_own_guest(step, entry, directory)
    for _ in range(PROFILE_ATTEMPTS):
        if sent is None and entry.steps.get(step.key) == StepStatus.DONE:
            return Outcome.ALREADY_DONE
        wanted = writable_now(entry.profile, policy)
        if wanted != sent:
            if wanted:
                await directory.update_profile(user_id=step.userId, values=wanted)
            sent = wanted
        done = StepsRecorded(steps={step.key: StepStatus.DONE})
        if await ledger.update(step.email, done, etag=entry.etag):
            return Outcome.DONE
        fresh = await ledger.get(step.email)
        if fresh is None or fresh.user_id is None or fresh.user_id.lower() != step.userId.lower():
            raise InvalidMessage("UnknownGuest", "the ledger no longer records the step's guest")
        entry = fresh
    raise LedgerContention("the guest's ledger row kept changing under the profile step")


async def _check_own_guest(step: ProfileUpdate, entry: LedgerEntry, directory: Directory) -> None:
    """``PATCH /users/{id}`` (User.ReadWrite.All) only on a guest this app invited: the row
    says this app created the account, and the user, read now, is a guest (``MemberNotGuest``
    whatever ``ALLOW_MEMBERS`` says; ``NotInvitedHere`` otherwise)."""
    if not created_here(entry):
        raise InvalidMessage(
            "NotInvitedHere", "the profile is written only on guests this app invited"
        )
    user = await directory.get_user(step.userId)
    if user is None:
        raise InvalidMessage("UnknownGuest", "the step's user is not in the directory")
    check_guest(user, allow_members=False)


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
        case ProfileUpdate():  # written by _write_profile, never here
            raise AssertionError("the profile step is written by _write_profile")


async def record_step_failed(step: AssignmentStep, *, ledger: Ledger) -> None:
    """The step will not be tried again (refused, or out of attempts)."""
    await ledger.update(step.email, StepsRecorded(steps={step.key: StepStatus.FAILED}))
