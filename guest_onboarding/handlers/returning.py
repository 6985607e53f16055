"""A person whose ledger row retention retired (``LEDGER_RETENTION_DAYS``) comes back: for
:func:`.invite.invite_guest`, when the ledger has no row for the address. A pending guest the
retired row says this system expired or disabled gets the row it would have had, so they are
invited afresh (enabled first only if this system disabled them); anyone else is onboarded as
anyone new (``domain.ledger.returning_row``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from guest_onboarding.domain import ledger as rows
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.ports import PENDING_ACCEPTANCE, DirectoryUser, Ledger


async def comeback_row(
    email: str,
    *,
    ledger: Ledger,
    find: Callable[[], Awaitable[DirectoryUser | None]],
    clock: Callable[[], datetime],
) -> LedgerEntry | None:
    """The row a returning person's message goes on with, written (``claim``: a concurrent
    delivery's row wins) and read back; None if there is none to bring back."""
    record = await ledger.last_retired(email)
    retired = record.status if record else None
    user = await find() if retired in rows.COMES_BACK else None
    pending = user is not None and user.external_user_state == PENDING_ACCEPTANCE
    enabled = user is None or user.account_enabled is not False
    user_id = user.id if user else None
    row = rows.returning_row(
        email,
        retired,
        retired_user=record.user_id if record else None,
        user_id=user_id,
        pending=pending,
        enabled=enabled,
        now=clock(),
    )
    return await ledger.get(email) if row and await ledger.claim(row) else None
