"""Storage failures never poison a valid message: the retry policy's storage branch, and
invite_fn / assign_fn on fakes whose ledger or queues stay down for longer than the deliveries
host.json allows (maxDequeueCount 5), then come back. A ledger row that keeps changing is the
ledger's error, retried the same way, not a Graph one."""

from __future__ import annotations

import json
from typing import cast

import pytest

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.domain.changes import Change, SponsorsRecorded
from guest_onboarding.domain.ledger import GuestStatus
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from guest_onboarding.errors import (
    BudgetContention,
    DirectoryError,
    LedgerContention,
    PermanentStoreError,
    StoreError,
    StoreUnavailable,
)
from guest_onboarding.ports import InvitationResult
from guest_onboarding.retry import STORE_RETRY_SECONDS, Action, RetryRules
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox

ADA = {"email": "ada@fabrikam.example", "accessProfiles": ["fabrikam-project-x"]}
BUSY = StoreUnavailable(
    "could not read a ledger row: Storage answered 503 ServerBusy", code="ServerBusy", status=503
)
TRANSIENT: list[StoreError] = [
    BUSY,
    StoreUnavailable("could not claim a ledger row: no answer (Timeout)", code="Timeout"),
    LedgerContention("the guest's ledger row kept changing"),
    BudgetContention("the writes row changed under 20 attempts"),
]


def parts(rt: Runtime) -> tuple[FakeDirectory, FakeLedger, FakeOutbox]:
    return (
        cast(FakeDirectory, rt.directory),
        cast(FakeLedger, rt.ledger),
        cast(FakeOutbox, rt.outbox),
    )


async def invite(rt: Runtime, body: object, message_id: str = "m1", count: int = 1) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return await handle_invitation_message(
        body=text, message_id=message_id, dequeue_count=count, rt=rt
    )


# -- the retry policy --------------------------------------------------------------------------


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: e.code)
def test_a_transient_storage_error_is_never_poisoned_on_either_queue(exc: StoreError) -> None:
    for policy in (
        RetryRules(max_dequeue_count=5),
        RetryRules(max_dequeue_count=5, max_attempts=8),
    ):
        for attempt in range(20):
            for dequeue_count in range(1, 12):
                decision = policy.decide(exc, attempt=attempt, dequeue_count=dequeue_count)
                assert decision.action != Action.POISON, (policy, attempt, dequeue_count)


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: e.code)
def test_redelivered_while_deliveries_remain_then_put_back_a_minute_later_uncounted(
    exc: StoreError,
) -> None:
    policy = RetryRules(max_dequeue_count=5, max_attempts=8)
    decisions = [policy.decide(exc, attempt=7, dequeue_count=n) for n in range(1, 6)]
    assert [d.action for d in decisions] == [Action.REDELIVER] * 3 + [Action.REQUEUE] * 2
    for put_back in decisions[3:]:
        assert put_back.delay == STORE_RETRY_SECONDS == 60.0
        assert not put_back.counts_as_attempt  # a step's Graph attempts stay its own


def test_a_permanent_storage_error_is_poisoned_at_once() -> None:
    refused = PermanentStoreError("refused", code="AuthorizationPermissionMismatch", status=403)
    for policy in (
        RetryRules(max_dequeue_count=5),
        RetryRules(max_dequeue_count=5, max_attempts=8),
    ):
        assert policy.decide(refused, attempt=0, dequeue_count=1).action == Action.POISON


# -- invite_fn and assign_fn through an outage ---------------------------------------------------


async def test_an_invitation_outlives_a_ledger_outage_longer_than_its_deliveries(
    rt: Runtime,
) -> None:
    directory, ledger, outbox = parts(rt)
    ledger.outage = BUSY
    for count in (1, 2, 3):  # the queue shows the same message again (visibilityTimeout)
        with pytest.raises(StoreUnavailable):
            await invite(rt, ADA, count=count)
    assert await invite(rt, ADA, count=4) == "retrying"  # done with: a copy waits instead
    assert outbox.requeued == [(json.dumps(ADA), STORE_RETRY_SECONDS)]
    assert outbox.poison == {} and directory.emails == []
    ledger.outage = None  # Storage answers again; the copy comes round
    assert await invite(rt, outbox.requeued[0][0], message_id="copy") == "invited"
    assert directory.emails_to("ada@fabrikam.example") == 1
    assert outbox.poison == {}


async def test_with_the_queue_down_too_the_last_delivery_puts_the_copy_back(rt: Runtime) -> None:
    _, ledger, outbox = parts(rt)
    ledger.outage = outbox.outage = BUSY
    with pytest.raises(StoreUnavailable):  # putting the copy back failed: delivered once more
        await invite(rt, ADA, count=4)
    outbox.outage = None
    assert await invite(rt, ADA, count=5) == "retrying"
    assert len(outbox.requeued) == 1 and outbox.poison == {}


async def test_an_assignment_step_outlives_a_ledger_outage_with_its_attempts_intact(
    rt: Runtime,
) -> None:
    directory, ledger, outbox = parts(rt)
    assert await invite(rt, ADA) == "invited"
    step, _ = outbox.assignments.pop(0)
    body = step.model_dump_json()
    ledger.outage = BUSY
    for count in (1, 2, 3):
        with pytest.raises(StoreUnavailable):
            await handle_assignment_message(body=body, message_id="a", dequeue_count=count, rt=rt)
    outcome = await handle_assignment_message(body=body, message_id="a", dequeue_count=4, rt=rt)
    assert outcome == "retrying"
    copy, delay = outbox.assignments.pop()
    assert copy == step.model_copy(update={"requeued": True}) and copy.attempt == 0
    assert delay == STORE_RETRY_SECONDS
    assert outbox.poison == {}
    ledger.outage = None
    copy_body = copy.model_dump_json()
    assert await handle_assignment_message(body=copy_body, message_id="b", rt=rt) == "done"
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.steps[step.key].value == "done"
    assert directory.calls.count("add_group_member") == 1


async def test_a_ledger_outage_right_after_the_invitation_sends_no_second_email(
    rt: Runtime,
) -> None:
    directory, ledger, outbox = parts(rt)
    sent = directory.invite

    async def invite_then_outage(email: str, invitation: object) -> InvitationResult:
        result = await sent(email, invitation)  # type: ignore[arg-type]
        ledger.outage = BUSY  # the write recording it fails
        return result

    directory.invite = invite_then_outage  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await invite(rt, ADA, count=1)
    directory.invite = sent  # type: ignore[method-assign]
    ledger.outage = None
    assert await invite(rt, ADA, count=2) == "invited"  # recovered from the claim, not re-sent
    assert directory.emails_to("ada@fabrikam.example") == 1
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED
    assert len(outbox.assignments) == 2 and outbox.poison == {}  # the profile's group and role


class ContendedLedger(FakeLedger):
    """Another delivery writes the row between every read and every sponsor write."""

    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        if isinstance(change, SponsorsRecorded):
            return False
        return await super().update(email, change, etag=etag)


async def test_sponsor_contention_is_a_ledger_error_that_waits_instead_of_poisoning(
    rt: Runtime,
) -> None:
    directory, _, outbox = parts(rt)
    contended = ContendedLedger(clock=rt.clock)
    rt.ledger = contended
    directory.add_user("grace@contoso.example", user_type="Member", upn="grace@contoso.example")
    assert await invite(rt, ADA) == "invited"
    later = {**ADA, "sponsors": ["grace@contoso.example"]}
    with pytest.raises(LedgerContention) as raised:
        await invite(rt, later, message_id="m2", count=1)
    assert not isinstance(raised.value, DirectoryError)
    assert await invite(rt, later, message_id="m2", count=5) == "retrying"
    assert outbox.poison == {}
    assert outbox.requeued == [(json.dumps(later), STORE_RETRY_SECONDS)]


async def test_a_permanent_storage_error_is_poisoned_with_storages_reason(rt: Runtime) -> None:
    _, ledger, outbox = parts(rt)
    ledger.outage = PermanentStoreError(
        "could not read a ledger row: Storage refused it (403 AuthorizationPermissionMismatch)",
        code="AuthorizationPermissionMismatch",
        status=403,
        request_id="r-1",
    )
    assert await invite(rt, ADA) == "poisoned"
    [envelope] = outbox.poison[f"{rt.settings.invitations_queue}-poison"]
    assert envelope["error"] == {
        "code": "AuthorizationPermissionMismatch",
        "message": (
            "could not read a ledger row: Storage refused it (403 AuthorizationPermissionMismatch)"
        ),
        "status": "403",
        "requestId": "r-1",
    }
    assert json.loads(envelope["original"]) == ADA
