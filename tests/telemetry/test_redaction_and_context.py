"""What a URL keeps after redaction, and the trace context field of the internal messages."""

from __future__ import annotations

import json

import pytest

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import parse_assignment_message
from guest_onboarding.telemetry.redaction import redact_url
from guest_onboarding.telemetry.spans import message_traceparent
from tests.telemetry.support import Collected

USER = "21707701-8457-4ae7-a03d-89625f79a1b6"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://graph.microsoft.com/v1.0/users?$filter=mail eq 'ada@fabrikam.example'&$top=1",
            "https://graph.microsoft.com/v1.0/users?$filter={redacted}&$top={redacted}",
        ),
        (
            "https://acct.table.core.windows.net/guestledger(PartitionKey='fabrikam.example',"
            "RowKey='ada%40fabrikam.example')",
            "https://acct.table.core.windows.net/{redacted}",
        ),
        (
            f"https://graph.microsoft.com/v1.0/groups/{GROUP_X}/members/$ref",
            f"https://graph.microsoft.com/v1.0/groups/{GROUP_X}/members/$ref",
        ),
        ("https://host/v1.0/users/ada@fabrikam.example", "https://host/v1.0/users/{redacted}"),
        ("https://user:secret@host/q?sig=abc", "https://host/q?sig={redacted}"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def step(**extra: object) -> str:
    return json.dumps(
        {
            "kind": "group",
            "email": "ada@fabrikam.example",
            "userId": USER,
            "groupId": GROUP_X,
            **extra,
        }
    )


def test_a_step_carries_a_w3c_traceparent() -> None:
    assert parse_assignment_message(step(traceparent=TRACEPARENT)).traceparent == TRACEPARENT
    assert parse_assignment_message(step()).traceparent is None
    assert message_traceparent(step(traceparent=TRACEPARENT)) == TRACEPARENT
    reminder = {"email": "a@b.example", "number": 1, "traceparent": TRACEPARENT}
    assert message_traceparent(json.dumps({"reminder": reminder})) == TRACEPARENT


@pytest.mark.parametrize(
    "bad",
    ["", "00-xyz", TRACEPARENT.upper(), "01" + TRACEPARENT[2:], TRACEPARENT + "-extra", 7],
)
def test_a_malformed_traceparent_is_rejected_and_never_used(bad: object) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_assignment_message(step(traceparent=bad))
    assert caught.value.code == "InvalidField"
    assert message_traceparent(step(traceparent=bad)) is None
    assert message_traceparent("{not json") is None


def test_exception_events_keep_their_type_only(otel: Collected) -> None:
    from opentelemetry import trace

    with trace.get_tracer("an.sdk").start_as_current_span("call") as span:
        span.record_exception(ValueError("no user ada@fabrikam.example"))
        span.set_attribute("http.url", "https://h/users?$filter=mail eq 'ada@fabrikam.example'")
    (exported,) = otel.finished()
    (event,) = exported.events
    assert (event.name, dict(event.attributes or {})) == (
        "exception",
        {"exception.type": "ValueError"},
    )
    assert (exported.attributes or {})["http.url"] == "https://h/users?$filter={redacted}"
