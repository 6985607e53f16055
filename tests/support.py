"""What the test tiers share: the test deployment's settings, a start time, a settable clock.

Seed ids (groups, service principals, users) come from ``devstack.seeds``; the fakes of the
ports are in ``tests/fakes.py``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.adapters.graph import GraphClient, GraphDirectory
from guest_onboarding.adapters.graph.pacer import GraphPacer, bucket_rules

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


def graph_directory(base_url: str, **options: Any) -> GraphDirectory:
    """The Graph adapter as the composition root wires it (``bootstrap.build_runtime``), paced
    per process at rates no test reaches, so a test sees Graph's answers, not the pacing;
    ``options`` go to ``GraphClient.create`` (credential, http_client, transient_retries)."""
    rules = bucket_rules(
        writes_per_second=10_000, reads_per_second=10_000, invitations_per_minute=600_000
    )
    return GraphDirectory(
        GraphClient.create(base_url=base_url, pacer=GraphPacer(rules, store=None), **options)
    )
