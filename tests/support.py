"""What the test tiers share: the test deployment's settings, a start time, a settable clock.

Seed ids (groups, service principals, users) come from ``devstack.seeds``; the fakes of the
ports are in ``tests/fakes.py``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X

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
    # The emulator has no abuse detection: tests invite guests back to back.
    "INVITATIONS_PER_MINUTE": "6000",
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
