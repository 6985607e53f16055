"""``release``: an operator's decision on the offboardings the brake holds
(``OFFBOARD_THRESHOLD``). The decision goes into the brake's record first (etag-checked): it is
what the app acts on, for every offboarding held before it. Then each held guest's row is
settled by a message on the invitations queue (``{"heldOffboarding": ...}``), which decides
nothing itself: a forged one, or one for a row held later, does nothing the operator did not
decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guest_console.errors import ConsoleError
from guest_console.storage.ports import BrakeLedger, OperatorQueues
from guest_onboarding.domain import brake as brakes
from guest_onboarding.domain.ledger import LedgerEntry
from guest_onboarding.internal_messages import HeldOffboarding, HeldOffboardingEnvelope

#: Etag-checked attempts on the brake's record (an offboarding may write it meanwhile).
ATTEMPTS = 8


@dataclass(frozen=True, kw_only=True)
class Settled:
    """What ``release`` did: the decision, and the held guests it queued a settling for."""

    decision: brakes.Decision
    engaged_at: datetime | None
    queued: int


def settling_message(entry: LedgerEntry) -> str:
    """The invitations queue's message that settles ``entry``'s held offboarding."""
    assert entry.offboard_held_at is not None
    held = HeldOffboarding(email=entry.email, heldAt=entry.offboard_held_at)
    return HeldOffboardingEnvelope(heldOffboarding=held).model_dump_json(exclude_none=True)


async def held_offboardings(ledger: BrakeLedger) -> list[LedgerEntry]:
    """Every row the brake holds, oldest hold first."""
    held = [e async for e in ledger.entries() if e.offboard_held_at is not None]
    return sorted(held, key=lambda e: e.offboard_held_at or datetime.min)


async def decide(
    ledger: BrakeLedger,
    queues: OperatorQueues,
    queue: str,
    decision: brakes.Decision,
    *,
    now: datetime,
) -> Settled:
    """Record ``decision`` for every offboarding held before ``now`` and queue their
    settling. Nothing held and the brake off: nothing is written (``ConsoleError``)."""
    held = [e for e in await held_offboardings(ledger) if (e.offboard_held_at or now) <= now]
    for _ in range(ATTEMPTS):
        state = await ledger.brake()
        if state.engaged_at is None and not held:
            raise ConsoleError("the brake is off and no offboarding is held: nothing to decide")
        if await ledger.write_brake(brakes.decide(state, decision, now=now)):
            break
    else:
        raise ConsoleError("the brake's record kept changing; run the command again")
    await queues.send_many(queue, [settling_message(e) for e in held], concurrency=16)
    return Settled(decision=decision, engaged_at=state.engaged_at, queued=len(held))
