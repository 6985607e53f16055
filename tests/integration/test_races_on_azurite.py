"""Two deliveries of one reminder that really race on the real Table adapter (Azurite), the
Graph emulator counting the emails: the twin of tests/security/test_races.py's reminder race
on the fakes. Both deliveries read the row before either writes its claim (``Rendezvous`` at the
claim's etag-checked update), so only Azure Tables' ``If-Match`` decides which one sends. The
budget claim's race on Azurite is tests/integration/test_graph_budget_table.py's
``test_instances_racing_on_the_row_never_hand_out_a_slot_twice``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from guest_onboarding.domain.changes import Change, ReminderClaimed
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.entrypoints import handle_invitation_message, run_reminder_sweep
from guest_onboarding.ports import Ledger
from tests.fakes import Hook, Rendezvous
from tests.integration.stack import Stack
from tests.integration.test_reminder_sweep import DAY, follow_emulator_clock

pytestmark = pytest.mark.integration

ADA = "ada@fabrikam.example"


class InterleavedLedger:
    """The real ledger with the test's hooks where tests/fakes.FakeLedger has them: after a
    read has its row, before a write's etag is checked."""

    def __init__(self, inner: Ledger, hooks: list[Hook]) -> None:
        self._inner = inner
        self.hooks = hooks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get(self, email: str) -> LedgerEntry | None:
        row = await self._inner.get(email)
        for hook in list(self.hooks):
            await hook("get", email, None)
        return row

    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        for hook in list(self.hooks):
            await hook("update", email, change)
        return await self._inner.update(email, change, etag=etag)


async def test_two_deliveries_of_one_reminder_racing_on_azurite_send_one_email(
    stack: Stack,
) -> None:
    follow_emulator_clock(stack)
    stack.send({"email": ADA})
    assert await stack.drain() == ["invited"]
    stack.graph.control.advance_clock(3 * DAY)
    await run_reminder_sweep(rt=stack.rt)
    [body] = stack.peek_all(stack.settings.invitations_queue)

    race = Rendezvous(operation="update", key=ADA, change=ReminderClaimed)
    racing = dataclasses.replace(stack.rt, ledger=InterleavedLedger(stack.rt.ledger, [race]))
    outcomes = await asyncio.gather(
        handle_invitation_message(body=body, message_id="copy-1", rt=racing),
        handle_invitation_message(body=body, message_id="copy-2", rt=racing),
    )
    assert race.met
    assert sorted(outcomes) == ["already_sent", "sent"]
    assert len(stack.graph.control.mailbox(to=ADA)) == 2  # the invitation and one reminder
