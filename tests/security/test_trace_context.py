"""Trace context from the queue is a claim: whoever can send on a queue can write a
``traceparent``. It must neither hide the delivery from the exported traces (flags ``00``) nor
splice it into someone else's trace (a chosen trace id): it becomes a span link, never the parent
nor the sampling decision. Judged on what the SDK's in-memory exporter received."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.entrypoints import (
    handle_assignment_message,
    handle_invitation_message,
    run_reminder_sweep,
)
from tests.security.conftest import Tenant, make_tenant
from tests.telemetry.support import Collected, by_name, recording

ADA = "ada@fabrikam.example"
#: The trace the attacker wants to hide in, or to splice into (a victim's onboarding).
VICTIM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VICTIM_SPAN = "00f067aa0ba902b7"


def forged(flags: str = "00", trace_id: str = VICTIM_TRACE) -> str:
    return f"00-{trace_id}-{VICTIM_SPAN}-{flags}"


@pytest.fixture
def otel() -> Iterator[Collected]:
    with recording() as collected:
        yield collected


async def fresh(coroutine_factory: object) -> str:
    """A delivery as another worker runs it: no context inherited from the test."""
    assert callable(coroutine_factory)
    return await asyncio.create_task(coroutine_factory(), context=contextvars.Context())


async def ada_onboarded(tenant: Tenant) -> str:
    """Ada invited; the body of her (first) group step, as the outbox queued it."""
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X]}) == "invited"
    step, _ = tenant.outbox.assignments.pop(0)
    return step.model_dump_json(exclude_none=True)


def only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = by_name(spans)[name]
    return span


def assert_not_spliced(span: ReadableSpan, claimed: str) -> None:
    """``span`` is exported, in a trace of its own (not the claimed one), and links to the claim
    with the claim's ids only."""
    assert span.context.trace_flags.sampled
    assert f"{span.context.trace_id:032x}" != claimed.split("-")[1]
    assert span.parent is None
    (link,) = span.links
    assert f"{link.context.trace_id:032x}-{link.context.span_id:016x}" == "-".join(
        claimed.split("-")[1:3]
    )
    assert not link.context.trace_flags.sampled  # the claim's flags are not carried
    assert link.attributes == {"guest_onboarding.link": "queued_by"}


@pytest.mark.parametrize("flags", ["00", "01", "ff"])
async def test_a_step_with_a_forged_traceparent_is_exported_in_a_trace_of_its_own(
    otel: Collected, flags: str
) -> None:
    tenant = make_tenant()
    body = json.loads(await ada_onboarded(tenant))
    body["traceparent"] = claimed = forged(flags)
    otel.spans.clear()
    outcome = await fresh(
        lambda: handle_assignment_message(body=json.dumps(body), message_id="s", rt=tenant.rt)
    )
    assert outcome == "done"
    assert_not_spliced(only(otel.finished(), "assign"), claimed)


async def test_a_forged_reminder_traceparent_neither_hides_nor_splices(otel: Collected) -> None:
    tenant = make_tenant()
    assert await tenant.invite({"email": ADA}) == "invited"
    tenant.clock.now += timedelta(days=3)
    await run_reminder_sweep(rt=tenant.rt)
    (reminder,) = tenant.outbox.reminders
    body = {"reminder": {**reminder.model_dump(exclude_none=True), "traceparent": forged()}}
    otel.spans.clear()
    outcome = await fresh(
        lambda: handle_invitation_message(body=json.dumps(body), message_id="r", rt=tenant.rt)
    )
    assert outcome == "sent"
    assert_not_spliced(only(otel.finished(), "reminder"), forged())


async def test_a_rejected_message_with_a_forged_traceparent_is_still_exported(
    otel: Collected,
) -> None:
    """The trace context is read before validation (so a rejection has its link): an HR
    message that smuggles one in is rejected, and its rejection is in the traces."""
    tenant = make_tenant()
    body = json.dumps({"email": ADA, "traceparent": forged()})
    outcome = await fresh(
        lambda: handle_invitation_message(body=body, message_id="m", rt=tenant.rt)
    )
    assert outcome == "rejected"
    span = only(otel.finished(), "invite")
    assert span.context.trace_flags.sampled
    assert f"{span.context.trace_id:032x}" != VICTIM_TRACE
    assert span.parent is None


async def test_a_victims_own_trace_id_cannot_be_joined(otel: Collected) -> None:
    """The attacker copies the trace context of a real onboarding (the victim's invite span,
    sampled) onto a step of their own: it stays out of the victim's trace."""
    victim = make_tenant()
    await fresh(
        lambda: victim.invite({"email": "grace@fabrikam.example", "groups": [GROUP_X]}, "v")
    )
    victim_invite = only(otel.finished(), "invite")
    ids = victim_invite.context
    claimed = f"00-{ids.trace_id:032x}-{ids.span_id:016x}-01"

    tenant = make_tenant()
    body = json.loads(await ada_onboarded(tenant))
    body["traceparent"] = claimed
    otel.spans.clear()
    await fresh(
        lambda: handle_assignment_message(body=json.dumps(body), message_id="s", rt=tenant.rt)
    )
    assign = only(otel.finished(), "assign")
    assert assign.context.trace_id != victim_invite.context.trace_id
    assert_not_spliced(assign, claimed)


async def test_under_the_hosts_invocation_the_step_is_the_hosts_child(otel: Collected) -> None:
    """The Functions host's invocation context is the one parent a delivery may have."""
    tenant = make_tenant()
    body = json.loads(await ada_onboarded(tenant))
    body["traceparent"] = forged("00")
    otel.spans.clear()
    with trace.get_tracer("host").start_as_current_span("host invocation") as host:
        await handle_assignment_message(body=json.dumps(body), message_id="s", rt=tenant.rt)
    assign = only(otel.finished(), "assign")
    assert assign.parent is not None
    assert assign.parent.span_id == host.get_span_context().span_id
    assert assign.context.trace_id == host.get_span_context().trace_id
    assert assign.context.trace_flags.sampled
    assert [f"{link.context.trace_id:032x}" for link in assign.links] == [VICTIM_TRACE]


async def test_an_all_zero_trace_context_is_no_link(otel: Collected) -> None:
    tenant = make_tenant()
    body = json.loads(await ada_onboarded(tenant))
    body["traceparent"] = forged("01", trace_id="0" * 32)
    otel.spans.clear()
    await fresh(
        lambda: handle_assignment_message(body=json.dumps(body), message_id="s", rt=tenant.rt)
    )
    assign = only(otel.finished(), "assign")
    assert assign.context.trace_flags.sampled and assign.parent is None
    assert list(assign.links) == []
