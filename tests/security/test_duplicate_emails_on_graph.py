"""One email per invitation with the Graph emulator's look-up lag: a user created by
``POST /invitations`` stays invisible to look-ups for a while, as Graph does not promise it is
visible at once. Neither a crash nor a second message during that time sends a second email."""

from __future__ import annotations

import asyncio

import pytest

from guest_onboarding.domain.changes import Change, Invited
from tests.integration.stack import Stack
from tests.integration.test_reminder_sweep import follow_emulator_clock

pytestmark = pytest.mark.integration

ADA = {"email": "ada.lag@fabrikam.example"}


async def drain_until(stack: Stack, outcome: str, *, attempts: int = 20) -> list[str]:
    """Drain until ``outcome`` shows up (a deferred copy comes back within 15 s)."""
    seen: list[str] = []
    for _ in range(attempts):
        seen += await stack.drain(rounds=2)
        if outcome in seen:
            return seen
        await asyncio.sleep(1.1)
    return seen


async def test_a_crash_after_the_invitation_waits_out_the_look_up_lag(stack: Stack) -> None:
    follow_emulator_clock(stack)
    stack.graph.control.set_faults(lookup_lag_seconds=90)
    real_update = stack.rt.ledger.update
    crashed = False

    async def crash_once(email: str, change: Change, *, etag: str | None = None) -> bool:
        nonlocal crashed
        if isinstance(change, Invited) and not crashed:
            crashed = True
            raise RuntimeError("host killed after POST /invitations")
        return await real_update(email, change, etag=etag)

    stack.rt.ledger.update = crash_once  # type: ignore[method-assign]
    stack.send(ADA)
    assert await stack.drain(rounds=1) == ["error"]
    await asyncio.sleep(1.2)  # redelivered: the user is not visible yet
    assert "deferred" in await stack.drain(rounds=1)
    stack.graph.control.advance_clock(120)  # replicated
    assert "invited" in await drain_until(stack, "invited")
    assert len(stack.graph.control.mailbox(to=ADA["email"])) == 1
    assert stack.graph.control.counters()["requests"]["POST /invitations"] == 1


async def test_a_second_message_during_the_look_up_lag_sends_no_second_email(
    stack: Stack,
) -> None:
    follow_emulator_clock(stack)
    stack.graph.control.set_faults(lookup_lag_seconds=90)
    stack.send(ADA)
    assert await stack.drain(rounds=1) == ["invited"]
    stack.send(ADA)  # HR sends the same person again moments later
    assert await stack.drain(rounds=1) == ["deferred"]
    stack.graph.control.advance_clock(120)
    assert "already_onboarded" in await drain_until(stack, "already_onboarded")
    assert len(stack.graph.control.mailbox(to=ADA["email"])) == 1
    assert stack.graph.control.counters()["requests"]["POST /invitations"] == 1
