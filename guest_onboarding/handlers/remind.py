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
from enum import StrEnum

from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import (
    REMINDABLE,
    ReminderClaimed,
    ReminderReleased,
    ReminderSent,
)
from guest_onboarding.errors import InvalidMessage, Throttled
from guest_onboarding.messages import ReminderRequest
from guest_onboarding.ports import Directory, Ledger


class ReminderResult(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    NOT_SCHEDULED = "not_scheduled"
    SKIPPED = "skipped"


async def send_reminder(
    reminder: ReminderRequest,
    *,
    default_redirect_url: str,
    reminder_days: tuple[int, ...],
    directory: Directory,
    ledger: Ledger,
    now: datetime,
) -> ReminderResult:
    """Re-send the invitation for reminder ``number`` with the guest's original content, if the
    sweep scheduled it and nobody sent it yet."""
    if reminder.number > len(reminder_days):
        raise InvalidMessage(
            "InvalidField",
            f"reminder {reminder.number} is beyond the schedule "
            f"(REMINDER_DAYS has {len(reminder_days)})",
        )
    entry = await ledger.get(reminder.email)
    if entry is None or entry.status not in REMINDABLE:
        return ReminderResult.SKIPPED
    invitation = entry.invitation or Invitation(redirect_url=default_redirect_url)
    if not invitation.send_message:
        return ReminderResult.SKIPPED  # the guest asked for no email: no reminders either
    if entry.reminders_sent >= reminder.number:
        return ReminderResult.ALREADY_SENT
    if reminder.number != entry.reminders_scheduled:
        return ReminderResult.NOT_SCHEDULED
    claimed = ReminderClaimed(reminders_sent=reminder.number)
    if not await ledger.update(reminder.email, claimed, etag=entry.etag):
        return ReminderResult.ALREADY_SENT  # a concurrent delivery claimed it
    try:
        await directory.invite(reminder.email, dataclasses.replace(invitation, send_message=True))
    except Throttled:
        # 429: Graph did nothing; the re-queued copy may claim it again.
        await ledger.update(reminder.email, ReminderReleased(reminders_sent=entry.reminders_sent))
        raise
    await ledger.update(
        reminder.email, ReminderSent(send_count=entry.send_count + 1, last_sent_at=now)
    )
    return ReminderResult.SENT
