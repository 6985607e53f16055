"""The shared Graph budget on Azurite (adapters/storage/budget.py): instances with their own
Table clients, as separate processes would have, share one schedule; a 429 one of them reports
holds the others back within a second; an unreachable or missing table falls back to pacing per
process, with one log line."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.data.tables import TableServiceClient

from devstack.seeds import GROUP_PROJECT_X as GROUP
from guest_onboarding.adapters.graph import GraphClient, GraphDirectory
from guest_onboarding.adapters.graph.budget_record import Record
from guest_onboarding.adapters.graph.line import (
    LINE_CAPACITY,
    WAITING_CAPACITY,
    place_key,
    take_turns,
)
from guest_onboarding.adapters.graph.pacer import CallKind, GraphPacer, bucket_rules
from guest_onboarding.adapters.graph.pacing import BucketRules, claim
from guest_onboarding.adapters.storage.budget import TableBudgetStore
from guest_onboarding.config import StorageSettings
from guest_onboarding.errors import Throttled
from local_functions_host.storage import connection_string_for
from tests.fixtures.azurite import AzuriteEndpoint

pytestmark = pytest.mark.integration

LOGGER = "guest_onboarding.graph_budget"
USER = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"


@dataclass
class BudgetTable:
    """A fresh budget table; :meth:`store` makes one store (its own Table client) per call,
    as each instance of the app has its own."""

    name: str
    storage: StorageSettings
    stores: list[TableBudgetStore] = field(default_factory=list)

    def __call__(self) -> TableBudgetStore:
        self.stores.append(TableBudgetStore.create(self.storage, self.name))
        return self.stores[-1]


@pytest.fixture
async def budget_table(azurite: AzuriteEndpoint) -> AsyncIterator[BudgetTable]:
    name = f"budget{uuid.uuid4().hex[:10]}"
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        service.create_table(name)
    table = BudgetTable(name, StorageSettings(connection_string=azurite.connection_string))
    yield table
    for store in table.stores:
        await store.close()
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        service.delete_table(name)


def pacer(store: TableBudgetStore | None, *, max_wait: float = 30.0) -> GraphPacer:
    """Pacing as the app configures it; ``max_wait`` is how long a call may wait (a pause
    longer than that sends the message back to its queue)."""
    buckets = bucket_rules(writes_per_second=20, reads_per_second=100, invitations_per_minute=1)
    return GraphPacer(buckets, store=store, max_wait=max_wait)


async def test_instances_racing_on_the_row_never_hand_out_a_slot_twice(
    budget_table: BudgetTable,
) -> None:
    rules = BucketRules(name="writes", rate=20.0, horizon=60.0, batch=3)
    stores = [budget_table() for _ in range(4)]
    now = time.time()

    def take(record: dict[str, float] | None) -> tuple[dict[str, float], tuple[float, ...]]:
        state, grant = claim(record, rules, now, 3)
        return state.to_record(), grant.slots

    grants = await asyncio.gather(*(s.update("writes", take) for s in stores for _ in range(10)))
    slots = sorted(itertools.chain.from_iterable(grants))
    assert len(slots) == 120 == len(set(slots))  # 40 claims of 3, all distinct
    assert min(b - a for a, b in itertools.pairwise(slots)) >= 1 / 20 - 1e-6


async def test_a_429_in_one_instance_holds_the_other_back_within_a_second(
    budget_table: BudgetTable,
) -> None:
    seen_429, other = pacer(budget_table()), pacer(budget_table(), max_wait=1.0)
    await other.before(CallKind.WRITE)  # the other instance holds a batch of slots
    await seen_429.throttled(CallKind.WRITE, 4.0)
    reported = time.monotonic()
    await asyncio.sleep(1.0)
    with pytest.raises(Throttled) as held:
        await other.before(CallKind.WRITE)
    waited = time.monotonic() - reported
    assert 0 < held.value.retry_after <= 4.0 - waited + 0.1
    assert other.shared and seen_429.shared
    await other.before(CallKind.READ)  # reads are their own bucket


@pytest.mark.parametrize("broken", ["unreachable", "missing table"])
async def test_a_broken_shared_record_falls_back_to_per_process_pacing_with_one_log_line(
    azurite: AzuriteEndpoint, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    if broken == "unreachable":  # nothing listens on port 9 (discard)
        storage = StorageSettings(connection_string=connection_string_for(9, 9, 9))
    else:
        storage = StorageSettings(connection_string=azurite.connection_string)
    store = TableBudgetStore.create(storage, f"nosuchtable{uuid.uuid4().hex[:8]}")
    paced = pacer(store)
    try:
        for _ in range(5):
            await paced.before(CallKind.WRITE)
        await paced.before(CallKind.READ)
    finally:
        await paced.aclose()
    assert not paced.shared
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and "pacing Graph calls per process" in lines[0]


class StaticCredential:
    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None


def graph_directory(
    answer: Callable[[httpx.Request], httpx.Response],
    sent: list[httpx.Request],
    store: TableBudgetStore,
) -> GraphDirectory:
    def transport(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    client = GraphClient.create(
        base_url="http://127.0.0.1:9/v1.0",
        credential=StaticCredential(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(transport)),
        pacer=pacer(store, max_wait=1.0),
    )
    return GraphDirectory(client)


async def test_graph_clients_of_two_instances_share_the_pause_after_a_429(
    budget_table: BudgetTable,
) -> None:
    """What the composition root wires: the GraphClient reports its 429 to the shared record,
    and the other instance's GraphClient sends nothing until Retry-After has passed."""
    throttled_body = {"error": {"code": "TooManyRequests", "message": "slow down"}}
    to_throttled: list[httpx.Request] = []
    to_other: list[httpx.Request] = []
    throttled_app = graph_directory(
        lambda r: httpx.Response(429, json=throttled_body, headers={"Retry-After": "3"}),
        to_throttled,
        budget_table(),
    )
    other_app = graph_directory(lambda r: httpx.Response(204), to_other, budget_table())
    try:
        with pytest.raises(Throttled):
            await throttled_app.add_group_member(group_id=GROUP, user_id=USER)
        with pytest.raises(Throttled) as held:
            await other_app.add_group_member(group_id=GROUP, user_id=USER)
        assert held.value.retry_after > 1.5
        assert len(to_throttled) == 1 and to_other == []  # the other app never reached Graph
    finally:
        await throttled_app.aclose()
        await other_app.aclose()


async def test_a_claim_that_gets_nothing_leaves_the_row_untouched(
    budget_table: BudgetTable, azurite: AzuriteEndpoint
) -> None:
    """Instances asking while the schedule is booked only read: they never race each other's
    writes (the row's etag stays as it was)."""
    rules = BucketRules(name="writes", rate=20.0, horizon=0.5, batch=20)
    store = budget_table()
    now = time.time() + 60  # a fixed moment: the horizon fills and stays full

    def take(record: dict[str, float] | None) -> tuple[dict[str, float], int]:
        state, grant = claim(record, rules, now, 20)
        return state.to_record(), len(grant.slots)

    assert await store.update("writes", take) == 11  # the horizon: now .. now + 0.5 s
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        row = service.get_table_client(budget_table.name)
        before = row.get_entity("graph", "writes").metadata["etag"]
        assert await store.update("writes", take) == 0
        after = row.get_entity("graph", "writes").metadata["etag"]
    assert after == before


async def test_a_full_invitation_line_with_every_waiting_key_fits_one_table_entity(
    budget_table: BudgetTable,
) -> None:
    """``LINE_CAPACITY`` places and ``WAITING_CAPACITY`` waiting keys, with the schedule, in one
    row: Azurite stores the entity (at most 252 properties of its own) and gives every one back."""
    rules = bucket_rules(writes_per_second=20, reads_per_second=100, invitations_per_minute=1)[
        CallKind.INVITATION
    ]
    store = budget_table()
    keys = [place_key(f"guest{i}@fabrikam.example") for i in range(LINE_CAPACITY + 60)]

    def ask(record: Record | None) -> tuple[dict[str, float], dict[str, float]]:
        after, _ = take_turns(record, rules, 1000.0, keys)
        return after, after

    written = await store.update(rules.name, ask)
    assert sum(name.startswith("p_") for name in written) == LINE_CAPACITY
    assert sum(name.startswith("w_") for name in written) == WAITING_CAPACITY
    fresh = budget_table()  # another instance: it reads the row from the table
    read_back = await fresh.update(rules.name, lambda record: (dict(record or {}), record))
    assert read_back == written
