from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from tests.unit.fakes import FakeDirectory, FakeLedger, FakeOutbox

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

SETTINGS_ENV = {
    "INVITE_REDIRECT_URL": "https://myapps.microsoft.com",
    "ALLOWED_REDIRECT_PREFIXES": "https://myapps.microsoft.com,https://projectx.fabrikam.example",
    "BLOCKED_EMAIL_DOMAINS": "blocked.example",
    "ACCESS_PROFILES": json.dumps(
        {
            "fabrikam-project-x": {
                "groups": [GROUP_X],
                "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
            }
        }
    ),
    "ALLOWED_GROUP_IDS": GROUP_PARTNERS,
}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(SETTINGS_ENV)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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
        max_dequeue_count=5,
        clock=clock,
    )
