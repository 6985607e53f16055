"""A guest's sponsors are bounded at what Graph allows (five), whatever messages add, in every
path that adds them: later messages for an existing user, concurrent ones, and the email a later
message asks for (email wins). Beyond five the message is refused whole (``TooManySponsors``):
nothing it asks is granted. Oracles: sponsors, group memberships and emails in the fake tenant,
and the sponsors the row records (each is a ledger column and a Graph link)."""

from __future__ import annotations

import asyncio

from devstack.seeds import GROUP_PARTNERS
from tests.security.conftest import Tenant, make_tenant

ADA = "ada@fabrikam.example"
GRAPH_MOST = 5  # GRAPH_NOTES.md, "Lifecycle, sponsors and refusals": at most 5 per guest


def with_members(tenant: Tenant, count: int) -> list[str]:
    members = [f"member{i}@contoso.example" for i in range(count)]
    for upn in members:
        tenant.directory.add_user(upn, user_type="Member", upn=upn)
    return members


async def recorded(tenant: Tenant) -> tuple[str, ...]:
    row = await tenant.ledger.get(ADA)
    assert row is not None and row.invitation is not None
    return row.invitation.sponsors


async def test_a_later_message_with_one_sponsor_too_many_is_refused_and_grants_nothing() -> None:
    tenant = make_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    guest = tenant.directory.add_user(ADA, state="Accepted")
    members = with_members(tenant, 6)
    assert await tenant.invite({"email": ADA, "sponsors": members[:5]}, "m1") == "existing"
    await tenant.drain_assignments()
    asking = {"email": ADA, "sponsors": [members[5]], "groups": [GROUP_PARTNERS]}
    assert await tenant.invite(asking, "m2") == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["TooManySponsors"]
    await tenant.drain_assignments()
    assert len(tenant.directory.sponsors[guest.id]) == GRAPH_MOST
    assert guest.id not in tenant.directory.members[GROUP_PARTNERS]  # nothing of it granted
    assert len(await recorded(tenant)) == GRAPH_MOST


async def test_repeating_known_sponsors_is_not_growth() -> None:
    tenant = make_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    guest = tenant.directory.add_user(ADA, state="Accepted")
    members = with_members(tenant, 5)
    assert await tenant.invite({"email": ADA, "sponsors": members}, "m1") == "existing"
    again = {"email": ADA, "sponsors": members[::-1], "groups": [GROUP_PARTNERS]}
    assert await tenant.invite(again, "m2") == "already_onboarded"
    await tenant.drain_assignments()
    assert guest.id in tenant.directory.members[GROUP_PARTNERS]
    assert len(tenant.directory.sponsors[guest.id]) == GRAPH_MOST


async def test_concurrent_messages_cannot_add_past_five_together() -> None:
    """Two messages, three new sponsors each, racing on the same row: each alone is within the
    limit; together they would make six. The etag check re-reads the row and the second is
    refused, not merged."""
    tenant = make_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    guest = tenant.directory.add_user(ADA, state="Accepted")
    members = with_members(tenant, 7)
    assert await tenant.invite({"email": ADA, "sponsors": members[:1]}, "m0") == "existing"
    outcomes: list[str] = await asyncio.gather(
        tenant.invite({"email": ADA, "sponsors": members[1:4]}, "m1"),
        tenant.invite({"email": ADA, "sponsors": members[4:7]}, "m2"),
    )
    for body, _delay in list(tenant.outbox.requeued):  # a deferred copy comes back
        outcomes.append(await tenant.invite(body, "again"))
    await tenant.drain_assignments()
    assert "rejected" in outcomes
    assert len(await recorded(tenant)) <= GRAPH_MOST
    assert len(tenant.directory.sponsors.get(guest.id, set())) <= GRAPH_MOST


async def test_the_owed_email_does_not_carry_more_than_five_sponsors() -> None:
    """Email wins sends the invitation again with the row's sponsors and the message's: a silent
    message naming five, then one naming five others, would have invited with ten."""
    tenant = make_tenant()
    members = with_members(tenant, 10)
    silent = {"email": ADA, "sendInvitationMessage": False, "sponsors": members[:5]}
    assert await tenant.invite(silent, "m1") == "invited"
    assert await tenant.invite({"email": ADA, "sponsors": members[5:]}, "m2") == "rejected"
    assert tenant.poison_codes("guest-invitations") == ["TooManySponsors"]
    assert tenant.directory.emails_to(ADA) == 0
    assert all(len(i.invitation.sponsors) <= GRAPH_MOST for i in tenant.directory.emails)
    assert len(await recorded(tenant)) == GRAPH_MOST
