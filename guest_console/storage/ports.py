"""What the console needs from storage (the queues and the ledger), the failures it reports
(:class:`StorageError`, each naming the queue or table, the account and what to do), and the
poison envelope read back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry

# -- what the console reads and sends ------------------------------------------------------


class LedgerReader(Protocol):
    """The ledger's read side (``status`` and ``report``). Raises :class:`StorageError`."""

    async def get(self, email: str) -> LedgerEntry | None: ...

    def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]: ...

    async def close(self) -> None: ...


class BrakeLedger(LedgerReader, Protocol):
    """The ledger with the offboarding brake's record (``release``): read, and written only if
    unchanged since read (False otherwise). Writing needs Storage Table Data Contributor."""

    async def brake(self) -> BrakeState: ...

    async def write_brake(self, state: BrakeState) -> bool: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class PoisonMessage:
    """One message on ``<queue>-poison``, as stored (``content`` is the envelope)."""

    id: str
    queue: str  # the work queue it came from (the poison queue is ``<queue>-poison``)
    content: str
    inserted_at: datetime | None = None
    dequeue_count: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayOutcome:
    replayed: tuple[str, ...]  # ids sent back to the work queue and deleted from poison
    not_found: tuple[str, ...]  # ids not on the poison queue (replayed already, or leased)
    #: ids whose original was too large to keep whole: never sent (replay sends exactly the
    #: bytes first received or nothing), left on the poison queue
    not_kept: tuple[str, ...] = ()


class OperatorQueues(Protocol):
    """The queues as an operator uses them: submit HR messages, read and replay poison.
    Raises :class:`StorageError` naming the queue and the missing role."""

    async def send_many(
        self,
        queue: str,
        bodies: Sequence[str],
        *,
        concurrency: int,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        """Send every body to ``queue``, ``concurrency`` at a time; ``on_sent(n)`` reports
        progress. On a failure the rest are not sent and the error is raised."""
        ...

    async def poison(self, queue: str) -> list[PoisonMessage]:
        """Every message on ``<queue>-poison``, oldest first, left on the queue."""
        ...

    async def replay(self, queue: str, ids: Collection[str]) -> ReplayOutcome:
        """Send each chosen poison message's original, unchanged, to ``queue`` and delete it
        from ``<queue>-poison``: replaying an id twice finds nothing the second time."""
        ...

    async def close(self) -> None: ...


# -- what goes wrong ---------------------------------------------------------------------------


class StorageError(Exception):
    """Storage refused the console or could not be reached; the message names the queue or
    table, the account and what to do about it."""


class StorageAccessDenied(StorageError):
    """403: the identity lacks ``role`` on the queue or table (or its storage account)."""

    def __init__(self, message: str, *, role: str) -> None:
        super().__init__(message)
        self.role = role


class StorageNotFound(StorageError):
    """The queue or table does not exist (the deployment creates them)."""


class StorageUnreachable(StorageError):
    """The account did not answer, or no credential could sign in."""


# -- the poison envelope, read back --------------------------------------------------------

#: The code of a poison message that carries no envelope (moved by the host itself after its
#: last delivery, without a reason).
NO_ENVELOPE_CODE = "HostPoisoned"


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """A poison message read back: the ``error`` object and the original text. ``kept`` is
    false for an original too large to travel whole (``MessageTooLarge``): ``original`` is then
    only its start, for a person to read, and is never replayed."""

    code: str
    message: str
    details: dict[str, str]
    original: str
    kept: bool = True

    def envelope(self) -> dict[str, object]:
        """The envelope as ``wire.rejection_envelope`` writes it (a host-poisoned message as
        if it had one)."""
        error = {"code": self.code, "message": self.message, **self.details}
        if not self.kept:
            return {"error": error, "original": None, "originalHead": self.original}
        return {"error": error, "original": self.original}


def read_envelope(text: str) -> Rejection:
    """The poison body ``wire.rejection_envelope`` wrote, read back; a body that is not one
    (the host moved the message without a reason) is its own original, code ``HostPoisoned``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    original = data.get("original") if isinstance(data, dict) else None
    kept = True
    if isinstance(data, dict) and isinstance(error, dict) and error.get("originalKept") == "false":
        head = data.get("originalHead")  # too large to keep: its start only, never replayed
        original, kept = (head if isinstance(head, str) else ""), False
    if not isinstance(error, dict) or not isinstance(original, str) or "code" not in error:
        return Rejection(code=NO_ENVELOPE_CODE, message="", details={}, original=text)
    details = {str(k): str(v) for k, v in error.items() if k not in {"code", "message"}}
    return Rejection(
        code=str(error["code"]),
        message=str(error.get("message", "")),
        details=details,
        original=original,
        kept=kept,
    )
