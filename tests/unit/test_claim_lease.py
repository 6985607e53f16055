"""The ledger's claim lease outlasts the slowest invitation the Graph adapter allows (issue 27).

The lease (``domain.ledger.CLAIM_LEASE``) is how long a concurrent delivery of the same guest
waits behind a claim before treating its holder as crashed. It is checked here against what the
adapter configures, read from where the adapter configures it, never against the lease itself:
the pacer's wait for a write slot (``GraphPacer``'s ``max_wait``) and for an invitation slot
(``INVITATION_HORIZON_SECONDS``), a round trip to the shared budget record past each
(``store_timeout``), a token fetch (``GraphClient.create``'s ``token_timeout_seconds``) and
Graph's answer (its ``timeout_seconds``; ``POST /invitations`` is never retried in process).
The invitation in the test takes all of that, and a redelivery arrives at its last moment, with
the shortest replication wait the settings allow, so a delivery that took the claim for crashed
would invite again at once. The same case against the Graph emulator, with an answer slower
than the lease itself, is in tests/integration/test_harm_on_graph.py.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any

import httpx
import pytest

from guest_onboarding import errors
from guest_onboarding.adapters.graph.client import GraphClient
from guest_onboarding.adapters.graph.pacer import INVITATION_HORIZON_SECONDS, GraphPacer
from tests.security.conftest import make_tenant
from tests.support import graph_directory

ADA = "ada@fabrikam.example"


def slowest_invitation_seconds() -> float:
    """How long one ``POST /invitations`` may keep its delivery inside the claim, as the
    adapter is configured (``bootstrap.build_runtime`` keeps these defaults)."""
    client = inspect.signature(GraphClient.create).parameters
    pacer = inspect.signature(GraphPacer.__init__).parameters
    write_slot = pacer["max_wait"].default + pacer["store_timeout"].default
    invitation_slot = INVITATION_HORIZON_SECONDS + pacer["store_timeout"].default
    token = client["token_timeout_seconds"].default
    answer = client["timeout_seconds"].default
    return float(write_slot + invitation_slot + token + answer)


async def test_a_redelivery_at_the_end_of_the_slowest_invitation_sends_no_second_email() -> None:
    tenant = make_tenant(INVITE_REPLICATION_WAIT_SECONDS="1")  # the shortest wait allowed
    redelivered: list[str] = []
    slow = True

    async def slowest_invitation(operation: str, key: str, what: object) -> None:
        nonlocal slow
        if operation == "invite" and slow:
            slow = False
            tenant.clock.now += timedelta(seconds=slowest_invitation_seconds())
            # the queue delivers the message again while Graph has not answered yet
            redelivered.append(await tenant.invite({"email": ADA}, "m2"))

    tenant.directory.hooks.append(slowest_invitation)
    assert await tenant.invite({"email": ADA}, "m1") == "invited"
    assert redelivered == ["deferred"]  # behind the claim, not inviting again
    assert tenant.directory.emails_to(ADA) == 1
    assert tenant.directory.calls.count("invite") == 1


class HangingCredential:
    """A managed identity endpoint that never answers."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


async def test_a_token_fetch_that_never_ends_is_given_up_as_no_token() -> None:
    """What the lease relies on: the adapter bounds the token fetch (a hung identity endpoint
    would otherwise hold the invitation, and its claim, for as long as azure-core waits)."""
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: requests.append(r) or httpx.Response(500))
    graph = graph_directory(
        "https://graph.microsoft.com/v1.0",
        credential=HangingCredential(),
        http_client=httpx.AsyncClient(transport=transport),
        token_timeout_seconds=0.05,
    )
    with pytest.raises(errors.ServiceUnavailable) as caught:
        await asyncio.wait_for(graph.find_users(ADA), 10)
    await graph.aclose()
    assert caught.value.code == "TokenUnavailable"
    assert requests == []  # nothing went to Graph without a token
