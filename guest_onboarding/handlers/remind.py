"""send_reminder: re-send one invitation the sweep scheduled, exactly as the first one said
(redirect URL, message, language, cc): the portal's own resend loses the redirect."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum

from guest_onboarding.domain.addresses import normalize_address
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import REMINDABLE, ReminderSent
from guest_onboarding.messages import ReminderRequest
from guest_onboarding.ports import Directory, Ledger


class ReminderResult(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    SKIPPED = "skipped"


async def send_reminder(
    reminder: ReminderRequest,
    *,
    default_redirect_url: str,
    directory: Directory,
    ledger: Ledger,
    now: datetime,
) -> ReminderResult:
    """Re-send the invitation for reminder ``number`` with the guest's original content."""
    email = normalize_address(reminder.email)
    entry = await ledger.get(email)
    if entry is None or entry.status not in REMINDABLE:
        return ReminderResult.SKIPPED
    if entry.reminders_sent >= reminder.number:
        return ReminderResult.ALREADY_SENT
    invitation = entry.invitation or Invitation(redirect_url=default_redirect_url)
    await directory.invite(email, dataclasses.replace(invitation, send_message=True))
    await ledger.update(
        email,
        ReminderSent(
            reminders_sent=reminder.number, send_count=entry.send_count + 1, last_sent_at=now
        ),
    )
    return ReminderResult.SENT
