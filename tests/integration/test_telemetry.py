"""Telemetry through the real adapters (msgraph-sdk on the Graph emulator, Tables and Queues on
Azurite), exported to the SDK's in-memory exporter and reader: each step a span linked to the
step that queued it, with Graph and Storage calls as child spans, and nothing exported holds the
guest's address, name or external id (kiota records Graph URLs with
``$filter=mail eq '<address>'``, the Azure SDK records Table URLs keyed by the address: the
redacting processor must cut both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from devstack.seeds import GROUP_PARTNERS, PORTAL_SP, READER_ROLE
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.telemetry.setup import KIOTA_SCOPES
from tests.integration.stack import Stack
from tests.telemetry.support import Collected, by_name, delta, everything_exported, recording, total

pytestmark = pytest.mark.integration

DAY = 86_400
ADA = "ada.lovelace@fabrikam.example"
CC = "sponsor.person@contoso.example"
LATE = "late.comer@partner.example"
NAMES = ("Ada Lovelace", "Late Comer")
EXTERNAL_IDS = ("HR-000123", "HR-000999")
#: What must appear in no exported string, as is, lower-cased or URL-encoded.
PERSONAL = (
    ADA,
    CC,
    LATE,
    "ada.lovelace",
    "sponsor.person",
    "late.comer",
    *NAMES,
    "Lovelace",
    *EXTERNAL_IDS,
)


def follow_emulator_clock(stack: Stack) -> None:
    control = stack.graph.control

    def now() -> datetime:
        return datetime.fromisoformat(control.now().replace("Z", "+00:00"))

    stack.rt.clock = now


def url_of(span: ReadableSpan) -> str:
    """The URL an HTTP client span records (current or older semantic conventions)."""
    attributes = span.attributes or {}
    return str(attributes.get("url.full", attributes.get("http.url", "")))


def descends_from(span: ReadableSpan, ancestor: ReadableSpan, spans: list[ReadableSpan]) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        step = by_id.get(parent.span_id)
        parent = step.parent if step is not None else None
    return False


@pytest.fixture
def otel() -> Iterator[Collected]:
    with recording() as collected:
        yield collected


async def test_onboarding_trace_and_metrics_hold_no_personal_data(
    stack: Stack, otel: Collected
) -> None:
    follow_emulator_clock(stack)
    before = otel.points()

    stack.send(
        {
            "email": ADA,
            "displayName": NAMES[0],
            "externalId": EXTERNAL_IDS[0],
            "ccRecipient": CC,
            "groups": [GROUP_X, GROUP_PARTNERS],
            "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
        }
    )
    assert sorted(await stack.drain()) == ["done", "done", "done", "invited"]
    onboarding = otel.finished()

    (invite,) = by_name(onboarding)["invite"]
    assigns = by_name(onboarding)["assign"]
    assert len(assigns) == 3
    # Each step links to the invitation that queued it (a message's trace context is a claim:
    # a link, never the parent), in a trace of its own.
    assert [[link.context.span_id for link in s.links] for s in assigns] == [
        [invite.context.span_id]
    ] * 3
    assert invite.context.trace_id not in {s.context.trace_id for s in assigns}
    # One HTTP client span per Graph request (kiota's own ten or so per call are switched off).
    graph_calls = [s for s in onboarding if s.kind == SpanKind.CLIENT and "/v1.0/" in url_of(s)]
    assert not [s for s in onboarding if s.instrumentation_scope.name in KIOTA_SCOPES]

    def urls(ending: str) -> list[ReadableSpan]:
        return [s for s in graph_calls if url_of(s).endswith(ending)]

    (invitation_call,) = urls("/v1.0/invitations")
    attributes = invitation_call.attributes or {}
    assert attributes.get("http.status_code", attributes.get("http.response.status_code")) == 201
    assert descends_from(invitation_call, invite, onboarding)
    membership_calls = urls("/members/$ref")
    assert len(membership_calls) == 2
    assert len(urls("/appRoleAssignedTo")) == 1
    assert all(any(descends_from(c, a, onboarding) for a in assigns) for c in membership_calls)
    storage_calls = [s for s in onboarding if s.name.startswith(("TableClient.", "QueueClient."))]
    assert any(s.name == "QueueClient.send_message" for s in storage_calls)
    app_storage = [s for s in storage_calls if s.context.trace_id == invite.context.trace_id]
    assert {"TableClient.get_entity", "QueueClient.send_message"} <= {s.name for s in app_storage}
    assert all(descends_from(s, invite, onboarding) for s in app_storage)

    # A reminder on day 3 (linked to the sweep), redemption on day 4, found by the day-5 sweep.
    stack.graph.control.advance_clock(3 * DAY)
    await run_reminder_sweep(rt=stack.rt)
    assert await stack.drain() == ["sent"]
    stack.graph.control.advance_clock(1 * DAY)
    stack.graph.control.redeem(email=ADA)
    stack.graph.control.advance_clock(1 * DAY)
    assert (await run_reminder_sweep(rt=stack.rt)).redeemed == 1

    # One Graph write a minute: a second guest's invitation passes, its group membership gets
    # a 429 (and waits on the queue for Retry-After).
    stack.graph.control.set_limits(writes_per_window=1, window_seconds=60)
    stack.send(
        {"email": LATE, "displayName": NAMES[1], "externalId": EXTERNAL_IDS[1], "groups": [GROUP_X]}
    )
    assert await stack.drain() == ["invited", "throttled"]
    after = otel.points()

    assert total(before, after, "guest_onboarding.invitations") == 2
    assert total(before, after, "guest_onboarding.reminders") == 1
    assert total(before, after, "guest_onboarding.redemptions") == 1
    redeemed, took = delta(before, after, "guest_onboarding.time_to_redeem")
    assert redeemed == 1 and abs(took - 4 * DAY) < 60  # the emulator's clock also runs
    assert total(before, after, "guest_onboarding.graph.throttled") == 1
    count, waited = delta(before, after, "guest_onboarding.graph.retry_after")
    assert count == 1 and 0 < waited <= 60

    spans = otel.finished()
    exported = list(everything_exported(spans, after))
    leaks = [
        value
        for value in exported
        for secret in PERSONAL
        if secret.lower() in value.lower() or quote(secret, safe="").lower() in value.lower()
    ]
    assert leaks == []
    assert any(value == "a***@fabrikam.example" for value in exported)  # the masked guest
    # The scan did see what could have leaked: Graph's look-ups by address ...
    urls = [url_of(s) for s in spans]
    assert any("$filter={redacted}" in url for url in urls)
    # ... and the ledger's entity URLs, whose path is keyed by the address.
    assert any(url.endswith("/{redacted}") for url in urls)
