"""forget_finished_guests: the ledger keeps personal data no longer than it needs to.

Rows in a finished status (redeemed, deleted, removed, refused) untouched for
``LEDGER_RETENTION_DAYS`` are replaced by a record without personal fields, keyed by a hash of
the address (``domain.ledger.retired_record``): reports still count them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from guest_onboarding.domain.ledger import retired_record
from guest_onboarding.ports import Ledger

#: Rows retired per sweep at most (the rest wait for the next run).
MAX_RETIRED_PER_RUN = 1000


async def forget_finished_guests(
    *, ledger: Ledger, now: datetime, retention_days: int, limit: int = MAX_RETIRED_PER_RUN
) -> int:
    """Retire finished rows older than the retention period; the number retired."""
    retired = 0
    cutoff = now - timedelta(days=retention_days)
    async for entry in ledger.finished_entries(updated_before=cutoff):
        if retired >= limit:
            break
        if await ledger.retire(entry, retired_record(entry)):
            retired += 1
    return retired
