"""Bodies built to break the parser or the poison queue: each still ends in poison, with its
reason, in an envelope that fits on a queue (64 KiB)."""

from __future__ import annotations

import json

import pytest

from guest_onboarding.wire import MAX_ENVELOPE_BYTES
from tests.security.conftest import Tenant

QUEUE_MESSAGE_LIMIT = 64 * 1024


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000,  # nested past the JSON reader's recursion limit
        '{"email": "a@fabrikam.example", "sendInvitationMessage": ' + "1" * 5000 + "}",
        '{"email": "a@fabrikam.example", "' + "x" * 33_000 + '": 1}',  # a huge unknown key
        json.dumps({"email": "a@fabrikam.example", "groups": ['"' * 30_000]}),
    ],
    ids=["deep", "huge-int", "huge-key", "escapes"],
)
@pytest.mark.parametrize("queue", ["guest-invitations", "guest-assignments"])
async def test_hostile_bodies_end_in_poison_with_a_reason_that_fits(
    tenant: Tenant, body: str, queue: str
) -> None:
    handle = tenant.invite if queue == "guest-invitations" else tenant.assign
    assert await handle(body) == "rejected"
    [envelope] = tenant.outbox.poison[f"{queue}-poison"]
    size = len(json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    assert size <= MAX_ENVELOPE_BYTES < QUEUE_MESSAGE_LIMIT
    assert envelope["error"]["code"] in {
        "InvalidJson",
        "UnknownField",
        "InvalidField",
        "MissingField",
        "MessageTooLarge",
    }
    if envelope["original"] != body:  # too large to keep: never a cut that could be replayed
        assert envelope["original"] is None
        assert envelope["error"]["originalLength"] == str(len(body))
        assert len(envelope["error"]["originalSha256"]) == 64
        assert body.startswith(envelope["originalHead"])
    assert tenant.directory.calls == []
