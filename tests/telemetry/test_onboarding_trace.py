"""One onboarding is followed by links: every ``assign`` span links to the HR message's ``invite``
span, through the ``traceparent`` the step messages carry across the queue (each assignment is
handled in a fresh context, so no in-process context can stand in for it). A message's trace
context is a claim anyone with send rights can write, so it is a link, never the parent
(tests/security/test_trace_context.py attacks it)."""

from __future__ import annotations

import asyncio
import contextvars
import json
from datetime import timedelta

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from tests.fakes import FakeOutbox
from tests.telemetry.support import Collected, by_name

HR_MESSAGE = {
    "email": "ada.lovelace@fabrikam.example",
    "displayName": "Ada Lovelace",
    "externalId": "HR-000123",
    "groups": [GROUP_X, GROUP_PARTNERS],
    "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
}


def step_bodies(rt: Runtime) -> list[str]:
    """The assignment messages as QueueOutbox writes them."""
    assert isinstance(rt.outbox, FakeOutbox)
    return [step.model_dump_json(exclude_none=True) for step, _ in rt.outbox.assignments]


async def in_fresh_context(body: str, rt: Runtime, message_id: str) -> str:
    """assign_fn's delivery as another worker process would run it: no context inherited."""
    return await asyncio.create_task(
        handle_assignment_message(body=body, message_id=message_id, rt=rt),
        context=contextvars.Context(),
    )


def linked(span: ReadableSpan) -> list[int]:
    """The span ids ``span`` links to as the step that queued its message."""
    return [
        link.context.span_id
        for link in span.links
        if (link.attributes or {}).get("guest_onboarding.link") == "queued_by"
    ]


async def test_every_step_links_to_the_invitation_across_the_queue(
    rt: Runtime, otel: Collected
) -> None:
    outcome = await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    assert outcome == "invited"
    bodies = step_bodies(rt)
    assert len(bodies) == 3
    (invite,) = by_name(otel.finished())["invite"]
    ids = invite.context
    expected = f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{int(ids.trace_flags):02x}"
    assert [json.loads(b)["traceparent"] for b in bodies] == [expected] * 3

    otel.spans.clear()
    for i, body in enumerate(bodies):
        assert await in_fresh_context(body, rt, f"s-{i}") == "done"

    assigns = by_name(otel.finished())["assign"]
    assert len(assigns) == 3
    for span in assigns:
        assert span.kind == SpanKind.CONSUMER
        assert linked(span) == [invite.context.span_id]
        assert span.links[0].context.trace_id == invite.context.trace_id
        assert span.links[0].context.is_remote  # it came through the message, not the process
        assert span.parent is None and span.context.trace_id != invite.context.trace_id
    assert invite.parent is None  # the HR message starts the trace
    kinds = sorted(str(s.attributes["guest_onboarding.step.kind"]) for s in assigns)
    assert kinds == ["appRole", "group", "group"]
    for span in [invite, *assigns]:
        assert span.attributes["guest_onboarding.guest"] == "a***@fabrikam.example"
        assert span.attributes["guest_onboarding.result"] == "done"
    assert invite.attributes["guest_onboarding.outcome"] == "invited"
    assert invite.attributes["messaging.message.id"] == "m-1"


async def test_without_traceparent_the_step_starts_its_own_trace_unlinked(
    rt: Runtime, otel: Collected
) -> None:
    await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    (invite,) = by_name(otel.finished())["invite"]
    body = json.loads(step_bodies(rt)[0])
    del body["traceparent"]

    assert await in_fresh_context(json.dumps(body), rt, "s-0") == "done"

    (assign,) = by_name(otel.finished())["assign"]
    assert assign.parent is None and assign.context.trace_id != invite.context.trace_id
    assert linked(assign) == []


async def test_an_active_context_is_the_parent_and_the_message_a_link(
    rt: Runtime, otel: Collected
) -> None:
    """Where the Functions host's invocation context is active, the step is its child and
    links to the step that queued it."""
    from opentelemetry import trace

    await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    (invite,) = by_name(otel.finished())["invite"]
    body = step_bodies(rt)[0]
    with trace.get_tracer("host").start_as_current_span("host invocation") as host:
        assert await handle_assignment_message(body=body, message_id="s-0", rt=rt) == "done"
    (assign,) = by_name(otel.finished())["assign"]
    assert assign.parent is not None and assign.parent.span_id == host.get_span_context().span_id
    assert linked(assign) == [invite.context.span_id]


async def test_a_retried_step_links_to_the_failed_attempt(rt: Runtime, otel: Collected) -> None:
    from guest_onboarding.errors import ServiceUnavailable
    from tests.fakes import FakeDirectory

    await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    first = step_bodies(rt)[0]
    assert isinstance(rt.directory, FakeDirectory) and isinstance(rt.outbox, FakeOutbox)
    rt.directory.fail_next["add_group_member"] = [ServiceUnavailable("busy", status=503)]
    otel.spans.clear()
    rt.outbox.assignments.clear()

    assert await in_fresh_context(first, rt, "s-0") == "retrying"
    (failed,) = by_name(otel.finished())["assign"]
    assert failed.status.status_code == StatusCode.ERROR
    (retry_body,) = step_bodies(rt)
    assert json.loads(retry_body)["attempt"] == 1
    assert await in_fresh_context(retry_body, rt, "s-1") == "done"
    retried = [s for s in by_name(otel.finished())["assign"] if s is not failed]
    assert linked(retried[0]) == [failed.context.span_id]


async def test_reminders_link_to_the_sweep(rt: Runtime, otel: Collected, clock: object) -> None:
    from guest_onboarding.entrypoints import run_reminder_sweep
    from tests.support import Clock

    assert isinstance(clock, Clock) and isinstance(rt.outbox, FakeOutbox)
    await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)
    clock.now += timedelta(days=3)
    otel.spans.clear()
    await run_reminder_sweep(rt=rt)
    (reminder,) = rt.outbox.reminders
    body = json.dumps({"reminder": reminder.model_dump(exclude_none=True)})
    (sweep,) = by_name(otel.finished())["sweep"]

    outcome = await asyncio.create_task(
        handle_invitation_message(body=body, message_id="r-1", rt=rt),
        context=contextvars.Context(),
    )

    assert outcome == "sent"
    (span,) = by_name(otel.finished())["reminder"]
    assert linked(span) == [sweep.context.span_id] and span.parent is None
    assert span.attributes["guest_onboarding.reminder.number"] == 1


async def test_an_exception_message_never_becomes_an_attribute(
    rt: Runtime, otel: Collected
) -> None:
    """A failure's message (which may quote the address) is in no attribute and no status: the
    span says its code only (tests/security/test_no_exception_text.py checks the log lines)."""
    import pytest

    from guest_onboarding.errors import ServiceUnavailable
    from tests.fakes import FakeDirectory

    assert isinstance(rt.directory, FakeDirectory)
    failure = ServiceUnavailable(f"upstream refused {HR_MESSAGE['email']}", status=503)
    rt.directory.fail_next["find_users"] = [failure]
    with pytest.raises(ServiceUnavailable):  # back to the queue for a redelivery
        await handle_invitation_message(body=json.dumps(HR_MESSAGE), message_id="m-1", rt=rt)

    (invite,) = by_name(otel.finished())["invite"]
    assert invite.attributes["guest_onboarding.outcome"] == "retry"
    assert invite.attributes["error.type"] == "ServiceUnavailable"
    assert invite.status.status_code == StatusCode.ERROR
    assert invite.status.description == "ServiceUnavailable"
    shown = [*map(str, invite.attributes.values()), invite.status.description or ""]
    assert not any("upstream refused" in value for value in shown)
