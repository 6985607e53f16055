"""The sample tenant's ids, in one place for the tests, the demo and the benchmarks.

They name objects of ``samples/tenant.json`` (the seed of the Graph emulator in ``make demo``,
``make run`` and the tests) and the allow-lists of ``local.settings.example.json``;
``tests/devstack/test_seeds.py`` checks that the three agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TENANT_PATH = REPO_ROOT / "samples" / "tenant.json"
SAMPLE_MESSAGES_PATH = REPO_ROOT / "samples" / "hr_messages.jsonl"
#: HR messages with a ``profile`` (the demo writes companyName and department): Ivan lands in the
#: "Fabrikam guests" dynamic group by his profile alone, Kim in "Partners" by ``groups`` only.
SAMPLE_PROFILES_PATH = REPO_ROOT / "samples" / "hr_profiles.jsonl"
#: The guest the demo onboards into a dynamic group by profile alone.
PROFILED_GUEST = "ivan@fabrikam.example"
#: The same kind of guests in the Entra portal's bulk-invite CSV, as a spreadsheet saves it.
SAMPLE_PORTAL_CSV_PATH = REPO_ROOT / "samples" / "portal_bulk_invite.csv"

TENANT_ID = "9c1f2b7e-5d4a-4c3b-8a29-6f0e1d2c3b4a"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
#: The managed identity's client id (the app the emulator issues tokens for by default).
CLIENT_ID = "7d3e9a51-2c6b-4f80-9e14-3a5b6c7d8e9f"

#: "Project X members": the group of the ``fabrikam-project-x`` access profile.
GROUP_PROJECT_X = "11111111-1111-1111-1111-111111111111"
#: "Partners": on the allow-list by itself (``ALLOWED_GROUP_IDS``).
GROUP_PARTNERS = "22222222-2222-2222-2222-222222222222"
#: "Privileged operators": role-assignable, so member changes need RoleManagement permission.
GROUP_ROLE_ASSIGNABLE = "55555555-5555-5555-5555-555555555555"
#: "Fabrikam guests": a dynamic group (rule: guests whose companyName is Fabrikam), on no
#: allow-list: guests land in it by the profile HR sends, never by an assignment step.
GROUP_FABRIKAM_GUESTS = "aaaaaaaa-0000-4000-8000-00000000f001"
FABRIKAM_GUESTS = "Fabrikam guests"
FABRIKAM_GUESTS_RULE = '(user.userType -eq "Guest") -and (user.companyName -eq "Fabrikam")'
#: A group id on no allow-list and absent from the tenant.
NOT_ALLOWED_GROUP = "99999999-9999-9999-9999-999999999999"

#: "Project X portal" and its one app role, Project.Reader (part of the access profile).
PORTAL_SP = "33333333-3333-3333-3333-333333333333"
PORTAL_APP_ID = "88888888-8888-8888-8888-888888888888"
READER_ROLE = "44444444-4444-4444-4444-444444444444"

ACCESS_PROFILE = "fabrikam-project-x"
BLOCKED_DOMAIN = "blocked.example"

#: Grace Hopper, a member user, in Project X.
GRACE = "66666666-6666-6666-6666-666666666666"
GRACE_MAIL = "grace@contoso.example"
GRACE_UPN = "grace@contoso.onmicrosoft.com"
#: Alan Turing, a guest who accepted his invitation, in Partners.
ALAN = "77777777-7777-7777-7777-777777777777"
ALAN_MAIL = "alan@fabrikam.example"


def sample_tenant(*, without_permissions: Iterable[str] = ()) -> dict[str, Any]:
    """A fresh copy of ``samples/tenant.json`` (safe to change), less the named permissions."""
    seed: dict[str, Any] = json.loads(SAMPLE_TENANT_PATH.read_text(encoding="utf-8"))
    removed = set(without_permissions)
    if removed:
        identity = seed["identity"]
        identity["permissions"] = [p for p in identity["permissions"] if p not in removed]
    return seed
