"""The adversarial tier: what someone with send rights on a queue would try. Every test here
attacks one boundary and checks, with an oracle of its own, that nothing happened that the
allow-lists and the ledger did not decide."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pytest

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.entrypoints import (
    handle_assignment_message,
    handle_invitation_message,
    run_reminder_sweep,
)
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV, T0, Clock


@dataclass
class Tenant:
    """A runtime on fakes, with the attacker's two queues as methods."""

    rt: Runtime
    clock: Clock

    @property
    def directory(self) -> FakeDirectory:
        return cast(FakeDirectory, self.rt.directory)

    @property
    def ledger(self) -> FakeLedger:
        return cast(FakeLedger, self.rt.ledger)

    @property
    def outbox(self) -> FakeOutbox:
        return cast(FakeOutbox, self.rt.outbox)

    async def invite(self, message: dict[str, Any] | str, message_id: str = "m") -> str:
        body = message if isinstance(message, str) else json.dumps(message)
        return await handle_invitation_message(body=body, message_id=message_id, rt=self.rt)

    async def assign(self, step: dict[str, Any] | str) -> str:
        body = step if isinstance(step, str) else json.dumps(step)
        return await handle_assignment_message(body=body, message_id="a", rt=self.rt)

    async def drain_assignments(self) -> list[str]:
        outcomes = []
        while self.outbox.assignments:
            step, _ = self.outbox.assignments.pop(0)
            outcomes.append(await self.assign(step.model_dump_json()))
        return outcomes

    async def sweep_and_remind(self) -> list[str]:
        await run_reminder_sweep(rt=self.rt)
        outcomes = []
        while self.outbox.reminders:
            reminder = self.outbox.reminders.pop(0)
            outcomes.append(await self.invite({"reminder": reminder.model_dump()}, "r"))
        return outcomes

    def poison_codes(self, queue: str) -> list[str]:
        return [p["error"]["code"] for p in self.outbox.poison.get(f"{queue}-poison", [])]

    def writes(self) -> list[str]:
        """Graph calls that change the tenant or send mail."""
        reads = {"find_users", "get_user", "pending_guests"}
        return [c for c in self.directory.calls if c not in reads]


def make_tenant(**settings: str) -> Tenant:
    clock = Clock(T0)
    directory = FakeDirectory(members={GROUP_X: set(), GROUP_PARTNERS: set()})
    rt = Runtime(
        settings=Settings.from_env({**SETTINGS_ENV, **settings}),
        directory=directory,
        ledger=FakeLedger(clock=clock),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        max_dequeue_count=5,
        clock=clock,
    )
    return Tenant(rt=rt, clock=clock)


@pytest.fixture
def tenant() -> Tenant:
    return make_tenant()
