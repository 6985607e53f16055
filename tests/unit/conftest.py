from __future__ import annotations

import pytest

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV, T0, Clock


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(SETTINGS_ENV)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Runtime:
    directory = FakeDirectory(members={GROUP_X: set(), GROUP_PARTNERS: set()})
    return Runtime(
        settings=settings,
        directory=directory,
        ledger=FakeLedger(),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        max_dequeue_count=5,
        clock=clock,
    )
