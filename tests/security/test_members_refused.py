"""Guests only (issue 24, item 2). An HR message for an existing member of the tenant (an
employee, the CFO) is refused with ``MemberNotGuest`` and nothing is granted: no group, no app
role, no sponsor, no row that a forged step could use. ``ALLOW_MEMBERS`` lets a deployment
onboard members on purpose. An address the directory finds on more than one user (mail, UPN,
``otherMails``, ``proxyAddresses``) is refused with ``AmbiguousAddress``, never "the first hit".
Oracles: group members, app role assignments and sponsors read from the directory (the fake
tenant, the Graph emulator's state), the emails sent, the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.seeds import (
    ACCESS_PROFILE,
    GRACE,
    GRACE_MAIL,
    GRACE_UPN,
    GROUP_PARTNERS,
    PORTAL_SP,
    READER_ROLE,
    sample_tenant,
)
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from tests.integration.stack import Stack
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

CFO = "cfo@contoso.example"
GUEST = "ada@fabrikam.example"
#: What an attacker would ask for an employee: every group and role on the allow-lists, and a
#: sponsor.
EVERYTHING = {
    "accessProfiles": [ACCESS_PROFILE],
    "groups": [GROUP_PARTNERS],
    "sponsors": [GRACE_UPN],
}


def granted(tenant: Tenant, user_id: str) -> dict[str, object]:
    """Everything the fake tenant gave ``user_id``."""
    return {
        "groups": sorted(g for g, ids in tenant.directory.members.items() if user_id in ids),
        "roles": sorted(a for a in tenant.directory.assignments if a[0] == user_id),
        "sponsors": sorted(tenant.directory.sponsors.get(user_id, ())),
    }


def member_tenant(**settings: str) -> Tenant:
    tenant = make_tenant(**settings)
    tenant.directory.add_user(GRACE_MAIL, user_type="Member", user_id=GRACE, upn=GRACE_UPN)
    return tenant


NOTHING: dict[str, object] = {"groups": [], "roles": [], "sponsors": []}


@pytest.mark.parametrize(
    ("address", "upn"),
    [(CFO, "cfo@contoso.onmicrosoft.com"), ("cfo.mail@contoso.example", CFO)],
    ids=["by-mail", "by-upn"],
)
@pytest.mark.parametrize("user_type", ["Member", None])
async def test_a_message_for_a_member_is_refused_and_grants_nothing(
    address: str, upn: str, user_type: str | None
) -> None:
    tenant = member_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    cfo = tenant.directory.add_user(address, user_type=user_type, upn=upn)  # type: ignore[arg-type]
    assert await tenant.invite({"email": CFO, **EVERYTHING}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["MemberNotGuest"]
    assert await tenant.drain_assignments() == []
    assert granted(tenant, cfo.id) == NOTHING
    assert tenant.directory.emails == []
    assert await tenant.ledger.get(CFO) is None  # no row a forged step could point at


async def test_a_row_written_before_members_were_refused_grants_nothing_more() -> None:
    tenant = member_tenant()
    cfo = tenant.directory.add_user(CFO, user_type="Member")
    await tenant.ledger.claim(
        LedgerEntry(
            email=CFO,
            status=GuestStatus.EXISTING,
            user_id=cfo.id,
            invitation=Invitation(redirect_url="https://myapps.microsoft.com"),
            created_at=T0,
        )
    )
    assert await tenant.invite({"email": CFO, **EVERYTHING}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["MemberNotGuest"]
    assert await tenant.drain_assignments() == []
    assert granted(tenant, cfo.id) == NOTHING


async def test_allow_members_onboards_members_on_purpose() -> None:
    tenant = member_tenant(ALLOW_MEMBERS="true")
    cfo = tenant.directory.add_user(CFO, user_type="Member")
    assert await tenant.invite({"email": CFO, "groups": [GROUP_PARTNERS]}) == "existing"
    assert await tenant.drain_assignments() == ["done"]
    assert granted(tenant, cfo.id)["groups"] == [GROUP_PARTNERS]
    assert tenant.directory.emails == []


async def test_an_existing_guest_is_still_onboarded() -> None:
    tenant = member_tenant()
    alan = tenant.directory.add_user(GUEST, state="Accepted")
    assert await tenant.invite({"email": GUEST, "groups": [GROUP_PARTNERS]}) == "existing"
    assert await tenant.drain_assignments() == ["done"]
    assert granted(tenant, alan.id)["groups"] == [GROUP_PARTNERS]


@pytest.mark.parametrize(
    "second",
    [
        {"email": GUEST, "upn": "ada_fabrikam.example#EXT#@contoso.onmicrosoft.com"},
        {"email": "ada.other@fabrikam.example", "upn": GUEST},
    ],
    ids=["same-mail", "mail-and-upn"],
)
async def test_an_address_two_users_hold_is_refused_and_neither_gets_anything(
    second: dict[str, str],
) -> None:
    tenant = member_tenant()
    first = tenant.directory.add_user(GUEST, state="Accepted")
    other = tenant.directory.add_user(second["email"], state="Accepted", upn=second["upn"])
    assert await tenant.invite({"email": GUEST, **EVERYTHING}) == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["AmbiguousAddress"]
    assert await tenant.drain_assignments() == []
    assert granted(tenant, first.id) == granted(tenant, other.id) == NOTHING
    assert tenant.directory.emails == []


# -- on the Graph emulator: otherMails and proxyAddresses, as Graph's look-up matches them ------

CFO_ID = "c0c0c0c0-0000-4000-8000-00000000c0f0"
SHARED = "shared@fabrikam.example"


def tenant_with(*users: dict[str, Any]) -> dict[str, Any]:
    seed = sample_tenant()
    seed["users"] += list(users)
    return seed


def emulator_grants(stack: Stack, user_id: str) -> dict[str, object]:
    state = stack.graph.control.state()
    groups = sorted(g["id"] for g in state["groups"] if user_id in g.get("members", []))
    roles = sorted(
        (sp["id"], a["appRoleId"])
        for sp in state["servicePrincipals"]
        for a in sp["assignments"]
        if a["principalId"] == user_id
    )
    user = stack.graph.control.user(user_id)
    return {"groups": groups, "roles": roles, "sponsors": sorted(user.get("sponsors", []))}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("member", "address"),
    [
        ({"mail": CFO}, CFO),
        (
            {"mail": "cfo@contoso.example", "userPrincipalName": "cfo@contoso.onmicrosoft.com"},
            "cfo@contoso.onmicrosoft.com",
        ),
        (
            {"mail": "cfo@contoso.example", "otherMails": ["cfo.private@fabrikam.example"]},
            "cfo.private@fabrikam.example",
        ),
        (
            {
                "mail": "cfo@contoso.example",
                "proxyAddresses": ["SMTP:cfo@contoso.example", "smtp:chief@fabrikam.example"],
            },
            "chief@fabrikam.example",
        ),
    ],
    ids=["mail", "upn", "otherMails", "proxyAddresses"],
)
async def test_on_the_emulator_a_member_found_any_way_gets_nothing(
    stack: Stack, member: dict[str, Any], address: str
) -> None:
    stack.graph.control.reset(
        tenant_with({"id": CFO_ID, "displayName": "The CFO", "userType": "Member", **member})
    )
    before = emulator_grants(stack, CFO_ID)
    stack.send({"email": address, **EVERYTHING})
    assert await stack.drain() == ["rejected"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert poisoned["error"]["code"] == "MemberNotGuest"
    assert emulator_grants(stack, CFO_ID) == before
    assert stack.graph.control.mailbox() == []
    counters = stack.graph.control.counters()["requests"]
    assert not any(key.startswith(("POST", "PATCH", "DELETE")) for key in counters)


@pytest.mark.integration
@pytest.mark.parametrize(
    "holders",
    [
        [
            {"mail": SHARED, "userType": "Guest"},
            {"mail": "b@fabrikam.example", "userType": "Guest", "otherMails": [SHARED]},
        ],
        [
            {"mail": SHARED, "userType": "Guest"},
            {
                "mail": "c@contoso.example",
                "userType": "Member",
                "proxyAddresses": ["SMTP:c@contoso.example", f"smtp:{SHARED}"],
            },
        ],
        [
            {"mail": "d@fabrikam.example", "userType": "Guest", "otherMails": [SHARED]},
            {"mail": "e@fabrikam.example", "userType": "Guest", "otherMails": [SHARED]},
        ],
    ],
    ids=["mail+otherMails", "mail+proxyAddresses", "otherMails-twice"],
)
async def test_on_the_emulator_an_address_two_users_hold_is_refused(
    stack: Stack, holders: list[dict[str, Any]]
) -> None:
    users = [
        {"id": f"d0d0d0d0-0000-4000-8000-00000000000{i}", "displayName": f"Holder {i}", **h}
        for i, h in enumerate(holders)
    ]
    stack.graph.control.reset(tenant_with(*users))
    before = [emulator_grants(stack, u["id"]) for u in users]
    stack.send({"email": SHARED, **EVERYTHING})
    assert await stack.drain() == ["rejected"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert poisoned["error"]["code"] == "AmbiguousAddress"
    assert [emulator_grants(stack, u["id"]) for u in users] == before
    assert stack.graph.control.mailbox() == []


@pytest.mark.integration
async def test_on_the_emulator_an_existing_guest_gets_the_missing_access(stack: Stack) -> None:
    """The refusal is about members and ambiguity only: Alan, a guest, is onboarded."""
    from devstack.seeds import ALAN, ALAN_MAIL

    stack.send({"email": ALAN_MAIL, "accessProfiles": [ACCESS_PROFILE]})
    outcomes = await stack.drain()
    assert outcomes[0] == "existing" and "rejected" not in outcomes
    grants = emulator_grants(stack, ALAN)
    assert GROUP_X in grants["groups"]  # type: ignore[operator]
    assert (PORTAL_SP, READER_ROLE) in grants["roles"]  # type: ignore[operator]
