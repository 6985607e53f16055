"""GraphPacer (adapters/graph/pacer.py): calls leave at their slots, instances share one budget,
a 429 in one holds the others back, invitations wait in line on their queue, and a failing
shared record falls back to per-process pacing with one log line.

Time is virtual: sleeping advances a clock once every task is waiting, so nothing here waits
for real (and no assertion is about how fast anything runs)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from devstack.seeds import GROUP_PROJECT_X
from guest_onboarding.adapters.graph import GraphClient, GraphDirectory
from guest_onboarding.adapters.graph.budget_record import (
    RETRY_SHARED_SECONDS,
    MemoryBudgetStore,
    SharedRecord,
)
from guest_onboarding.adapters.graph.line_bucket import COME_BACK_EARLY_SECONDS
from guest_onboarding.adapters.graph.pacer import CallKind, GraphPacer, bucket_rules, call_kind
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import Throttled

LOGGER = "guest_onboarding.graph_budget"


class VirtualTime:
    """A clock and a sleep for the pacer; :meth:`run` advances the clock to the next wake-up
    whenever every task is asleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        await future

    async def run(self, *coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
        """Run the coroutines together; each result, or the exception it raised."""
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                break
            if self._sleepers:
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
            else:
                await asyncio.sleep(0.001)  # something waits on real time (a store timeout)
        return [t.exception() or t.result() for t in tasks]


def pacer(
    clock: VirtualTime,
    *,
    store: Any = None,
    writes: float = 10.0,
    reads: float = 100.0,
    invitations_per_minute: float = 1.0,
    **options: Any,
) -> GraphPacer:
    buckets = bucket_rules(
        writes_per_second=writes,
        reads_per_second=reads,
        invitations_per_minute=invitations_per_minute,
    )
    return GraphPacer(buckets, store=store, clock=clock.time, sleep=clock.sleep, **options)


def sent_at(clock: VirtualTime, gate: Callable[[], Awaitable[None]]) -> Callable[[], Any]:
    async def call() -> float:
        await gate()
        return clock.now

    return call


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in itertools.pairwise(ordered)]


class Credential:
    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None


def paced_directory(
    graph: Callable[[httpx.Request], httpx.Response], **options: Any
) -> GraphDirectory:
    """The real GraphDirectory and GraphClient on a mock transport, paced in memory (20 writes
    and 100 reads a second, 1 invitation a minute)."""
    buckets = bucket_rules(writes_per_second=20, reads_per_second=100, invitations_per_minute=1)
    return GraphDirectory(
        GraphClient.create(
            base_url="http://127.0.0.1:9/v1.0",
            credential=Credential(),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(graph)),
            pacer=GraphPacer(buckets, store=MemoryBudgetStore(), **options),
        )
    )


def test_call_kinds() -> None:
    assert call_kind("GET", "{+baseurl}/users{?%24filter}") is CallKind.READ
    # the SDK's own template for POST /invitations, query expression and all
    template = (
        "{+baseurl}/invitations{?%24count,%24expand,%24filter,%24orderby,%24search,"
        "%24select,%24skip,%24top}"
    )
    assert call_kind("POST", template) is CallKind.INVITATION
    assert call_kind("POST", "https://graph.microsoft.com/v1.0/invitations?x=1") is (
        CallKind.INVITATION
    )
    assert call_kind("POST", "{+baseurl}/groups/{group%2Did}/members/$ref") is CallKind.WRITE
    assert call_kind("DELETE", "{+baseurl}/users/{user%2Did}") is CallKind.WRITE
    assert call_kind("PATCH", "{+baseurl}/users/{user%2Did}") is CallKind.WRITE


async def test_concurrent_writes_leave_one_slot_apart() -> None:
    clock = VirtualTime()
    paced = pacer(clock, store=MemoryBudgetStore(), writes=10.0)
    call = sent_at(clock, lambda: paced.before(CallKind.WRITE))
    times = await clock.run(*(call() for _ in range(40)))
    assert all(isinstance(t, float) for t in times)
    assert min(gaps(times)) >= 0.1 - 1e-9
    assert max(times) - min(times) == pytest.approx(3.9)


async def test_two_instances_on_one_record_share_the_rate_and_apart_they_do_not() -> None:
    for store_of, shared in ((lambda s: s, True), (lambda s: None, False)):
        clock = VirtualTime()
        record = MemoryBudgetStore()
        one, two = (pacer(clock, store=store_of(record), writes=10.0) for _ in range(2))
        calls = [sent_at(clock, lambda p=p: p.before(CallKind.WRITE)) for p in (one, two)]
        times = await clock.run(*(c() for c in calls for _ in range(20)))
        if shared:
            assert min(gaps(times)) >= 0.1 - 1e-9
            assert max(times) - min(times) == pytest.approx(3.9)
        else:  # each paces at the full rate: together twice the budget
            assert min(gaps(times)) == pytest.approx(0.0)
            assert max(times) - min(times) == pytest.approx(1.9)


async def test_a_429_in_one_instance_holds_the_others_writes_back_within_a_second() -> None:
    clock = VirtualTime()
    record = CountingStore()
    seen_429, other = pacer(clock, store=record), pacer(clock, store=record)
    for _ in range(10):  # the other instance writes one call after another: it claims a
        await clock.run(other.before(CallKind.WRITE))  # batch of slots each time
    assert record.updates < 10
    await clock.run(seen_429.throttled(CallKind.WRITE, 5.0))
    throttled_at = clock.now
    clock.now += 1.0  # slots claimed before the pause reach a second ahead at most
    write = sent_at(clock, lambda: other.before(CallKind.WRITE))
    read = sent_at(clock, lambda: other.before(CallKind.READ))
    written, was_read = await clock.run(write(), read())
    assert written >= throttled_at + 5.0  # waited the pause out before sending
    assert was_read == throttled_at + 1.0  # reads are another bucket


async def test_a_pause_longer_than_the_longest_wait_sends_the_message_back_to_its_queue() -> None:
    clock = VirtualTime()
    record = MemoryBudgetStore()
    seen_429, other = pacer(clock, store=record), pacer(clock, store=record, max_wait=2.0)
    await clock.run(seen_429.throttled(CallKind.WRITE, 30.0))
    throttled_at = clock.now
    clock.now += 1.0
    (held,) = await clock.run(other.before(CallKind.WRITE))
    assert isinstance(held, Throttled) and held.status == 429
    assert held.retry_after == pytest.approx(throttled_at + 30.0 - clock.now)
    assert clock.now == throttled_at + 1.0  # refused at once, without waiting


async def test_reads_are_paced_apart_from_writes() -> None:
    clock = VirtualTime()
    paced = pacer(clock, store=MemoryBudgetStore(), writes=1.0, reads=100.0)
    write = sent_at(clock, lambda: paced.before(CallKind.WRITE))
    read = sent_at(clock, lambda: paced.before(CallKind.READ))
    start = clock.now
    times = await clock.run(*(write() for _ in range(10)), *(read() for _ in range(10)))
    writes, reads = times[:10], times[10:]
    assert max(writes) - start == pytest.approx(9.0)
    assert max(reads) - start == pytest.approx(0.09)


async def test_invitations_wait_in_line_on_their_queue_not_in_the_function() -> None:
    clock = VirtualTime()
    paced = pacer(clock, store=MemoryBudgetStore(), invitations_per_minute=1.0)
    start = clock.now
    results = await clock.run(
        *(paced.before(CallKind.INVITATION, turn=f"guest{i}@fabrikam.example") for i in range(3))
    )
    assert results[0] is None
    refused = [r for r in results if isinstance(r, Throttled)]
    assert [r.code for r in refused] == ["InvitationsPaced", "InvitationsPaced"]
    # places at 60 and 120 s (each took a write slot first, a tenth of a second apart); their
    # messages come back a little before (the queue may return them up to 3 s late)
    early = COME_BACK_EARLY_SECONDS
    assert sorted(r.retry_after for r in refused) == pytest.approx(
        [60.0 - early, 120.0 - early], abs=0.5
    )
    assert clock.now - start < 1.0  # nobody slept for the minute


async def test_writes_booked_beyond_the_longest_wait_go_back_to_their_queue() -> None:
    clock = VirtualTime()
    paced = pacer(clock, store=MemoryBudgetStore(), writes=1.0, max_wait=2.0)
    start = clock.now
    call = sent_at(clock, lambda: paced.before(CallKind.WRITE))
    results = await clock.run(*(call() for _ in range(6)))
    sent = [r for r in results if isinstance(r, float)]
    full = [r for r in results if isinstance(r, Throttled)]
    assert full and all(r.code == "GraphBudgetFull" and r.retry_after >= 1 for r in full)
    assert max(sent) - start <= 2.0 + 0.5  # the longest wait, plus one claim's reach
    assert min(gaps(sent)) >= 1.0 - 1e-9


class FailingStore:
    """A shared record that is down (``error``) or hangs (``hang``) until ``healthy`` is set."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.healthy = False
        self.calls = 0
        self.forgotten = False
        self.memory = MemoryBudgetStore()

    async def update(self, bucket: str, change: Callable[[Mapping[str, float] | None], Any]) -> Any:
        self.calls += 1
        if not self.healthy:
            if self.hang:
                await asyncio.Event().wait()
            raise ConnectionError("table endpoint refused the connection")
        return await self.memory.update(bucket, change)

    def forget(self) -> None:
        self.forgotten = True

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("hang", [False, True], ids=["down", "slow"])
async def test_a_failing_shared_record_falls_back_to_per_process_pacing_and_says_so_once(
    hang: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = VirtualTime()
    store = FailingStore(hang=hang)
    paced = pacer(clock, store=store, writes=10.0, store_timeout=0.05)
    call = sent_at(clock, lambda: paced.before(CallKind.WRITE))
    read = sent_at(clock, lambda: paced.before(CallKind.READ))
    times = await clock.run(*(call() for _ in range(20)), *(read() for _ in range(5)))
    assert all(isinstance(t, float) for t in times)  # onboarding goes on
    assert min(gaps(times[:20])) >= 0.1 - 1e-9  # still paced, per process
    assert not paced.shared
    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert len(warnings) == 1 and "per process" in warnings[0].getMessage()
    asked = store.calls  # once by each bucket that was claiming when it failed
    assert asked <= 2
    more = await clock.run(*(call() for _ in range(20)))
    assert all(isinstance(t, float) for t in more)
    assert store.calls == asked  # not asked again before the retry delay
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1

    store.healthy = True
    clock.now += RETRY_SHARED_SECONDS
    assert await clock.run(call()) == [clock.now]
    assert paced.shared and store.calls == asked + 1
    assert "again" in caplog.records[-1].getMessage()


async def test_falling_back_an_instance_starts_at_its_own_share_not_the_whole_budget() -> None:
    clock = VirtualTime()
    store = FailingStore()
    store.healthy = True
    one, two = (pacer(clock, store=store, writes=10.0, store_timeout=0.05) for _ in range(2))
    calls = [sent_at(clock, lambda p=p: p.before(CallKind.WRITE)) for p in (one, two)]
    await clock.run(*(c() for c in calls for _ in range(30)))  # about 5/s each
    store.healthy = False  # the table goes down: each instance on its own from here
    times = await clock.run(*(calls[0]() for _ in range(20)))
    assert not one.shared
    # at the whole budget (10/s) these 20 would span 1.9 s; at its share (5/s, +25%) ~3 s
    assert max(times) - min(times) > 2.5


async def test_graph_client_paces_invitations_on_the_sdks_own_requests() -> None:
    """Through GraphClient.send, as the app calls it: the second invitation within the minute
    never reaches Graph, while look-ups and group writes go on."""

    sent: list[str] = []

    def graph(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/invitations"):
            return httpx.Response(201, json={"invitedUser": {"id": "u1"}})
        if request.method == "GET":
            return httpx.Response(200, json={"value": []})
        return httpx.Response(204)

    directory = paced_directory(graph)
    invitation = Invitation(redirect_url="https://myapps.microsoft.com")
    try:
        await directory.invite("ada@fabrikam.example", invitation)
        with pytest.raises(Throttled) as paced:
            await directory.invite("bob@fabrikam.example", invitation)
        assert await directory.find_users("bob@fabrikam.example") == ()
        await directory.add_group_member(group_id=GROUP_PROJECT_X, user_id="u1")
    finally:
        await directory.aclose()
    assert paced.value.code == "InvitationsPaced" and 55 < paced.value.retry_after <= 60
    assert sent == [
        "POST /v1.0/invitations",
        "GET /v1.0/users",
        f"POST /v1.0/groups/{GROUP_PROJECT_X}/members/$ref",
    ]


class CountingStore(MemoryBudgetStore):
    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    async def update(self, bucket: str, change: Callable[[Mapping[str, float] | None], Any]) -> Any:
        self.updates += 1
        return await super().update(bucket, change)


async def test_calls_one_after_another_share_claims_at_the_pace_they_keep() -> None:
    clock = VirtualTime()
    store = CountingStore()
    paced = pacer(clock, store=store, writes=20.0)

    async def one_after_another() -> list[float]:
        sent = []
        for _ in range(40):
            await paced.before(CallKind.WRITE)
            sent.append(clock.now)
        return sent

    (sent,) = await clock.run(one_after_another())
    assert min(gaps(sent)) >= 1 / 20 - 1e-9
    # a claim per call would be 40 trips to the shared record; claiming a quarter second of
    # the pace these calls keep (5 slots) takes well under half that
    assert store.updates <= 20


async def test_while_the_shared_record_is_down_invitations_wait_for_it() -> None:
    """Per process, four instances would invite four times INVITATIONS_PER_MINUTE (and Entra
    blocks a tenant for bursts): the invitations wait on their queue, everything else goes on."""
    clock = VirtualTime()
    store = FailingStore()
    instances = [pacer(clock, store=store, store_timeout=0.05) for _ in range(4)]
    sent: list[float] = []
    refused: list[Throttled] = []

    async def invite(paced: GraphPacer) -> None:
        try:
            await paced.before(CallKind.INVITATION)
        except Throttled as exc:
            refused.append(exc)
        else:
            sent.append(clock.now)

    for _ in range(5):  # five minutes, each instance trying once a minute
        await clock.run(*(invite(p) for p in instances))
        clock.now += 60.0
    assert sent == []
    assert len(refused) == 20
    assert {r.code for r in refused} == {"GraphBudgetUnavailable"}
    assert all(r.retry_after == RETRY_SHARED_SECONDS for r in refused)
    write = sent_at(clock, lambda: instances[0].before(CallKind.WRITE))
    assert all(isinstance(t, float) for t in await clock.run(write(), write()))

    store.healthy = True  # the table answers again: one invitation a minute for all four
    clock.now += RETRY_SHARED_SECONDS
    await clock.run(*(invite(p) for p in instances))
    assert len(sent) == 1
    assert sorted(r.code for r in refused[20:]) == ["InvitationsPaced"] * 3


async def test_an_invitation_back_on_time_keeps_its_place_when_the_one_before_came_back_late() -> (
    None
):
    """The queue returns a message up to 1 s after its visibility ends, plus the host's polling
    interval (2 s): each invitation still goes out at its place's time, one minute apart."""
    clock = VirtualTime()
    paced = pacer(clock, store=MemoryBudgetStore(), invitations_per_minute=1.0)

    def invite(who: str) -> Coroutine[Any, Any, float]:
        return sent_at(clock, lambda: paced.before(CallKind.INVITATION, turn=who))()

    first, second, third = await clock.run(invite("a"), invite("b"), invite("c"))
    assert isinstance(first, float)
    assert isinstance(second, Throttled) and isinstance(third, Throttled)
    start = clock.now
    clock.now = start + second.retry_after + 3.0  # late by the most the queue allows
    (second_sent,) = await clock.run(invite("b"))
    clock.now = max(clock.now, start + third.retry_after)  # on time
    (third_sent,) = await clock.run(invite("c"))
    assert [second_sent - first, third_sent - first] == pytest.approx([60.0, 120.0], abs=0.2)


async def test_a_429_holds_back_only_its_own_bucket_through_the_graph_client() -> None:
    """The sweep's listing answered 429: group writes go on (they are another bucket)."""

    sent: list[str] = []

    def graph(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            return httpx.Response(429, headers={"Retry-After": "30"}, json={"error": {}})
        return httpx.Response(204)

    directory = paced_directory(graph, max_wait=1.0)
    try:
        with pytest.raises(Throttled):
            await directory.find_users("ada@fabrikam.example")
        await directory.add_group_member(group_id=GROUP_PROJECT_X, user_id="u1")
        with pytest.raises(Throttled):  # the reads wait out their pause on the queue
            await directory.find_users("bob@fabrikam.example")
    finally:
        await directory.aclose()
    assert sent == ["GET /v1.0/users", f"POST /v1.0/groups/{GROUP_PROJECT_X}/members/$ref"]


class CachingFailingStore(FailingStore):
    """Like ``TableBudgetStore``: a claim that gets nothing on the row as last seen needs no
    round trip (until the store is told to forget what it saw)."""

    def __init__(self) -> None:
        super().__init__()
        self.healthy = True
        self.seen: dict[str, dict[str, float]] = {}

    async def update(self, bucket: str, change: Callable[[Mapping[str, float] | None], Any]) -> Any:
        if bucket in self.seen:
            record, result = change(self.seen[bucket])
            if record == self.seen[bucket]:
                return result

        def remember(current: Mapping[str, float] | None) -> Any:
            record, result = change(current)
            self.seen[bucket] = record
            return record, result

        return await super().update(bucket, remember)

    def forget(self) -> None:
        self.seen.clear()


async def test_a_view_kept_from_before_an_outage_does_not_count_as_the_table_answering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A claim that gets nothing on the row as last seen needs no round trip; after a failure
    that must not pass for the table answering again (each retry would log a new outage)."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = VirtualTime()
    store = CachingFailingStore()
    record = SharedRecord(store, clock.time, 0.05)

    def booked(current: Mapping[str, float] | None) -> tuple[dict[str, float], None]:
        return {"next_slot": clock.now + 600.0}, None

    def nothing_to_change(current: Mapping[str, float] | None) -> tuple[dict[str, float], None]:
        return dict(current or {}), None

    await record.update("writes", booked)
    store.healthy = False
    clock.now += 1.0
    await record.update("writes", booked)  # fails: per process from here
    for _ in range(4):
        clock.now += RETRY_SHARED_SECONDS
        await record.update("writes", nothing_to_change)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and "unavailable" in lines[0]
    assert record.degraded


class SlowStore(MemoryBudgetStore):
    """A shared record with a round trip of ``seconds`` (virtual), counting the changes of each
    bucket under way at once."""

    def __init__(self, clock: VirtualTime, seconds: float) -> None:
        super().__init__()
        self._clock, self._seconds = clock, seconds
        self.under_way: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.changes: dict[str, int] = {}

    async def update(self, bucket: str, change: Callable[[Mapping[str, float] | None], Any]) -> Any:
        self.under_way[bucket] = self.under_way.get(bucket, 0) + 1
        self.most[bucket] = max(self.most.get(bucket, 0), self.under_way[bucket])
        self.changes[bucket] = self.changes.get(bucket, 0) + 1
        try:
            await self._clock.sleep(self._seconds)
            return await super().update(bucket, change)
        finally:
            self.under_way[bucket] -= 1


async def test_one_process_changes_the_invitation_line_once_at_a_time() -> None:
    """Sixteen invitations of one instance arriving one after another while the row answers
    slowly: one change under way at a time, each for every invitation that asked meanwhile
    (changes of one process racing each other only lose etag races to each other, and enough
    lost races send the whole process to its per-process fallback)."""
    clock = VirtualTime()
    store = SlowStore(clock, seconds=0.2)
    paced = pacer(clock, store=store, writes=1000.0, invitations_per_minute=600.0)

    async def invite(i: int) -> None:
        await clock.sleep(i * 0.01)
        await paced.before(CallKind.INVITATION, turn=f"guest{i}@fabrikam.example")

    results = await clock.run(*(invite(i) for i in range(16)))
    assert all(r is None or isinstance(r, Throttled) for r in results)
    assert store.most["invitations"] == 1
    assert store.changes["invitations"] <= 4
