from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV, T0, Clock
from tests.telemetry.support import Collected, recording


@pytest.fixture
def otel() -> Iterator[Collected]:
    with recording() as collected:
        yield collected


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def rt(clock: Clock) -> Runtime:
    return Runtime(
        settings=Settings.from_env(SETTINGS_ENV),
        directory=FakeDirectory(members={GROUP_X: set(), GROUP_PARTNERS: set()}),
        ledger=FakeLedger(),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        max_dequeue_count=5,
        clock=clock,
    )
