"""Narrow ports the handlers talk to; adapters implement them, tests pass fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.internal_messages import AssignmentStep, ReminderRequest


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryUser:
    """The few user properties the handlers read."""

    id: str
    mail: str | None = None
    user_principal_name: str | None = None
    user_type: str | None = None
    account_enabled: bool | None = None
    external_user_state: str | None = None
    state_changed_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InvitationResult:
    user_id: str
    redeem_url: str | None = None
    status: str | None = None


class Directory(Protocol):
    """Microsoft Graph, as much of it as onboarding needs. Raises ``errors.DirectoryError``s."""

    async def find_user(self, email: str) -> DirectoryUser | None:
        """The user whose mail, UPN, other mails or proxy addresses hold ``email``, if any."""
        ...

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        """The user with state properties, or None when it no longer exists."""
        ...

    async def resolve_user(self, reference: str) -> DirectoryUser | None:
        """The user an object id or a user principal name names (``user_type``,
        ``account_enabled``, ``mail``), or None when there is none (sponsors)."""
        ...

    async def invite(self, email: str, invitation: Invitation) -> InvitationResult:
        """POST /invitations for ``email`` saying ``invitation`` (also the way to re-send)."""
        ...

    async def add_group_member(self, *, group_id: str, user_id: str) -> None:
        """Add the user to the group; ``AlreadyDone`` if it is a member already."""
        ...

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> None:
        """Assign the app role; ``AlreadyDone`` if the assignment exists."""
        ...

    def pending_guests(self) -> AsyncIterator[DirectoryUser]:
        """Every guest in PendingAcceptance, streamed page by page (flat memory)."""
        ...

    async def delete_user(self, user_id: str) -> None:
        """Delete the user (NotFound when already gone)."""
        ...

    async def set_account_enabled(self, user_id: str, *, enabled: bool) -> None:
        """Block (or allow again) the user's sign-in (NotFound when gone)."""
        ...

    async def add_sponsor(self, *, user_id: str, sponsor_id: str) -> None:
        """Make ``sponsor_id`` a sponsor of the user; ``AlreadyDone`` if it is one."""
        ...


class Ledger(Protocol):
    """One row per guest, keyed by the normalized address: the idempotency record."""

    async def get(self, email: str) -> LedgerEntry | None: ...

    async def claim(self, entry: LedgerEntry) -> bool:
        """Insert ``entry`` if no row exists; False when one does (someone else claimed it)."""
        ...

    async def take_over(self, entry: LedgerEntry, *, etag: str) -> bool:
        """Replace the row only if it is unchanged since read (``etag``); False otherwise."""
        ...

    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        """Write ``change`` to the row (see ``domain.ledger``). With ``etag``, only if the row
        is unchanged since read; False when that check fails or the row is gone."""
        ...

    def tracked_entries(self) -> AsyncIterator[LedgerEntry]:
        """Every row the reminder sweep must consider (not redeemed, removed or deleted), with
        the fields it reads: email, status, user_id, first_sent_at, reminders_scheduled, the
        invitation's ``send_message``, etag."""
        ...

    def finished_entries(self, *, updated_before: datetime) -> AsyncIterator[LedgerEntry]:
        """Rows in a finished status (``domain.ledger.FINISHED``) last written before
        ``updated_before`` and not retired yet, whole."""
        ...

    async def retire(self, entry: LedgerEntry, record: LedgerEntry) -> bool:
        """Replace ``entry`` by ``record`` (``domain.ledger.retired_record``): the record is
        written, then the row removed if unchanged since read (``entry.etag``). Safe to repeat."""
        ...

    async def close(self) -> None:
        """Release the connections (end of process, of a report, of a test)."""
        ...

    def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]:
        """Every row, or every row in one of ``statuses``, whole, streamed page by page (the
        read side: status reports, the demo)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class TenantStop:
    """Graph refuses every invitation for the tenant (abuse block, collaboration settings)."""

    code: str
    message: str
    since: datetime
    last_probe_at: datetime
    etag: str | None = None


class TenantHealth(Protocol):
    """One shared record of whether the tenant accepts invitations, read by every instance."""

    async def invitations_stopped(self) -> TenantStop | None:
        """The current stop, or None when invitations flow."""
        ...

    async def record_stop(self, stop: TenantStop) -> TenantStop | None:
        """Record the stop, and return it as recorded (with its new etag); None when another
        delivery got there first. With ``stop.etag``: only if the record is unchanged since
        read (one prober per interval across all instances). Without: only if no stop is
        recorded now (the first delivery to meet a stop records it, and logs it, once)."""
        ...

    async def clear_stop(self) -> None:
        """Graph accepted an invitation again."""
        ...


class Outbox(Protocol):
    """Messages this app queues: fan-out, reminders, deferrals and rejections."""

    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None: ...

    async def queue_reminder(self, reminder: ReminderRequest) -> None: ...

    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
        """Put an invitation message back, visible after ``delay_seconds`` (throttling, a claim
        held by a concurrent delivery); it does not count as a failed delivery."""
        ...

    async def reject(
        self,
        *,
        queue: str,
        original: str,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        """Move a message to ``<queue>-poison`` with the reason envelope."""
        ...


# -- the operator console's side ---------------------------------------------------------------


class LedgerReader(Protocol):
    """The ledger's read side (the console's ``status`` and ``report``); a ``Ledger`` is one.
    Raises ``errors.StorageError``s."""

    async def get(self, email: str) -> LedgerEntry | None: ...

    def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]: ...

    async def close(self) -> None: ...


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


class OperatorQueues(Protocol):
    """The queues as an operator uses them: submit HR messages, read and replay poison.
    Raises ``errors.StorageError``s naming the queue and the missing role."""

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
