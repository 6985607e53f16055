"""The report's numbers, computed from ledger rows and poison messages (no I/O, no drawing).

Definitions (the page states them too):

- submitted: guests in the ledger, plus messages rejected before they made a row;
- rejected: messages on the invitations poison queue whose guest has no ledger row (bad input
  refused by the app's rules; a Graph refusal leaves a ``failed`` row instead);
- invited: rows with a first invitation time; redeemed: rows with a redemption (time or
  status); expired: rows with an expiry time;
- time to redeem: from the first invitation to the redemption;
- redemptions after each reminder: a guest who redeemed having been sent ``n`` reminders
  redeemed after reminder ``n`` (0: after the invitation itself), out of the guests who were
  sent at least ``n`` (reminders stop at redemption, so they had not redeemed before it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from guest_console.poison import PoisonItem
from guest_onboarding.domain.addresses import normalize_address
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry

FUNNEL_STAGES = ("submitted", "rejected", "invited", "redeemed", "expired")


@dataclass(frozen=True, kw_only=True)
class ReminderStage:
    """Guests sent at least ``number`` reminders, and how many redeemed before the next."""

    number: int
    reached: int
    redeemed: int

    @property
    def share(self) -> float:
        return self.redeemed / self.reached if self.reached else 0.0


@dataclass(kw_only=True)
class ReportFigures:
    generated_at: datetime
    funnel: dict[str, int]
    by_status: dict[str, int]
    days_to_redeem: list[float] = field(default_factory=list)
    reminders: list[ReminderStage] = field(default_factory=list)
    #: day -> code -> poison messages (both work queues)
    poison_by_day: dict[date, dict[str, int]] = field(default_factory=dict)

    @property
    def poison_total(self) -> int:
        return sum(sum(codes.values()) for codes in self.poison_by_day.values())

    @property
    def poison_by_code(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for codes in self.poison_by_day.values():
            totals.update(codes)
        return dict(totals.most_common())


def _redeemed(entry: LedgerEntry) -> bool:
    return entry.redeemed_at is not None or entry.status == GuestStatus.REDEEMED


def _reminder_stages(invited: Sequence[LedgerEntry]) -> list[ReminderStage]:
    if not invited:
        return []
    most = max(e.reminders_sent for e in invited)
    return [
        ReminderStage(
            number=n,
            reached=sum(1 for e in invited if e.reminders_sent >= n),
            redeemed=sum(1 for e in invited if _redeemed(e) and e.reminders_sent == n),
        )
        for n in range(most + 1)
    ]


def compute(
    entries: Iterable[LedgerEntry],
    poison: Iterable[PoisonItem],
    *,
    invitations_queue: str,
    generated_at: datetime,
) -> ReportFigures:
    """Every figure of the report from the ledger's rows and the poison queues' messages."""
    rows = list(entries)
    guests = {e.email for e in rows}
    poison_by_day: dict[date, Counter[str]] = {}
    rejected = 0
    for item in poison:
        day = (item.message.inserted_at or generated_at).date()
        poison_by_day.setdefault(day, Counter())[item.code] += 1
        guest = item.guest()
        if item.queue == invitations_queue and (
            guest is None or normalize_address(guest) not in guests
        ):
            rejected += 1
    invited = [e for e in rows if e.first_sent_at is not None]
    redeemed = [e for e in rows if _redeemed(e)]
    days = sorted(
        (e.redeemed_at - e.first_sent_at).total_seconds() / 86400
        for e in redeemed
        if e.redeemed_at is not None and e.first_sent_at is not None
    )
    return ReportFigures(
        generated_at=generated_at,
        funnel={
            "submitted": len(rows) + rejected,
            "rejected": rejected,
            "invited": len(invited),
            "redeemed": len(redeemed),
            "expired": sum(1 for e in rows if e.expired_at is not None),
        },
        by_status=dict(Counter(str(e.status) for e in rows).most_common()),
        days_to_redeem=days,
        reminders=_reminder_stages(invited),
        poison_by_day={day: dict(codes) for day, codes in sorted(poison_by_day.items())},
    )
