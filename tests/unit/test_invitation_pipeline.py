"""invite_fn and assign_fn handlers on fakes: idempotency, existing users, errors to poison."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import cast

import pytest

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.domain.changes import Change, Invited
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.invitation import app_role_step_key as role_step
from guest_onboarding.domain.invitation import group_step_key as group_step
from guest_onboarding.domain.ledger import CLAIM_LEASE, GuestStatus
from guest_onboarding.entrypoints import (
    MAX_ASSIGNMENT_ATTEMPTS,
    handle_assignment_message,
    handle_invitation_message,
)
from guest_onboarding.errors import (
    NotFound,
    NotYetReplicated,
    Refused,
    ServiceUnavailable,
    Throttled,
)
from guest_onboarding.ports import InvitationResult
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox
from tests.support import Clock

ADA = {
    "email": "ada@fabrikam.example",
    "displayName": "Ada",
    "externalId": "HR-1",
    "accessProfiles": ["fabrikam-project-x"],
    "groups": [GROUP_PARTNERS],
}


def parts(rt: Runtime) -> tuple[FakeDirectory, FakeLedger, FakeOutbox]:
    return (
        cast(FakeDirectory, rt.directory),
        cast(FakeLedger, rt.ledger),
        cast(FakeOutbox, rt.outbox),
    )


async def deliver_invite(rt: Runtime, data: object, message_id: str = "m1", count: int = 1) -> str:
    return await handle_invitation_message(
        body=json.dumps(data).encode(), message_id=message_id, dequeue_count=count, rt=rt
    )


async def drain_assignments(rt: Runtime) -> list[str]:
    """Run assign_fn over everything queued so far (and what it re-queues)."""
    _, _, outbox = parts(rt)
    outcomes = []
    while outbox.assignments:
        step, _delay = outbox.assignments.pop(0)
        outcomes.append(
            await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
        )
    return outcomes


async def test_new_guest_is_invited_once_and_fanned_out(rt: Runtime) -> None:
    directory, ledger, outbox = parts(rt)
    assert await deliver_invite(rt, ADA) == "invited"
    assert directory.emails_to("ada@fabrikam.example") == 1
    assert len(outbox.assignments) == 3
    assert await drain_assignments(rt) == ["done", "done", "done"]
    user_id = next(iter(directory.users))
    assert directory.members[GROUP_X] == {user_id} and directory.members[GROUP_PARTNERS] == {
        user_id
    }
    assert directory.assignments == {(user_id, PORTAL_SP, READER_ROLE)}
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED and row.send_count == 1
    assert row.steps == {
        group_step(GROUP_X): "done",
        group_step(GROUP_PARTNERS): "done",
        role_step(PORTAL_SP, READER_ROLE): "done",
    }


async def test_same_message_twice_sends_one_email_and_no_extra_graph_calls(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver_invite(rt, ADA)
    await drain_assignments(rt)
    calls_after_first = list(directory.calls)
    assert await deliver_invite(rt, ADA, message_id="m1", count=2) == "already_onboarded"
    assert outbox.assignments == []  # every step already done
    assert directory.emails_to("ada@fabrikam.example") == 1
    # the ledger answered; Graph was only asked whether the user still exists
    assert directory.calls == [*calls_after_first, "get_user"]


async def test_concurrent_deliveries_defer_instead_of_inviting_twice(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    results = await asyncio.gather(*(deliver_invite(rt, ADA, message_id=f"m{i}") for i in range(3)))
    assert directory.emails_to("ada@fabrikam.example") == 1
    assert results.count("invited") == 1
    # the others lost the claim race: they found the finished row or were deferred behind it
    assert all(r in {"invited", "already_onboarded", "deferred"} for r in results)
    assert directory.calls.count("invite") == 1
    for body, delay in outbox.requeued:
        assert 0 < delay <= CLAIM_LEASE.total_seconds()
        assert json.loads(body)["email"] == "ada@fabrikam.example"


async def test_existing_guest_gets_no_email_but_missing_groups(rt: Runtime) -> None:
    directory, ledger, _ = parts(rt)
    member = directory.add_user("grace@contoso.example", state="Accepted")
    directory.members[GROUP_X].add(member.id)
    assert (
        await deliver_invite(
            rt, {"email": "grace@contoso.example", "groups": [GROUP_X, GROUP_PARTNERS]}
        )
        == "existing"
    )
    assert directory.emails == []
    assert await drain_assignments(rt) == ["already_done", "done"]
    assert directory.members[GROUP_PARTNERS] == {member.id}
    row = await ledger.get("grace@contoso.example")
    assert row is not None and row.status == GuestStatus.EXISTING and row.user_id == member.id


async def test_crash_after_invitation_then_redelivery_sends_no_second_email(
    rt: Runtime, clock: Clock
) -> None:
    directory, ledger, outbox = parts(rt)

    original_update = ledger.update
    crashed = False

    async def crash_once(email: str, change: Change, *, etag: str | None = None) -> bool:
        nonlocal crashed
        if isinstance(change, Invited) and not crashed:
            crashed = True
            raise ConnectionError("killed between the invitation and the ledger")
        return await original_update(email, change, etag=etag)

    ledger.update = crash_once  # type: ignore[method-assign]
    try:
        await deliver_invite(rt, ADA, message_id="m1", count=1)
    except ConnectionError:
        pass
    assert directory.emails_to("ada@fabrikam.example") == 1 and outbox.assignments == []
    # the queue redelivers the same message (same id) after the visibility timeout
    assert await deliver_invite(rt, ADA, message_id="m1", count=2) == "invited"
    assert directory.emails_to("ada@fabrikam.example") == 1
    assert len(outbox.assignments) == 3
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED and row.send_count == 1


async def test_ambiguous_failure_waits_for_replication_then_invites_again(
    rt: Runtime, clock: Clock
) -> None:
    """A 504 after POST /invitations may or may not have sent the email: nobody invites again
    while the user might still show up; after the replication wait the guest is invited again
    (no operator step), and the row counts it."""
    directory, ledger, outbox = parts(rt)
    directory.fail_next["invite"] = [ServiceUnavailable("timeout", status=504)]
    try:
        await deliver_invite(rt, ADA, message_id="m1")
    except ServiceUnavailable:
        pass
    assert await deliver_invite(rt, ADA, message_id="m2") == "deferred"  # claim still fresh
    clock.now = clock.now + CLAIM_LEASE
    assert await deliver_invite(rt, ADA, message_id="m2") == "deferred"  # waiting to replicate
    assert directory.calls.count("invite") == 1
    clock.now = clock.now + timedelta(seconds=rt.settings.invite_replication_wait_seconds)
    assert await deliver_invite(rt, ADA, message_id="m2") == "reinvited"
    assert outbox.poison == {}
    assert directory.calls.count("invite") == 2
    assert directory.emails_to("ada@fabrikam.example") == 1  # the 504 came before Graph sent
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.INVITED and row.reinvitations == 1
    assert len(outbox.assignments) == 3  # onboarded as any new guest is


async def test_an_invitation_never_seen_is_sent_again_to_the_same_user_never_a_second(
    rt: Runtime, clock: Clock
) -> None:
    """The worst case of inviting again: Graph did create the user and send the email, but the
    directory's look-ups never showed the user within the wait. The second invitation goes to
    that same user (Graph answers with the existing user): a second email, never a second user."""
    directory, ledger, _ = parts(rt)

    async def invited_then_lost(email: str, invitation: Invitation) -> InvitationResult:
        result = await FakeDirectory.invite(directory, email, invitation)
        directory.lagging.add(result.user_id)  # look-ups never see it
        raise ServiceUnavailable("connection reset after the write", status=None)

    directory.invite = invited_then_lost  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m1")
    del directory.invite  # Graph answers again
    clock.now += timedelta(seconds=rt.settings.invite_replication_wait_seconds + 1)
    assert await deliver_invite(rt, ADA, message_id="m1") == "reinvited"
    assert len(directory.users) == 1 and directory.emails_to("ada@fabrikam.example") == 2
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.user_id in directory.users and row.reinvitations == 1


async def test_after_two_reinvitations_the_message_goes_to_poison_for_an_operator(
    rt: Runtime, clock: Clock
) -> None:
    """Every ``POST /invitations`` ends in a 504 after Graph created the user, and look-ups never
    show it: one invitation, two re-invitations (three emails at most), then the row fails and
    the message goes to poison with ``ReinvitationLimit``. Once the directory shows the user,
    the operator's replay records it with no further email."""
    directory, ledger, outbox = parts(rt)
    real_invite = directory.invite

    async def invited_then_lost(email: str, invitation: Invitation) -> InvitationResult:
        result = await real_invite(email, invitation)
        directory.lagging.add(result.user_id)
        raise ServiceUnavailable("Gateway Timeout", status=504)

    directory.invite = invited_then_lost  # type: ignore[method-assign]
    wait = timedelta(seconds=rt.settings.invite_replication_wait_seconds + 1)
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m1")
    for again in ("m2", "m3"):
        clock.now += wait
        with pytest.raises(ServiceUnavailable):  # a re-invitation: the same 504
            await deliver_invite(rt, ADA, message_id=again)
        assert await deliver_invite(rt, ADA, message_id=f"{again}-next") == "deferred"
    clock.now += wait
    assert await deliver_invite(rt, ADA, message_id="m4") == "poisoned"
    assert directory.calls.count("invite") == 3
    assert directory.emails_to("ada@fabrikam.example") == 3
    (envelope,) = outbox.poison["guest-invitations-poison"]
    assert envelope["error"]["code"] == "ReinvitationLimit"
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.FAILED
    assert row.last_error is not None and row.last_error.startswith("ReinvitationLimit:")

    directory.lagging.clear()  # the operator sees the guest in Entra ID and replays the message
    assert await deliver_invite(rt, ADA, message_id="m5") == "existing"
    assert directory.calls.count("invite") == 3


async def test_a_503_releases_the_claim_and_is_no_reinvitation(rt: Runtime, clock: Clock) -> None:
    """Graph's 503 says it did nothing: the next delivery invites under a fresh claim at once
    (no replication wait), and the row's re-invitation count stays 0."""
    directory, ledger, _ = parts(rt)
    directory.fail_next["invite"] = [ServiceUnavailable("Service Unavailable", status=503)]
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m1")
    assert await deliver_invite(rt, ADA, message_id="m2") == "invited"
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.reinvitations == 0
    assert directory.emails_to("ada@fabrikam.example") == 1


async def test_a_throttled_reinvitation_does_not_reset_the_count(rt: Runtime, clock: Clock) -> None:
    """The re-invitation meets a 429 (the claim is released, Graph did nothing), then a 504 when
    the copy claims again: that was still the first re-invitation, so the count is 1 and, after
    the second, the next wait ends in poison, not in a fourth ``POST /invitations``."""
    directory, ledger, outbox = parts(rt)
    wait = timedelta(seconds=rt.settings.invite_replication_wait_seconds + 1)
    directory.fail_next["invite"] = [
        ServiceUnavailable("Gateway Timeout", status=504),
        Throttled("slow down", retry_after=1.0),
        ServiceUnavailable("Gateway Timeout", status=504),
        ServiceUnavailable("Gateway Timeout", status=504),
    ]
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m1")
    clock.now += wait
    assert await deliver_invite(rt, ADA, message_id="m2") == "throttled"  # back on its queue
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m3")
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.reinvitations == 1
    clock.now += wait
    with pytest.raises(ServiceUnavailable):
        await deliver_invite(rt, ADA, message_id="m4")
    assert await deliver_invite(rt, ADA, message_id="m4-next") == "deferred"
    clock.now += wait
    assert await deliver_invite(rt, ADA, message_id="m5") == "poisoned"
    assert directory.calls.count("invite") == 4  # the 429 one did nothing
    assert outbox.poison["guest-invitations-poison"][0]["error"]["code"] == "ReinvitationLimit"


async def test_crashed_invitation_found_after_replication_lag_is_not_sent_again(
    rt: Runtime, clock: Clock
) -> None:
    directory, _, _ = parts(rt)
    directory.fail_next["invite"] = [ServiceUnavailable("timeout", status=504)]
    try:
        await deliver_invite(rt, ADA, message_id="m1")
    except ServiceUnavailable:
        pass
    # the invitation did go out; the directory shows the user only a little later
    assert await deliver_invite(rt, ADA, message_id="m1", count=2) == "deferred"
    directory.add_user("ada@fabrikam.example", state="PendingAcceptance")
    assert await deliver_invite(rt, ADA, message_id="m1", count=3) == "invited"
    assert directory.calls.count("invite") == 1


async def test_invalid_message_goes_to_poison_with_reason_and_no_graph_call(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    assert await deliver_invite(rt, {"email": "ada@fabrikam.example", "group": []}) == "rejected"
    [poisoned] = outbox.poison["guest-invitations-poison"]
    assert poisoned["error"]["code"] == "UnknownField"
    assert json.loads(poisoned["original"]) == {"email": "ada@fabrikam.example", "group": []}
    assert directory.calls == []


async def test_poison_keeps_the_message_exactly_as_received(rt: Runtime) -> None:
    _, _, outbox = parts(rt)
    body = base64.b64encode(b'{"email": "ada@fabrikam.example", "group": []}  ').decode()
    assert await handle_invitation_message(body=body.encode(), message_id="m", rt=rt) == "rejected"
    [poisoned] = outbox.poison["guest-invitations-poison"]
    assert poisoned["error"]["code"] == "UnknownField"
    assert poisoned["original"] == body  # still base64, as the HR system sent it


async def test_refused_invitation_goes_to_poison_with_graph_error(rt: Runtime) -> None:
    directory, ledger, outbox = parts(rt)
    directory.fail_next["invite"] = [
        Refused("policy", code="Authorization_RequestDenied", status=403, request_id="req-1")
    ]
    assert await deliver_invite(rt, ADA) == "poisoned"
    [poisoned] = outbox.poison["guest-invitations-poison"]
    assert poisoned["error"] == {
        "code": "Authorization_RequestDenied",
        "message": "policy",
        "status": "403",
        "requestId": "req-1",
    }
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.status == GuestStatus.FAILED


async def test_throttled_invitation_is_requeued_after_retry_after(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    directory.fail_next["invite"] = [Throttled("slow down", retry_after=7, status=429)]
    assert await deliver_invite(rt, ADA, message_id="m1") == "throttled"
    assert [delay for _, delay in outbox.requeued] == [7]
    assert outbox.poison == {}
    body, _ = outbox.requeued[0]
    # the re-queued copy (a new message id) may claim at once: the 429 released the claim
    assert await deliver_invite(rt, json.loads(body), message_id="m2") == "invited"


async def test_transient_failure_retries_then_poisons_on_last_delivery(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    directory.fail_next["find_users"] = [ServiceUnavailable("503", status=503)] * 5
    for count in range(1, 5):
        try:
            await deliver_invite(rt, ADA, count=count)
            raise AssertionError("expected the queue to retry")
        except ServiceUnavailable:
            pass
    assert await deliver_invite(rt, ADA, count=5) == "poisoned"
    assert outbox.poison["guest-invitations-poison"][0]["error"]["status"] == "503"


async def test_assignment_throttled_comes_back_without_failing(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver_invite(rt, {"email": "ada@fabrikam.example", "groups": [GROUP_X]})
    directory.fail_next["add_group_member"] = [Throttled("429", retry_after=12, status=429)]
    step, _ = outbox.assignments.pop(0)
    assert (
        await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
        == "throttled"
    )
    # The same step, its attempt not counted (a copy: it may follow one that reached Graph).
    again = step.model_copy(update={"requeued": True})
    assert outbox.assignments == [(again, 12)] and outbox.poison == {}


async def test_not_yet_replicated_is_retried_with_backoff(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver_invite(rt, {"email": "ada@fabrikam.example", "groups": [GROUP_X]})
    directory.fail_next["add_group_member"] = [NotYetReplicated("lag", status=404)] * 2
    assert await drain_assignments(rt) == ["retrying", "retrying", "done"]
    assert outbox.poison == {}


async def test_transient_assignment_failures_end_in_poison_after_max_attempts(
    rt: Runtime,
) -> None:
    directory, ledger, outbox = parts(rt)
    await deliver_invite(rt, {"email": "ada@fabrikam.example", "groups": [GROUP_X]})
    directory.fail_next["add_group_member"] = [ServiceUnavailable("503", status=503)] * 50
    outcomes = await drain_assignments(rt)
    assert outcomes == ["retrying"] * (MAX_ASSIGNMENT_ATTEMPTS - 1) + ["poisoned"]
    assert outbox.poison["guest-assignments-poison"][0]["error"]["code"] == "ServiceUnavailable"
    row = await ledger.get("ada@fabrikam.example")
    assert row is not None and row.steps[group_step(GROUP_X)] == "failed"


async def test_unknown_group_poisons_with_graph_error(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver_invite(rt, {"email": "ada@fabrikam.example", "groups": [GROUP_X]})
    directory.fail_next["add_group_member"] = [
        NotFound("Resource 'x' does not exist", code="Request_ResourceNotFound", status=404)
    ]
    assert await drain_assignments(rt) == ["poisoned"]
    [poisoned] = outbox.poison["guest-assignments-poison"]
    assert poisoned["error"]["code"] == "Request_ResourceNotFound"
    assert json.loads(poisoned["original"])["groupId"] == GROUP_X


async def test_assignment_delivered_twice_calls_graph_once(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver_invite(rt, {"email": "ada@fabrikam.example", "groups": [GROUP_X]})
    step, _ = outbox.assignments.pop(0)
    body = step.model_dump_json()
    assert await handle_assignment_message(body=body, message_id="a", rt=rt) == "done"
    assert await handle_assignment_message(body=body, message_id="a", rt=rt) == "already_done"
    assert directory.calls.count("add_group_member") == 1
