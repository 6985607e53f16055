"""The onboarding metrics change by the amounts the deliveries justify (read from the SDK's
in-memory reader before and after; each expected amount is counted from the scenario)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.entrypoints import (
    handle_assignment_message,
    handle_invitation_message,
    run_reminder_sweep,
)
from tests.fakes import FakeDirectory, FakeOutbox
from tests.support import T0, Clock
from tests.telemetry.support import Collected, delta, total

ADA = "ada.lovelace@fabrikam.example"
HR_MESSAGE = {
    "email": ADA,
    "displayName": "Ada Lovelace",
    "externalId": "HR-000123",
    "groups": [GROUP_X, GROUP_PARTNERS],
    "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
}
STEP, KIND, OUTCOME, RESULT = (
    "guest_onboarding.step",
    "guest_onboarding.step.kind",
    "guest_onboarding.outcome",
    "guest_onboarding.result",
)


async def onboard(rt: Runtime) -> None:
    assert isinstance(rt.outbox, FakeOutbox)
    await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    for i, (step, _) in enumerate(list(rt.outbox.assignments)):
        body = step.model_dump_json(exclude_none=True)
        await handle_assignment_message(body=body, message_id=f"s-{i}", rt=rt)


async def test_an_onboarding_counts_one_invitation_and_its_steps_by_kind(
    rt: Runtime, otel: Collected
) -> None:
    before = otel.points()
    await onboard(rt)
    after = otel.points()

    assert total(before, after, "guest_onboarding.invitations") == 1
    done = {STEP: "assign", OUTCOME: "done", RESULT: "done"}
    assert delta(before, after, "guest_onboarding.steps", **done, **{KIND: "group"}) == 2
    assert delta(before, after, "guest_onboarding.steps", **done, **{KIND: "appRole"}) == 1
    invited = {STEP: "invite", OUTCOME: "invited", RESULT: "done"}
    assert delta(before, after, "guest_onboarding.steps", **invited) == 1
    assert total(before, after, "guest_onboarding.poisoned") == 0


async def test_poisoned_messages_are_counted_by_code(rt: Runtime, otel: Collected) -> None:
    await onboard(rt)
    assert isinstance(rt.outbox, FakeOutbox)
    step = rt.outbox.assignments[0][0]
    forged = step.model_copy(update={"groupId": "99999999-9999-9999-9999-999999999999"})
    before = otel.points()

    await handle_invitation_message(body="{not json", message_id="bad-1", rt=rt)
    await handle_assignment_message(
        body=forged.model_dump_json(exclude_none=True), message_id="bad-2", rt=rt
    )
    after = otel.points()

    invalid_json = {STEP: "invite", "error.type": "InvalidJson"}
    not_allowed = {STEP: "assign", "error.type": "GroupNotAllowed"}
    assert delta(before, after, "guest_onboarding.poisoned", **invalid_json) == 1
    assert delta(before, after, "guest_onboarding.poisoned", **not_allowed) == 1
    assert total(before, after, "guest_onboarding.poisoned") == 2
    failed = {STEP: "assign", OUTCOME: "rejected", RESULT: "failed", KIND: "group"}
    failed["error.type"] = "GroupNotAllowed"
    assert delta(before, after, "guest_onboarding.steps", **failed) == 1


async def test_message_age_at_dequeue(rt: Runtime, clock: Clock, otel: Collected) -> None:
    queue = rt.settings.invitations_queue
    before = otel.points()
    await handle_invitation_message(
        body=json.dumps(HR_MESSAGE),
        message_id="m-1",
        inserted_at=clock.now - timedelta(seconds=42),
        rt=rt,
    )
    after = otel.points()
    age = delta(
        before, after, "guest_onboarding.queue.message_age", **{"messaging.destination.name": queue}
    )
    assert age == (1, 42.0)


async def test_reminders_by_number_redemptions_and_time_to_redeem(
    rt: Runtime, clock: Clock, otel: Collected
) -> None:
    assert isinstance(rt.outbox, FakeOutbox) and isinstance(rt.directory, FakeDirectory)
    await onboard(rt)  # invited at T0
    before = otel.points()

    clock.now = T0 + timedelta(days=3)
    await run_reminder_sweep(rt=rt)
    (reminder,) = rt.outbox.reminders
    body = json.dumps({"reminder": reminder.model_dump(exclude_none=True)})
    assert await handle_invitation_message(body=body, message_id="r-1", rt=rt) == "sent"
    # A second delivery of the same reminder sends nothing and counts nothing.
    assert await handle_invitation_message(body=body, message_id="r-1", rt=rt) == "already_sent"

    redeemed_at = T0 + timedelta(days=5, hours=6)
    user = next(u for u in rt.directory.users.values() if u.mail == ADA)
    rt.directory.users[user.id] = dataclasses.replace(
        user, external_user_state="Accepted", state_changed_at=redeemed_at
    )
    clock.now = T0 + timedelta(days=6)
    summary = await run_reminder_sweep(rt=rt)
    after = otel.points()

    assert summary.redeemed == 1
    first = {"guest_onboarding.reminder.number": 1}
    assert delta(before, after, "guest_onboarding.reminders", **first) == 1
    assert total(before, after, "guest_onboarding.reminders") == 1
    assert total(before, after, "guest_onboarding.redemptions") == 1
    waited = (5 * 24 + 6) * 3600.0
    assert delta(before, after, "guest_onboarding.time_to_redeem") == (1, waited)
    sweeps = {STEP: "sweep", OUTCOME: "finished", RESULT: "done"}
    assert delta(before, after, "guest_onboarding.steps", **sweeps) == 2

    # Who redeemed, for "who is pending": an event on the sweep's span, masked and hashed.
    (event,) = [
        e for s in otel.finished() for e in s.events if e.name == "guest_onboarding.redeemed"
    ]
    assert dict(event.attributes or {}) == {
        "guest_onboarding.guest": "a***@fabrikam.example",
        "guest_onboarding.guest_ref": hashlib.sha256(ADA.encode()).hexdigest()[:12],
        "guest_onboarding.time_to_redeem_seconds": waited,
    }


async def test_the_trigger_passes_the_message_insertion_time(
    rt: Runtime, clock: Clock, otel: Collected
) -> None:
    """invite_fn hands the entrypoint the queue message's insertion time (the local host and
    the Python worker both fill it in)."""
    import azure.functions as func
    import azure.functions.queue as queue_binding

    import invite_fn as invite_blueprint
    from guest_onboarding import entrypoints

    app = func.FunctionApp()  # the blueprint, as function_app.py registers it
    app.register_functions(invite_blueprint.bp)
    (invite_fn,) = [f.get_user_function() for f in app.get_functions()]
    message = queue_binding.QueueMessage(  # type: ignore[no-untyped-call]
        id="m-1",
        body=json.dumps(HR_MESSAGE).encode(),
        dequeue_count=1,
        insertion_time=clock.now - timedelta(seconds=9),
    )
    queue = {"messaging.destination.name": rt.settings.invitations_queue}
    before = otel.points()
    entrypoints.set_runtime(rt)
    try:
        await invite_fn(message)
    finally:
        entrypoints.set_runtime(None)
    after = otel.points()
    assert delta(before, after, "guest_onboarding.queue.message_age", **queue) == (1, 9.0)


async def test_a_tenant_wide_stop_is_one_tenant_stop_outcome_with_graph_code(
    rt: Runtime, otel: Collected
) -> None:
    """What the tenant-stop alert counts (infra/app/alerts.bicep: ``guest_onboarding.steps``
    with outcome ``tenant_stop``, Graph's code as ``error.type``): the delivery that recorded
    the stop, once; the others held by it are throttled, and nothing is poisoned."""
    from guest_onboarding.errors import InvitationsStopped

    assert isinstance(rt.directory, FakeDirectory)
    stop = InvitationsStopped("Invitations are blocked", retry_after=0, code="Forbidden")
    rt.directory.fail_next["invite"] = [stop]
    before = otel.points()
    outcomes = [
        await handle_invitation_message(
            body=json.dumps({**HR_MESSAGE, "email": f"g{i}@fabrikam.example"}),
            message_id=f"m-{i}",
            rt=rt,
        )
        for i in range(3)
    ]
    after = otel.points()

    assert outcomes == ["tenant_stop", "throttled", "throttled"]
    stopped = {STEP: "invite", OUTCOME: "tenant_stop", RESULT: "retried", "error.type": "Forbidden"}
    assert delta(before, after, "guest_onboarding.steps", **stopped) == 1
    held = {STEP: "invite", OUTCOME: "throttled", RESULT: "retried"}
    assert delta(before, after, "guest_onboarding.steps", **held) == 2
    assert total(before, after, "guest_onboarding.poisoned") == 0


async def test_an_invitation_sent_again_is_counted_apart(
    rt: Runtime, clock: Clock, otel: Collected
) -> None:
    """A guest who never appeared after an unknown outcome is invited again: counted as
    ``reinvited`` on the invitations metric, beside the first invitations."""
    from guest_onboarding.errors import ServiceUnavailable

    assert isinstance(rt.directory, FakeDirectory)
    rt.directory.fail_next["invite"] = [ServiceUnavailable("timeout", status=504)]
    body = json.dumps(HR_MESSAGE)
    before = otel.points()
    try:
        await handle_invitation_message(body=body, message_id="m-1", rt=rt)
    except ServiceUnavailable:
        pass  # the queue redelivers it
    clock.now += timedelta(seconds=rt.settings.invite_replication_wait_seconds + 1)
    assert await handle_invitation_message(body=body, message_id="m-1", rt=rt) == "reinvited"
    after = otel.points()

    reinvited = {OUTCOME: "reinvited"}
    assert delta(before, after, "guest_onboarding.invitations", **reinvited) == 1
    assert total(before, after, "guest_onboarding.invitations") == 1
    steps = {STEP: "invite", OUTCOME: "reinvited", RESULT: "done"}
    assert delta(before, after, "guest_onboarding.steps", **steps) == 1
