"""In-memory fakes of the ports, for fast unit tests of the handlers (no I/O).

Interleavings are the test's to choose: each fake calls its ``hooks`` at named points of its
operations (a ledger read after the row is read, a ledger write before its etag is checked, a
queue send or a Graph call before its effect), and :class:`Rendezvous` and :class:`Hold` are
the hooks races are made of. Two deliveries that both reached their etag-checked write have
both read the row before it: with the etag, one write fails; without it, both land.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from guest_onboarding.domain.brake import BrakeState
from guest_onboarding.domain.changes import Change, apply
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import (
    TRACKED,
    GuestStatus,
    LedgerEntry,
    retired_prefix,
)
from guest_onboarding.domain.offboarding import OFFBOARDABLE
from guest_onboarding.errors import AlreadyDone, DirectoryError, NotFound, Refused, StoreError
from guest_onboarding.internal_messages import AssignmentStep, ReminderRequest
from guest_onboarding.ports import DirectoryGroup, DirectoryUser, InvitationResult, TenantStop
from guest_onboarding.wire import rejection_envelope

#: A test's hook at one point of a fake's operation: ``(operation, key, what)``, where ``key`` is
#: the row's address (the queue's name for a rejection, the user id for a Graph write) and
#: ``what`` the change or message written (None for a read).
Hook = Callable[[str, str, object], Awaitable[None]]


async def _at(hooks: list[Hook], operation: str, key: str, what: object = None) -> None:
    for hook in list(hooks):
        await hook(operation, key, what)


@dataclass(kw_only=True)
class _Point:
    """Which operations a hook holds: by name, key and (for writes) the change's type."""

    operation: str
    key: str | None = None
    change: type | tuple[type, ...] | None = None
    #: Seconds to wait for the others (or the release) before failing loudly.
    timeout: float = 5.0

    def matches(self, operation: str, key: str, what: object) -> bool:
        return (
            operation == self.operation
            and (self.key is None or key == self.key)
            and (self.change is None or isinstance(what, self.change))
        )


@dataclass(kw_only=True)
class Rendezvous(_Point):
    """The first ``parties`` matching operations wait for one another, then go on together: at
    a write, every party has read what it writes on before any of them writes (a real race).
    ``met`` says it happened; a party left waiting alone fails with ``AssertionError``."""

    parties: int = 2
    arrived: int = 0
    met: bool = False
    _barrier: asyncio.Barrier | None = None

    async def __call__(self, operation: str, key: str, what: object) -> None:
        if not self.matches(operation, key, what) or self.arrived >= self.parties:
            return
        if self._barrier is None:
            self._barrier = asyncio.Barrier(self.parties)
        self.arrived += 1
        try:
            async with asyncio.timeout(self.timeout):
                await self._barrier.wait()
        except TimeoutError:
            raise AssertionError(
                f"only {self.arrived} of {self.parties} deliveries reached {self.operation}"
            ) from None
        self.met = True


@dataclass(kw_only=True)
class Hold(_Point):
    """The first matching operation waits at its point until the test calls :meth:`release`
    (``reached`` is set when it gets there): the test does something else meanwhile."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, operation: str, key: str, what: object) -> None:
        if self.reached.is_set() or not self.matches(operation, key, what):
            return
        self.reached.set()
        try:
            async with asyncio.timeout(self.timeout):
                await self.released.wait()
        except TimeoutError:
            raise AssertionError(f"{self.operation} was held and never released") from None

    def release(self) -> None:
        self.released.set()


@dataclass(frozen=True)
class SentEmail:
    """One invitation email the fake tenant sent."""

    email: str
    invitation: Invitation


@dataclass
class FakeDirectory:
    """A tiny tenant: users by id, group members, app role assignments, and an email log."""

    users: dict[str, DirectoryUser] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    assignments: set[tuple[str, str, str]] = field(default_factory=set)
    sponsors: dict[str, set[str]] = field(default_factory=dict)
    #: Graph's id of each app role assignment (user, resource, role) -> id.
    assignment_ids: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: Sign-in session revocations per user, and each user's employeeLeaveDateTime.
    revocations: dict[str, int] = field(default_factory=dict)
    leave_dates: dict[str, date | None] = field(default_factory=dict)
    #: Dynamic groups (their members come from a rule: adding one is refused, as Graph does).
    dynamic: dict[str, DirectoryGroup] = field(default_factory=dict)
    #: Profile attributes written on users (Graph names; a cleared one is absent).
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Users the look-ups cannot see yet (replication lag after an invitation).
    lagging: set[str] = field(default_factory=set)
    emails: list[SentEmail] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_next: dict[str, list[DirectoryError]] = field(default_factory=dict)
    #: Called before each write's effect (``invite``: key the address; the others: the user).
    hooks: list[Hook] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _maybe_fail(self, call: str) -> None:
        self.calls.append(call)
        queue = self.fail_next.get(call)
        if queue:
            raise queue.pop(0)

    def add_user(
        self,
        email: str,
        *,
        user_type: str = "Guest",
        state: str | None = None,
        since: datetime | None = None,
        user_id: str | None = None,
        upn: str | None = None,
    ) -> DirectoryUser:
        user = DirectoryUser(
            id=user_id or f"00000000-0000-4000-8000-{next(self._ids):012d}",
            mail=email,
            user_principal_name=upn,
            user_type=user_type,
            account_enabled=True,
            external_user_state=state,
            state_changed_at=since,
        )
        self.users[user.id] = user
        return user

    async def find_users(self, email: str) -> tuple[DirectoryUser, ...]:
        await asyncio.sleep(0)  # yield, so concurrent deliveries really interleave
        self._maybe_fail("find_users")
        return tuple(
            u
            for u in self.users.values()
            if email in {(u.mail or "").lower(), (u.user_principal_name or "").lower()}
            and u.id not in self.lagging
        )[:2]

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        self._maybe_fail("get_user")
        return None if user_id in self.lagging else self.users.get(user_id)

    async def resolve_user(self, reference: str) -> DirectoryUser | None:
        self._maybe_fail("resolve_user")
        found = self.users.get(reference)
        return found or next(
            (
                u
                for u in self.users.values()
                if reference.lower() == (u.user_principal_name or "").lower()
            ),
            None,
        )

    async def set_account_enabled(self, user_id: str, *, enabled: bool) -> None:
        self._maybe_fail("set_account_enabled")
        await _at(self.hooks, "set_account_enabled", user_id, enabled)
        user = self.users.get(user_id)
        if user is None:
            raise NotFound("no such user", status=404)
        self.users[user_id] = dataclasses.replace(user, account_enabled=enabled)

    async def add_sponsor(self, *, user_id: str, sponsor_id: str) -> None:
        self._maybe_fail("add_sponsor")
        await _at(self.hooks, "add_sponsor", user_id, sponsor_id)
        if user_id not in self.users or sponsor_id not in self.users:
            raise NotFound("no such user", status=404)
        if sponsor_id in self.sponsors.setdefault(user_id, set()):
            raise AlreadyDone("already a sponsor", code="Request_BadRequest", status=400)
        self.sponsors[user_id].add(sponsor_id)

    async def get_group(self, group_id: str) -> DirectoryGroup | None:
        self._maybe_fail("get_group")
        if group_id in self.dynamic:
            return self.dynamic[group_id]
        return DirectoryGroup(id=group_id) if group_id in self.members else None

    async def update_profile(self, *, user_id: str, values: Mapping[str, str | None]) -> None:
        await asyncio.sleep(0)
        self._maybe_fail("update_profile")
        if user_id not in self.users:
            raise NotFound("no such user", status=404)
        profile = self.profiles.setdefault(user_id, {})
        for name, value in values.items():
            if value is None:
                profile.pop(name, None)
            else:
                profile[name] = value

    async def invite(self, email: str, invitation: Invitation) -> InvitationResult:
        await asyncio.sleep(0)
        self._maybe_fail("invite")
        await _at(self.hooks, "invite", email, invitation)
        user = next((u for u in self.users.values() if u.mail == email), None)
        if user is None:
            user = self.add_user(email, state="PendingAcceptance")
            if invitation.sponsors:
                self.sponsors[user.id] = set(invitation.sponsors)
        if invitation.send_message:
            self.emails.append(SentEmail(email, invitation))
        return InvitationResult(user_id=user.id)

    async def add_group_member(self, *, group_id: str, user_id: str) -> None:
        self._maybe_fail("add_group_member")
        if group_id in self.dynamic:
            raise Refused("Insufficient privileges to complete the operation.", status=403)
        await _at(self.hooks, "add_group_member", user_id, group_id)
        if group_id not in self.members:
            raise NotFound("group not found", code="Request_ResourceNotFound", status=404)
        if user_id in self.members[group_id]:
            raise AlreadyDone("already a member", code="Request_BadRequest", status=400)
        self.members[group_id].add(user_id)

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> str:
        self._maybe_fail("assign_app_role")
        key = (user_id, resource_id, app_role_id)
        if key in self.assignments:
            raise AlreadyDone("exists", code="Request_BadRequest", status=400)
        self.assignments.add(key)
        self.assignment_ids[key] = f"assignment-{next(self._ids)}"
        return self.assignment_ids[key]

    async def remove_group_member(self, *, group_id: str, user_id: str) -> None:
        self._maybe_fail("remove_group_member")
        if user_id not in self.members.get(group_id, set()):
            raise NotFound("not a member", code="Request_ResourceNotFound", status=404)
        self.members[group_id].discard(user_id)

    async def find_app_role_assignment(
        self, *, user_id: str, resource_id: str, app_role_id: str
    ) -> str | None:
        self._maybe_fail("find_app_role_assignment")
        key = (user_id, resource_id, app_role_id)
        if key not in self.assignments:
            return None
        return self.assignment_ids.setdefault(key, f"assignment-{next(self._ids)}")

    async def remove_app_role_assignment(self, *, resource_id: str, assignment_id: str) -> None:
        self._maybe_fail("remove_app_role_assignment")
        for key, found in list(self.assignment_ids.items()):
            if found == assignment_id and key[1] == resource_id and key in self.assignments:
                self.assignments.discard(key)
                del self.assignment_ids[key]
                return
        raise NotFound("no such assignment", code="Request_ResourceNotFound", status=404)

    async def revoke_sessions(self, user_id: str) -> None:
        self._maybe_fail("revoke_sessions")
        if user_id not in self.users:
            raise NotFound("no such user", status=404)
        self.revocations[user_id] = self.revocations.get(user_id, 0) + 1

    async def set_leave_date(self, user_id: str, day: date | None) -> None:
        self._maybe_fail("set_leave_date")
        if user_id not in self.users:
            raise NotFound("no such user", status=404)
        self.leave_dates[user_id] = day

    async def pending_guests(self) -> AsyncIterator[DirectoryUser]:
        self.calls.append("pending_guests")
        for user in list(self.users.values()):
            if user.external_user_state == "PendingAcceptance":
                yield user

    async def delete_user(self, user_id: str) -> None:
        self._maybe_fail("delete_user")
        await _at(self.hooks, "delete_user", user_id)
        if self.users.pop(user_id, None) is None:
            raise NotFound("no such user", status=404)

    def emails_to(self, email: str) -> int:
        return sum(1 for e in self.emails if e.email == email)


@dataclass
class FakeLedger:
    """Rows keyed by address with etags that change on every write, like Azure Tables; changes
    mean what ``domain.ledger.apply`` says they mean.

    ``hooks`` run after a read has read its row (``get``, each row of ``tracked_entries``) and
    before a write checks its etag (``claim``, ``take_over``, ``update``, ``retire``), so a test
    decides what happens between a delivery's read and its write."""

    rows: dict[str, LedgerEntry] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: While set, every call raises it (the table down, as the adapter reports it).
    outage: StoreError | None = None
    #: The offboarding brake's record (a row of the same table in the adapter).
    brake_state: BrakeState = field(default_factory=BrakeState)
    hooks: list[Hook] = field(default_factory=list)
    _etags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _reachable(self) -> None:
        if self.outage is not None:
            raise self.outage

    async def brake(self) -> BrakeState:
        self._reachable()
        await asyncio.sleep(0)
        return self.brake_state

    async def write_brake(self, state: BrakeState) -> bool:
        self._reachable()
        if state.etag != self.brake_state.etag:
            return False
        self.brake_state = dataclasses.replace(state, etag=f"W/{next(self._etags)}")
        return True

    async def ending_entries(self, *, on_or_before: date) -> AsyncIterator[LedgerEntry]:
        self._reachable()
        for entry in list(self.rows.values()):
            ends = entry.access_ends_on
            if entry.status in OFFBOARDABLE and ends is not None and ends <= on_or_before:
                yield copy.deepcopy(entry)

    def _store(self, entry: LedgerEntry) -> None:
        self.rows[entry.email] = dataclasses.replace(
            copy.deepcopy(entry), etag=f"W/{next(self._etags)}", updated_at=self.clock()
        )

    async def get(self, email: str) -> LedgerEntry | None:
        self._reachable()
        row = self.rows.get(email)
        read = copy.deepcopy(row) if row is not None else None
        # The answer comes back after the row was read: others may write meanwhile.
        await asyncio.sleep(0)
        await _at(self.hooks, "get", email)
        return read

    async def claim(self, entry: LedgerEntry) -> bool:
        self._reachable()
        await _at(self.hooks, "claim", entry.email, entry)
        if entry.email in self.rows:
            return False
        self._store(entry)
        return True

    async def take_over(self, entry: LedgerEntry, *, etag: str) -> bool:
        self._reachable()
        await _at(self.hooks, "take_over", entry.email, entry)
        row = self.rows.get(entry.email)
        if row is None or row.etag != etag:
            return False
        self._store(entry)
        return True

    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        self._reachable()
        await _at(self.hooks, "update", email, change)
        row = self.rows.get(email)
        if row is None or (etag is not None and row.etag != etag):
            return False
        self._store(apply(row, change))
        return True

    async def tracked_entries(self) -> AsyncIterator[LedgerEntry]:
        self._reachable()
        for entry in list(self.rows.values()):
            if entry.status in TRACKED:
                read = copy.deepcopy(entry)
                await _at(self.hooks, "tracked_entries", entry.email)
                yield read

    async def stale_entries(self, *, updated_before: datetime) -> AsyncIterator[LedgerEntry]:
        self._reachable()
        for entry in list(self.rows.values()):
            old = entry.updated_at is not None and entry.updated_at < updated_before
            if old and "@" in entry.email:
                yield copy.deepcopy(entry)

    async def last_retired(self, email: str) -> LedgerEntry | None:
        self._reachable()
        prefix = retired_prefix(email)
        mine = [(int(k[len(prefix) :]), e) for k, e in self.rows.items() if k.startswith(prefix)]
        return max(mine, key=lambda pair: pair[0])[1] if mine else None

    async def retire(self, entry: LedgerEntry, record: LedgerEntry) -> bool:
        self._reachable()
        await _at(self.hooks, "retire", entry.email, record)
        self._store(dataclasses.replace(record, updated_at=entry.updated_at))
        current = self.rows.get(entry.email)
        if current is not None and current.etag != entry.etag:
            return False
        self.rows.pop(entry.email, None)
        return True

    async def close(self) -> None:
        pass

    async def entries(
        self, *, statuses: frozenset[GuestStatus] | None = None
    ) -> AsyncIterator[LedgerEntry]:
        for entry in list(self.rows.values()):
            if statuses is None or entry.status in statuses:
                yield copy.deepcopy(entry)


@dataclass
class FakeTenantHealth:
    """The shared health record, in memory, with an etag like the Table row's."""

    stop: TenantStop | None = None
    _etags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def invitations_stopped(self) -> TenantStop | None:
        return self.stop

    async def record_stop(self, stop: TenantStop) -> TenantStop | None:
        if stop.etag is None and self.stop is not None:
            return None
        if stop.etag is not None and (self.stop is None or self.stop.etag != stop.etag):
            return None
        self.stop = dataclasses.replace(stop, etag=f"W/{next(self._etags)}")
        return self.stop

    async def clear_stop(self) -> None:
        self.stop = None


@dataclass
class FakeOutbox:
    assignments: list[tuple[AssignmentStep, float]] = field(default_factory=list)
    reminders: list[ReminderRequest] = field(default_factory=list)
    requeued: list[tuple[str, float]] = field(default_factory=list)
    poison: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: While set, every send raises it (the queue service down).
    outage: StoreError | None = None
    #: Called before each send (key: the guest's address; the queue's name for a rejection).
    hooks: list[Hook] = field(default_factory=list)

    def _reachable(self) -> None:
        if self.outage is not None:
            raise self.outage

    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None:
        self._reachable()
        await _at(self.hooks, "queue_assignment", step.email, step)
        self.assignments.append((step, delay_seconds))

    async def queue_reminder(self, reminder: ReminderRequest) -> None:
        self._reachable()
        await _at(self.hooks, "queue_reminder", reminder.email, reminder)
        self.reminders.append(reminder)

    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
        self._reachable()
        await _at(self.hooks, "requeue_invitation", "", body)
        self.requeued.append((body, delay_seconds))

    async def reject(
        self,
        *,
        queue: str,
        original: str,
        code: str,
        message: str,
        details: dict[str, str] | None = None,
    ) -> None:
        self._reachable()
        await _at(self.hooks, "reject", queue, original)
        envelope = rejection_envelope(
            original=original, code=code, message=message, details=details
        )
        self.poison.setdefault(f"{queue}-poison", []).append(json.loads(envelope))
