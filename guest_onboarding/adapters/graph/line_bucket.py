"""``LineBucket``: this process's side of the invitation line (:mod:`.line` keeps the places
in the shared record). Each invitation asks for its turn under its key; the process changes the
row once at a time, for every key that asked meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from guest_onboarding.adapters.graph.budget_record import (
    RETRY_SHARED_SECONDS,
    Record,
    SharedRecord,
)
from guest_onboarding.adapters.graph.line import Turn, take_turns
from guest_onboarding.adapters.graph.pacing import BucketRules, paused_error
from guest_onboarding.errors import Throttled

#: An invitation with a place comes back this long before the place's time: the queue returns
#: it up to 1 s late (whole-second visibility) plus ``maxPollingInterval`` (2 s in host.json),
#: so it is back 1 to 4 s early, within the horizon, and waits the rest in the function.
COME_BACK_EARLY_SECONDS = 4.0


class _Asking:
    """The keys asking for their turn together, and the answer they share."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.answer: asyncio.Future[dict[str, Turn]] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Future[None] | None = None


class LineBucket:
    """This process's side of a ticketed bucket (invitations): each caller asks for its turn
    under its key. One change of the record at a time per process, for every key that asked
    meanwhile: changes racing each other on the row would only lose etag races to each other."""

    def __init__(
        self,
        rules: BucketRules,
        record: SharedRecord,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.rules = rules
        self._record = record
        self._clock = clock
        self._sleep = sleep
        self._next: _Asking | None = None  # the keys gathering for the next change
        self._changing = asyncio.Lock()

    async def acquire(self, key: str) -> None:
        """Wait for this invitation's slot (within the horizon), or raise :class:`Throttled`
        telling it when to come back for its place."""
        turn = await self._turn(key)
        now = self._clock()
        if turn is None:
            raise Throttled(
                "another delivery of this invitation is asking for its turn at this moment",
                retry_after=1.0,
                code="InvitationsPaced",
            )
        if turn.paused_until > now:
            raise paused_error(self.rules, turn.paused_until - now)
        if turn.slot is not None:
            if turn.slot > now:
                await self._sleep(turn.slot - now)
            return
        if turn.place is not None:
            back = max(1.0, turn.place - COME_BACK_EARLY_SECONDS - now)
            raise _in_line(self.rules, back, turn.place - now)
        raise _line_full(self.rules, max(1.0, (turn.retry_at or now) - now))

    async def _turn(self, key: str) -> Turn | None:
        """This key's turn (None for a key asking twice at once: the first ask has it)."""
        asking = self._next
        if asking is None:
            asking = self._next = _Asking()
            asking.task = asyncio.ensure_future(self._ask(asking))
        asking.keys.append(key)
        turns = await asyncio.shield(asking.answer)
        return turns.pop(key, None)

    async def _ask(self, asking: _Asking) -> None:
        await asyncio.sleep(0)  # let the callers arriving together join
        async with self._changing:
            if self._next is asking:
                self._next = None  # from here on, callers gather for the next change
            try:
                turns = await self._change(asking.keys)
            except asyncio.CancelledError:
                asking.answer.cancel()
                raise
            except Exception as exc:
                asking.answer.set_exception(exc)
            else:
                asking.answer.set_result(turns)

    async def _change(self, keys: list[str]) -> dict[str, Turn]:
        rules = self.rules

        def change(record: Record | None) -> tuple[dict[str, float], dict[str, Turn]]:
            return take_turns(record, rules, self._clock(), keys)

        turns = await self._record.update(rules.name, change)
        if rules.shared_only and self._record.degraded:
            # Per process, N instances would send N times the pace, and Entra answers a burst
            # of invitations with a block only Microsoft support lifts: wait for the record.
            raise Throttled(
                f"Graph {rules.name} wait for the shared Graph budget, which is unavailable",
                retry_after=RETRY_SHARED_SECONDS,
                code="GraphBudgetUnavailable",
            )
        return turns


def _in_line(rules: BucketRules, retry_after: float, turn_in: float) -> Throttled:
    per_minute = rules.rate * 60
    return Throttled(
        f"invitations are paced at {per_minute:g} per minute (INVITATIONS_PER_MINUTE); "
        f"this one has its place in line, its turn comes in {turn_in:.0f} s",
        retry_after=retry_after,
        code="InvitationsPaced",
    )


def _line_full(rules: BucketRules, retry_after: float) -> Throttled:
    return Throttled(
        f"the line of Graph {rules.name} is full; asking again in {retry_after:.0f} s",
        retry_after=retry_after,
        code="InvitationsPaced",
    )
