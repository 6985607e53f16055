from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from tests.unit.fakes import FakeDirectory, FakeLedger, FakeOutbox

GROUP_X = "11111111-1111-1111-1111-111111111111"
GROUP_PARTNERS = "22222222-2222-2222-2222-222222222222"
PORTAL_SP = "33333333-3333-3333-3333-333333333333"
READER_ROLE = "44444444-4444-4444-4444-444444444444"
NOT_ALLOWED_GROUP = "99999999-9999-9999-9999-999999999999"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

SETTINGS_ENV = {
    "INVITE_REDIRECT_URL": "https://myapps.microsoft.com",
    "ALLOWED_REDIRECT_PREFIXES": "https://myapps.microsoft.com,https://projectx.fabrikam.example",
    "BLOCKED_EMAIL_DOMAINS": "blocked.example",
    "ALLOWED_CC_DOMAINS": "contoso.example",
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
