"""The profile step of the assignments queue: ``record_profile``, HR's profile recorded on an
onboarded guest's row (its step queued again when it changed), and ``write_profile``, the step
carried out. The step writes the profile the ledger records, whichever message queued it, and
marks itself done only if the row has not changed since it read it (so a profile recorded
meanwhile is written too)."""

from __future__ import annotations

from collections.abc import Mapping

from guest_onboarding.domain.changes import StepsRecorded
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.ledger import LedgerEntry, StepStatus, created_here
from guest_onboarding.domain.offboarding import leaver_created_here
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import Policy, check_guest
from guest_onboarding.domain.profile import writable_now
from guest_onboarding.domain.profile_changes import ProfileRecorded
from guest_onboarding.errors import InvalidMessage, LedgerContention
from guest_onboarding.internal_messages import ProfileUpdate
from guest_onboarding.ports import Directory, Ledger

#: The profile step re-reads a row that changed under it this many times, then lets the queue
#: bring it back (``LedgerContention``).
PROFILE_ATTEMPTS = 5


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


async def write_profile(
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
    if not created_here(entry) and not leaver_created_here(entry):  # (an offboarding clears)
        raise InvalidMessage(
            "NotInvitedHere", "the profile is written only on guests this app invited"
        )
    user = await directory.get_user(step.userId)
    if user is None:
        raise InvalidMessage("UnknownGuest", "the step's user is not in the directory")
    check_guest(user, allow_members=False)
