"""The invitation line is fair: an invitation that asked first goes out at its turn, whatever
arrives after it. An attacker with send rights on the invitations queue sends a steady trickle
of valid messages (one every 5 to 10 s), an honest bulk load arrives behind a legitimate
invitation, and the app's instances answer them all through the real GraphDirectory, GraphClient
and GraphPacer, on a fake clock, with the queue returning every re-queued message up to 3 s late
(whole-second visibility plus the host's polling interval).

The oracle is a first-come, first-served server at ``INVITATIONS_PER_MINUTE``: the k-th first
ask is served at ``max(its arrival, the (k-1)-th's turn + one interval)``. No honest invitation
may go out after its turn; none may go out closer than one interval to another."""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.data.tables import TableServiceClient

from guest_onboarding.adapters.graph import GraphClient, GraphDirectory
from guest_onboarding.adapters.graph.budget_record import MemoryBudgetStore
from guest_onboarding.adapters.graph.pacer import GraphPacer, bucket_rules
from guest_onboarding.adapters.storage.budget import TableBudgetStore
from guest_onboarding.config import StorageSettings
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import Throttled
from tests.fixtures.azurite import AzuriteEndpoint

INVITATION = Invitation(redirect_url="https://myapps.microsoft.com")
#: The queue brings a re-queued message back up to this long after its visibility ends.
QUEUE_LATE_SECONDS = 3.0


class SimClock:
    """One delivery at a time: each starts at its queue time; its sleeps (waiting for a slot
    within the horizon) move only its own time on, as concurrent deliveries would."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class Credential:
    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("test-token", 2**31)

    async def close(self) -> None:
        return None


@dataclass
class Tenant:
    """Graph's side: when each address's invitation was sent."""

    clock: SimClock
    sent: dict[str, float] = field(default_factory=dict)

    def graph(self, request: httpx.Request) -> httpx.Response:
        email = json.loads(request.content)["invitedUserEmailAddress"]
        assert email not in self.sent, f"{email} invited twice"
        self.sent[email] = self.clock.now
        return httpx.Response(201, json={"invitedUser": {"id": str(uuid.uuid4())}})


def instance(tenant: Tenant, store: Any, invitations_per_minute: float) -> GraphDirectory:
    """One instance of the app: its own Graph client and pacer, on the shared record."""
    buckets = bucket_rules(
        writes_per_second=20, reads_per_second=100, invitations_per_minute=invitations_per_minute
    )
    pacer = GraphPacer(buckets, store=store, clock=tenant.clock.time, sleep=tenant.clock.sleep)
    return GraphDirectory(
        GraphClient.create(
            base_url="http://127.0.0.1:9/v1.0",
            credential=Credential(),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(tenant.graph)),
            pacer=pacer,
        )
    )


@dataclass(order=True)
class Delivery:
    at: float
    order: int
    email: str = field(compare=False)


@dataclass
class Run:
    """The invitations queue on the fake clock, delivering to the instances at random."""

    tenant: Tenant
    instances: list[GraphDirectory]
    rng: random.Random
    queue: list[Delivery] = field(default_factory=list)
    first_ask: dict[str, float] = field(default_factory=dict)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def send(self, email: str, at: float) -> None:
        heapq.heappush(self.queue, Delivery(at, next(self._order), email))

    async def until(self, end: float) -> None:
        while self.queue and self.queue[0].at <= end:
            delivery = heapq.heappop(self.queue)
            self.tenant.clock.now = delivery.at
            self.first_ask.setdefault(delivery.email, delivery.at)
            try:
                await self.rng.choice(self.instances).invite(delivery.email, INVITATION)
            except Throttled as exc:
                assert exc.code == "InvitationsPaced"
                # The retry policy re-queues a copy: visible after the whole seconds asked,
                # delivered up to QUEUE_LATE_SECONDS later.
                back = math.ceil(exc.retry_after) + self.rng.uniform(0, QUEUE_LATE_SECONDS)
                self.send(delivery.email, delivery.at + back)

    async def close(self) -> None:
        for directory in self.instances:
            await directory.aclose()


def turns(first_ask: dict[str, float], interval: float) -> dict[str, float]:
    """The oracle: first come, first served at one per ``interval``."""
    served: dict[str, float] = {}
    last = -math.inf
    for email, at in sorted(first_ask.items(), key=lambda item: item[1]):
        last = max(at, last + interval)
        served[email] = last
    return served


def attacker_trickle(run: Run, start: float, end: float) -> None:
    at, i = start, 0
    while at < end:
        run.send(f"mallory{i}@evil.example", at)
        at += run.rng.uniform(5.0, 10.0)
        i += 1


async def scenario(run: Run, per_minute: float, *, bulk: int, minutes: float) -> list[str]:
    """The attacker trickles from the start; five minutes in, a legitimate invitation, then
    ``bulk`` honest ones within a second. The honest addresses, in arrival order."""
    t0 = run.tenant.clock.now
    attacker_trickle(run, t0, t0 + minutes * 60)
    honest = ["victim@fabrikam.example"]
    run.send(honest[0], t0 + 300.0)
    for i in range(bulk):
        honest.append(f"guest{i}@fabrikam.example")
        run.send(honest[-1], t0 + 301.0 + i / bulk)
    await run.until(t0 + minutes * 60)
    return honest


def assert_fair(run: Run, honest: list[str], per_minute: float, end: float) -> None:
    """Every honest invitation whose turn came before ``end`` went out, none after its turn;
    no two invitations closer than one interval."""
    interval = 60.0 / per_minute
    due = turns(run.first_ask, interval)
    sent = run.tenant.sent
    owed = [e for e in honest if due[e] <= end]
    assert owed, "the run ended before any honest turn"
    late = {e: sent.get(e, math.inf) - due[e] for e in owed}
    assert {e: by for e, by in late.items() if by > 0.01} == {}
    times = sorted(sent.values())
    assert min(b - a for a, b in itertools.pairwise(times)) >= interval - 0.01


@pytest.mark.parametrize(
    ("per_minute", "minutes", "bulk"),
    [
        (12.0, 20.0, 20),  # the trickle is slower than the pace: the line stays short
        (1.0, 45.0, 10),  # the trickle is six to twelve times the pace: the line only grows
    ],
)
async def test_a_trickle_and_a_bulk_load_never_delay_an_earlier_invitation(
    per_minute: float, minutes: float, bulk: int
) -> None:
    tenant = Tenant(SimClock())
    store = MemoryBudgetStore()  # the shared record, seen by both instances
    instances = [instance(tenant, store, per_minute) for _ in range(2)]
    run = Run(tenant, instances, random.Random(24))
    start = tenant.clock.now
    try:
        honest = await scenario(run, per_minute, bulk=bulk, minutes=minutes)
    finally:
        await run.close()
    assert honest[0] in tenant.sent  # the legitimate invitation went out
    assert_fair(run, honest, per_minute, start + minutes * 60)


async def test_a_flood_right_behind_an_invitation_cannot_push_it_back() -> None:
    tenant = Tenant(SimClock())
    store = MemoryBudgetStore()
    run = Run(tenant, [instance(tenant, store, 2.0) for _ in range(3)], random.Random(7))
    t0 = tenant.clock.now
    run.send("first@fabrikam.example", t0)
    run.send("victim@fabrikam.example", t0 + 1.0)
    for i in range(150):  # 150 valid messages within the next second, then again and again
        for wave in range(5):
            run.send(f"mallory{wave}-{i}@evil.example", t0 + 1.5 + wave * 20 + i / 150)
    try:
        await run.until(t0 + 300.0)
    finally:
        await run.close()
    assert tenant.sent["victim@fabrikam.example"] - t0 == pytest.approx(30.0, abs=0.01)
    assert_fair(run, ["first@fabrikam.example", "victim@fabrikam.example"], 2.0, t0 + 300.0)


# -- the same through the shared Table record on Azurite, two instances ----------------------


@pytest.fixture
async def budget_table(azurite: AzuriteEndpoint) -> AsyncIterator[Callable[[], TableBudgetStore]]:
    name = f"line{uuid.uuid4().hex[:10]}"
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_table(name)
    storage = StorageSettings(connection_string=azurite.connection_string)
    stores: list[TableBudgetStore] = []

    def store() -> TableBudgetStore:
        stores.append(TableBudgetStore.create(storage, name))
        return stores[-1]

    yield store  # (each store is closed with the Graph client of its instance)
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        service.delete_table(name)


@pytest.mark.integration
async def test_two_instances_on_the_table_record_keep_the_line_fair(
    budget_table: Callable[[], TableBudgetStore],
) -> None:
    """Each instance with its own Table client (as separate processes have), on Azurite."""
    per_minute = 12.0
    tenant = Tenant(SimClock())
    instances = [instance(tenant, budget_table(), per_minute) for _ in range(2)]
    run = Run(tenant, instances, random.Random(3))
    start = tenant.clock.now
    try:
        honest = await scenario(run, per_minute, bulk=10, minutes=12.0)
    finally:
        await run.close()
    assert set(honest) <= set(tenant.sent)
    assert_fair(run, honest, per_minute, start + 12.0 * 60)
