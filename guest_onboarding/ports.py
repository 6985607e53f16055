"""Narrow ports the handlers talk to; adapters implement them, tests pass fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.changes import Change
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from guest_onboarding.internal_messages import AssignmentStep, ReminderRequest

#: Graph's words: a guest who has not redeemed, and a user of the tenant itself.
PENDING_ACCEPTANCE = "PendingAcceptance"
MEMBER = "Member"


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

    @property
    def is_member(self) -> bool:
        """A user of the tenant itself (who may sponsor guests), not a guest."""
        return self.user_type == MEMBER

    @property
    def has_redeemed(self) -> bool:
        """An invited user who accepted (a state other than pending; none: never invited)."""
        return bool(self.external_user_state) and self.external_user_state != PENDING_ACCEPTANCE


#: Graph's ``groupTypes`` value of a group whose members come from a rule.
DYNAMIC_MEMBERSHIP = "DynamicMembership"


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryGroup:
    """The group properties the dynamic-group check reads."""

    id: str
    display_name: str | None = None
    group_types: tuple[str, ...] = ()
    membership_rule: str | None = None

    @property
    def is_dynamic(self) -> bool:
        """Members come from a rule: nobody, this app included, can add one."""
        return DYNAMIC_MEMBERSHIP in self.group_types


@dataclass(frozen=True, kw_only=True, slots=True)
class InvitationResult:
    """What ``POST /invitations`` answered that the handlers use: the invited user."""

    user_id: str


class Directory(Protocol):
    """Microsoft Graph, as much of it as onboarding needs. Raises ``errors.DirectoryError``s."""

    async def find_users(self, email: str) -> tuple[DirectoryUser, ...]:
        """The users whose mail, UPN, other mails or proxy addresses hold ``email``: none, one,
        or (at least) two, enough to tell that the address names nobody in particular."""
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

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> str:
        """Assign the app role: the assignment's id; ``AlreadyDone`` if the assignment exists."""
        ...

    async def remove_group_member(self, *, group_id: str, user_id: str) -> None:
        """Remove the user from the group; ``NotFound`` when it is not a member (or the group
        is gone)."""
        ...

    async def find_app_role_assignment(
        self, *, user_id: str, resource_id: str, app_role_id: str
    ) -> str | None:
        """The id of the user's assignment of that app role, or None when there is none."""
        ...

    async def remove_app_role_assignment(self, *, resource_id: str, assignment_id: str) -> None:
        """Delete the assignment; ``NotFound`` when it is gone."""
        ...

    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies (``NotFound`` when gone)."""
        ...

    async def set_leave_date(self, user_id: str, day: date | None) -> None:
        """Set (None: clear) the user's ``employeeLeaveDateTime`` to the start of ``day``
        (``NotFound`` when the user is gone)."""
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

    async def get_group(self, group_id: str) -> DirectoryGroup | None:
        """The group (``groupTypes``, rule), or None when there is none with that id."""
        ...

    async def update_profile(self, *, user_id: str, values: Mapping[str, str | None]) -> None:
        """Set the user's profile attributes (Graph names; None clears one). Setting what is
        already set is no change; ``NotYetReplicated`` while a new user is not visible yet."""
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
        """Every row in a status the sweep reads (``domain.ledger.TRACKED``), possibly partial:
        the Table adapter reads only email, status, user_id, first_sent_at, reminders_scheduled,
        reminders_sent, disabled_at, the invitation's ``redirect_url`` and ``send_message``, and
        the etag (``SWEEP_COLUMNS``); every other field has its default."""
        ...

    def ending_entries(self, *, on_or_before: date) -> AsyncIterator[LedgerEntry]:
        """Rows of onboarded guests (``domain.offboarding.OFFBOARDABLE``) whose access ends on
        or before ``on_or_before``, whole."""
        ...

    def stale_entries(self, *, updated_before: datetime) -> AsyncIterator[LedgerEntry]:
        """Rows in any status last written before ``updated_before`` and not retired yet,
        whole (``LEDGER_RETENTION_DAYS``)."""
        ...

    async def last_retired(self, email: str) -> LedgerEntry | None:
        """``email``'s latest retired record (``domain.ledger.retired_prefix``; its status and
        the hash of its account, ``domain.ledger.retired_account``), if retention retired a
        row of theirs."""
        ...

    async def retire(self, entry: LedgerEntry, record: LedgerEntry) -> bool:
        """Replace ``entry`` by ``record`` (``domain.ledger.retired_record``): the record is
        written, then the row removed if unchanged since read (``entry.etag``). Safe to repeat."""
        ...

    async def brake(self) -> BrakeState:
        """The brake's shared record (``domain.brake``; an empty one when none was written
        yet), with its etag: a row of the ledger's table that is not a guest's."""
        ...

    async def write_brake(self, state: BrakeState) -> bool:
        """Write the brake's record only if it is unchanged since ``state.etag`` was read (no
        etag: only if there is none yet); False when it changed meanwhile."""
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

    def next_probe_in(self, interval: timedelta, now: datetime) -> float:
        """Seconds until one delivery may try an invitation again (0 or less: now)."""
        return (self.last_probe_at + interval - now).total_seconds()


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
