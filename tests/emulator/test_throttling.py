"""Throttling as Graph's identity-and-access token buckets, with small limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from devstack.seeds import GROUP_PROJECT_X as PROJECT_X
from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

REDIRECT = "https://myapps.microsoft.com"


def invitation(i: int) -> dict[str, Any]:
    return {"invitedUserEmailAddress": f"guest{i}@fabrikam.example", "inviteRedirectUrl": REDIRECT}


def test_429_has_retry_after_and_graph_body(graph: GraphEmulator) -> None:
    graph.control.set_limits(writes_per_window=1, window_seconds=60)
    with graph.http() as http:
        admitted = http.post("/invitations", json=invitation(0))
        throttled = http.post("/invitations", json=invitation(1))
        reads = http.get(f"/groups/{PROJECT_X}/members")
    assert admitted.status_code == 201
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    error = throttled.json()["error"]
    assert (error["code"], error["message"]) == ("TooManyRequests", "Too many requests.")
    assert "request-id" in error["innerError"]
    assert reads.status_code == 200  # reads spend resource units, not writes
    assert graph.control.counters()["throttled"] == 1


async def test_burst_honouring_retry_after_finishes_within_the_bucket(
    graph: GraphEmulator,
) -> None:
    capacity, window = 3, 1.0
    graph.control.set_limits(writes_per_window=capacity, window_seconds=window)
    token = graph.token()
    saw_429 = 0

    async def invite_until_done(client: httpx.AsyncClient, i: int) -> int:
        nonlocal saw_429
        deadline = time.monotonic() + 30
        while True:
            response = await client.post("/invitations", json=invitation(i))
            if response.status_code != 429:
                return response.status_code
            saw_429 += 1
            assert time.monotonic() < deadline
            await asyncio.sleep(float(response.headers["Retry-After"]))

    async with httpx.AsyncClient(
        base_url=graph.base_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        statuses = await asyncio.gather(*(invite_until_done(client, i) for i in range(8)))

    assert statuses == [201] * 8
    counters = graph.control.counters()
    assert saw_429 > 0
    assert counters["throttled"] == saw_429
    assert counters["writes"] == 8
    stats = counters["throttling"]
    allowed = capacity + stats["writeRefillPerSecond"] * stats["writeSpanSeconds"]
    assert stats["writesAdmitted"] <= allowed + 1e-6


async def test_sdk_retry_middleware_absorbs_short_throttling(
    graph_client: Any, graph: GraphEmulator
) -> None:
    from msgraph.generated.models.invitation import Invitation

    graph.control.set_limits(writes_per_window=2, window_seconds=1)

    async def invite(i: int) -> str:
        result = await graph_client.invitations.post(
            Invitation(
                invited_user_email_address=f"sdk{i}@fabrikam.example", invite_redirect_url=REDIRECT
            )
        )
        return str(result.status)

    statuses = await asyncio.gather(*(invite(i) for i in range(5)))

    assert statuses == ["PendingAcceptance"] * 5
    counters = graph.control.counters()
    assert counters["throttled"] >= 3
    assert counters["requests"]["POST /invitations"] == 5 + counters["throttled"]


def test_scale_shrinks_the_write_bucket(graph: GraphEmulator) -> None:
    graph.control.set_limits(scale=0.001)  # 3,000 writes per 150 s -> 3
    with graph.http() as http:
        statuses = [http.post("/invitations", json=invitation(i)).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
