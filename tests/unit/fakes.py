"""In-memory fakes of the ports, for fast unit tests of the handlers (no I/O)."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guest_onboarding.domain import TRACKED, GuestStatus, LedgerEntry
from guest_onboarding.errors import AlreadyDone, DirectoryError, NotFound
from guest_onboarding.messages import AssignmentStep, ReminderRequest
from guest_onboarding.ports import DirectoryUser, InvitationRequest, InvitationResult


@dataclass
class FakeDirectory:
    """A tiny tenant: users by id, group members, app role assignments, and an email log."""

    users: dict[str, DirectoryUser] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    assignments: set[tuple[str, str, str]] = field(default_factory=set)
    emails: list[InvitationRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_next: dict[str, list[DirectoryError]] = field(default_factory=dict)
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
    ) -> DirectoryUser:
        user = DirectoryUser(
            id=f"user-{next(self._ids)}",
            mail=email,
            user_type=user_type,
            external_user_state=state,
            state_changed_at=since,
            created_at=since,
        )
        self.users[user.id] = user
        return user

    async def find_user(self, email: str) -> DirectoryUser | None:
        await asyncio.sleep(0)  # yield, so concurrent deliveries really interleave
        self._maybe_fail("find_user")
        return next((u for u in self.users.values() if (u.mail or "").lower() == email), None)

    async def get_user(self, user_id: str) -> DirectoryUser | None:
        self._maybe_fail("get_user")
        return self.users.get(user_id)

    async def invite(self, request: InvitationRequest) -> InvitationResult:
        await asyncio.sleep(0)
        self._maybe_fail("invite")
        user = next((u for u in self.users.values() if u.mail == request.email), None)
        if user is None:
            user = self.add_user(request.email, state="PendingAcceptance")
        if request.send_message:
            self.emails.append(request)
        return InvitationResult(user_id=user.id, status="PendingAcceptance")

    async def add_group_member(self, *, group_id: str, user_id: str) -> None:
        self._maybe_fail("add_group_member")
        if group_id not in self.members:
            raise NotFound("group not found", code="Request_ResourceNotFound", status=404)
        if user_id in self.members[group_id]:
            raise AlreadyDone("already a member", code="Request_BadRequest", status=400)
        self.members[group_id].add(user_id)

    async def assign_app_role(self, *, user_id: str, resource_id: str, app_role_id: str) -> None:
        self._maybe_fail("assign_app_role")
        key = (user_id, resource_id, app_role_id)
        if key in self.assignments:
            raise AlreadyDone("exists", code="Request_BadRequest", status=400)
        self.assignments.add(key)

    async def pending_guests(self) -> AsyncIterator[DirectoryUser]:
        self.calls.append("pending_guests")
        for user in list(self.users.values()):
            if user.external_user_state == "PendingAcceptance":
                yield user

    async def delete_user(self, user_id: str) -> None:
        self._maybe_fail("delete_user")
        if self.users.pop(user_id, None) is None:
            raise NotFound("no such user", status=404)

    def emails_to(self, email: str) -> int:
        return sum(1 for e in self.emails if e.email == email)


@dataclass
class FakeLedger:
    """Rows keyed by address with etags that change on every write, like Azure Tables."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _etags: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _entry(self, email: str) -> LedgerEntry:
        row = copy.deepcopy(self.rows[email])
        etag = row.pop("_etag")
        return LedgerEntry(email=email, etag=etag, **row)

    async def get(self, email: str) -> LedgerEntry | None:
        await asyncio.sleep(0)
        return self._entry(email) if email in self.rows else None

    def _store(self, entry: LedgerEntry) -> None:
        data = {
            k: copy.deepcopy(getattr(entry, k))
            for k in LedgerEntry.__dataclass_fields__
            if k not in {"email", "etag"}
        }
        data["_etag"] = f"W/{next(self._etags)}"
        self.rows[entry.email] = data

    async def claim(self, entry: LedgerEntry) -> bool:
        if entry.email in self.rows:
            return False
        self._store(entry)
        return True

    async def take_over(self, entry: LedgerEntry, *, etag: str) -> bool:
        if self.rows.get(entry.email, {}).get("_etag") != etag:
            return False
        self._store(entry)
        return True

    async def update(
        self, email: str, changes: dict[str, object], *, etag: str | None = None
    ) -> bool:
        if etag is not None and self.rows.get(email, {}).get("_etag") != etag:
            return False
        if email not in self.rows:
            self._store(LedgerEntry(email=email, status=GuestStatus.INVITING))
        row = self.rows[email]
        for key, value in changes.items():
            if key == "steps":
                row["steps"].update(value)  # type: ignore[call-overload]
            else:
                row[key] = value
        row["_etag"] = f"W/{next(self._etags)}"
        return True

    async def tracked_entries(self) -> AsyncIterator[LedgerEntry]:
        for email in list(self.rows):
            if self.rows[email]["status"] in TRACKED:
                yield self._entry(email)


@dataclass
class FakeOutbox:
    assignments: list[tuple[AssignmentStep, float]] = field(default_factory=list)
    reminders: list[ReminderRequest] = field(default_factory=list)
    requeued: list[tuple[str, float]] = field(default_factory=list)
    poison: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def queue_assignment(self, step: AssignmentStep, *, delay_seconds: float = 0) -> None:
        self.assignments.append((step, delay_seconds))

    async def queue_reminder(self, reminder: ReminderRequest) -> None:
        self.reminders.append(reminder)

    async def requeue_invitation(self, body: str, *, delay_seconds: float) -> None:
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
        error = {"code": code, "message": message, **(details or {})}
        self.poison.setdefault(f"{queue}-poison", []).append(
            json.loads(json.dumps({"error": error, "original": original}))
        )
