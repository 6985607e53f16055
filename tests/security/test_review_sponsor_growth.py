"""Review (attacker's view): a guest's sponsors grow without bound, in the row and in Graph.

A message names at most five sponsors (``MAX_SPONSORS``), but ``invite._record_new_sponsors``
adds every new one to what the guest's row records, message after message, and with
``ADD_SPONSORS_TO_EXISTING_USERS`` each one becomes a ``sponsor_<id>`` step: a ledger column and
a ``POST /users/{id}/sponsors/$ref``. Graph takes at most five sponsors per guest
(GRAPH_NOTES.md, "Lifecycle, sponsors and refusals"; the contract: "up to 5 internal users").
Anyone with send rights can so make every member of the tenant a sponsor of any existing user
matched by address, and grow the row (one column per sponsor, one JSON array holding them all)
until Azure Tables refuses it (252 properties, 64 KiB per property): from then on every message
for that guest that names a new sponsor or step is poisoned.

The oracle counts sponsors in the fake directory and in the row.
"""

from __future__ import annotations

from tests.security.conftest import make_tenant

ADA = "ada@fabrikam.example"
#: Graph's limit of sponsors per user, and the contract's per message.
MOST_SPONSORS = 5


async def test_review_messages_cannot_give_a_guest_more_sponsors_than_graph_allows() -> None:
    tenant = make_tenant(ADD_SPONSORS_TO_EXISTING_USERS="true")
    guest = tenant.directory.add_user(ADA, state="Accepted")  # a guest someone invited
    members = [f"member{i}@contoso.example" for i in range(15)]
    for upn in members:
        tenant.directory.add_user(upn, user_type="Member", upn=upn)

    outcomes = []
    for batch in range(3):  # three messages, five new sponsors each
        sponsors = members[batch * 5 : batch * 5 + 5]
        outcomes.append(await tenant.invite({"email": ADA, "sponsors": sponsors}, f"m{batch}"))
        await tenant.drain_assignments()
    # the first is taken; the others would give the guest ten sponsors: refused with a reason
    assert outcomes == ["existing", "rejected", "rejected"]
    assert tenant.poison_codes("guest-invitations") == ["TooManySponsors"] * 2

    row = await tenant.ledger.get(ADA)
    assert row is not None and row.invitation is not None
    recorded = len(row.invitation.sponsors)
    linked = len(tenant.directory.sponsors.get(guest.id, set()))
    assert recorded <= MOST_SPONSORS and linked <= MOST_SPONSORS, (
        f"the row records {recorded} sponsors and {linked} were added in the directory"
    )
