"""send_reminder: re-send one invitation the sweep scheduled, exactly as the first one said
(redirect URL, message, language, cc): the portal's own resend loses the redirect.

The ledger is the authority, the message only a nudge: an email goes out only for the reminder
the sweep scheduled (``reminders_scheduled``) and not yet sent, and only after this delivery
claimed it in the ledger (etag-checked). A forged, repeated or concurrent reminder message finds
nothing to send. A reminder is at most once: a crash between the claim and Graph loses that one
reminder (the next comes on schedule), where at least once could send two.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from guest_onboarding.domain import content
from guest_onboarding.domain.changes import ReminderClaimed, ReminderReleased, ReminderSent
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import REMINDABLE
from guest_onboarding.domain.outcomes import Outcome
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage, Paused
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.internal_messages import ReminderRequest
from guest_onboarding.ports import Ledger


async def send_reminder(
    reminder: ReminderRequest,
    *,
    policy: Policy,
    reminder_days: tuple[int, ...],
    sponsor_cc_from: int,
    gate: InvitationGate,
    ledger: Ledger,
    now: datetime,
) -> Outcome:
    """Re-send the invitation for reminder ``number`` with the guest's original content, if the
    sweep scheduled it and nobody sent it yet. From reminder ``sponsor_cc_from`` on (0: never)
    the first sponsor is copied, so the person who wanted the guest can chase them (Graph takes
    one cc recipient: the sponsor takes the place of the message's own)."""
    if reminder.number > len(reminder_days):
        raise InvalidMessage(
            "InvalidField",
            f"reminder {reminder.number} is beyond the schedule "
            f"(REMINDER_DAYS has {len(reminder_days)})",
        )
    entry = await ledger.get(reminder.email)
    if entry is None or entry.status not in REMINDABLE:
        return Outcome.SKIPPED
    invitation = entry.invitation or Invitation(redirect_url=policy.default_redirect_url)
    if not invitation.send_message:
        return Outcome.SKIPPED  # the guest asked for no email: no reminders either
    try:
        invitation = policy.as_allowed_now(invitation, reminder.email)
        # A display name or body that today's content rules refuse is left out.
        invitation = content.as_allowed_now(invitation, policy)
    except InvalidMessage:
        return Outcome.SKIPPED  # the guest's domain is blocked (or no longer allowed) now
    if entry.reminders_sent >= reminder.number:
        return Outcome.ALREADY_SENT
    if reminder.number != entry.reminders_scheduled:
        return Outcome.NOT_SCHEDULED
    claimed = ReminderClaimed(reminders_sent=reminder.number)
    if not await ledger.update(reminder.email, claimed, etag=entry.etag):
        return Outcome.ALREADY_SENT  # a concurrent delivery claimed it
    cc = invitation.cc_recipient
    sponsor = entry.sponsor_contact
    if sponsor_cc_from and reminder.number >= sponsor_cc_from and sponsor:
        # the redeem link goes to the cc: the sponsor's address meets the cc rules too
        cc = sponsor if policy.allows_cc(sponsor) else cc
    resend = dataclasses.replace(invitation, send_message=True, cc_recipient=cc)
    try:
        await gate.invite(reminder.email, resend, now=now)
    except Paused:
        # Graph did nothing; the re-queued copy may claim it again.
        await ledger.update(reminder.email, ReminderReleased(reminders_sent=entry.reminders_sent))
        raise
    await ledger.update(
        reminder.email, ReminderSent(send_count=entry.send_count + 1, last_sent_at=now)
    )
    return Outcome.SENT
