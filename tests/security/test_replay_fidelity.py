"""Replay fidelity (issue 24, item 7): ``poison replay`` sends exactly the bytes first received,
or refuses with a clear message. A body too large to travel whole in its poison envelope used to
be cut in half, and the half of a refused message can be a valid one: replay then invited a
guest nobody asked for. Now such a message is refused whole on arrival (``MessageTooLarge``,
nothing done for it), its envelope keeps no original that could be sent, and replay refuses it.
Oracles: the poison envelope's ``original`` compared with the body sent, the work queue's
messages after a replay, and the Graph emulator's mailbox."""

from __future__ import annotations

import hashlib
import json

import pytest

from guest_onboarding.entrypoints import handle_invitation_message
from guest_onboarding.wire import MAX_ENVELOPE_BYTES
from tests.console.conftest import Operated, operated, table_rows
from tests.security.conftest import Tenant

__all__ = ["operated"]  # the console's fixture: the app's stack and the console on Azurite

ADA = "ada@fabrikam.example"
QUEUE_MESSAGE_LIMIT = 64 * 1024
VALID = json.dumps({"email": ADA})


def padded(size: int, tail: str = "x") -> str:
    """A valid message, blanks, then junk after it (so the whole is not JSON): ``size`` chars.
    Any cut that drops the junk is the valid message."""
    blanks = (size - len(VALID)) // 2
    return VALID + " " * blanks + tail * (size - len(VALID) - blanks)


VECTORS = {
    "trailing-junk": padded(61_000),  # halved: exactly VALID plus blanks
    "escapes": VALID + " " * 20_000 + '"' * 25_000,  # small in text, large once escaped
    "base64-junk": padded(40_000, "A") + "=" * 21_000,
    "controls": VALID + " " * 30_000 + "\x01" * 9_000,  # \u0001: six bytes each in JSON
}


@pytest.mark.parametrize("body", list(VECTORS.values()), ids=list(VECTORS))
async def test_a_body_too_large_to_keep_is_refused_whole_and_never_cut(
    tenant: Tenant, body: str
) -> None:
    assert len(body.encode("utf-8")) < QUEUE_MESSAGE_LIMIT  # a queue carries it
    assert await tenant.invite(body, "m") == "rejected"
    [envelope] = tenant.outbox.poison["guest-invitations-poison"]
    assert envelope["original"] is None  # nothing replay could send as if it were the message
    assert envelope["error"]["code"] == "MessageTooLarge"
    assert envelope["error"]["originalKept"] == "false"
    assert envelope["error"]["originalLength"] == str(len(body))
    assert body.startswith(envelope["originalHead"])
    assert len(json.dumps(envelope, ensure_ascii=False).encode("utf-8")) <= MAX_ENVELOPE_BYTES
    assert tenant.directory.calls == []  # refused whole: nothing looked up, nothing sent


async def test_a_large_body_that_fits_is_kept_exactly_whatever_the_reason(
    tenant: Tenant,
) -> None:
    """Just under the limit, refused for its own reason: the original stays byte for byte (a
    long reason is cut instead)."""
    body = padded(40_000)
    assert await tenant.invite(body, "m") == "rejected"
    [envelope] = tenant.outbox.poison["guest-invitations-poison"]
    assert envelope["error"]["code"] == "InvalidJson"
    assert envelope["original"] == body


@pytest.mark.integration
async def test_replay_on_azurite_refuses_what_was_not_kept_and_sends_the_rest_exactly(
    operated: Operated,
) -> None:
    invitations = operated.values["INVITATIONS_QUEUE"]
    too_large, fits = VECTORS["trailing-junk"], padded(40_000)
    operated.stack.send(too_large)
    operated.stack.send(fits)
    assert await operated.stack.drain() == ["rejected", "rejected"]
    poison = operated.stack.queues.get_queue_client(f"{invitations}-poison")
    envelopes = {m.id: json.loads(m.content) for m in poison.peek_messages(32)}
    [kept_id] = [i for i, e in envelopes.items() if e["original"] == fits]
    [large_id] = [i for i in envelopes if i != kept_id]

    refused = await operated.console("poison", "replay", large_id)
    assert operated.queued() == []  # nothing sent: not a half, not anything
    await operated.stack.drain()
    assert operated.stack.graph.control.mailbox(to=ADA) == []  # nobody was invited
    assert refused.exit_code == 1
    assert "not replayed" in refused.stderr and "MessageTooLarge" in refused.stderr
    by_code = {e["error"]["code"]: i for i, e in envelopes.items()}
    assert by_code == {"MessageTooLarge": large_id, "InvalidJson": kept_id}

    listed = await operated.console("poison", "list")
    assert [invitations, "MessageTooLarge", "1"] in [row[:3] for row in table_rows(listed.stdout)]
    shown = await operated.console("poison", "show", by_code["MessageTooLarge"])
    assert shown.exit_code == 0 and "not kept: too large" in shown.stdout

    replayed = await operated.console("poison", "replay", by_code["InvalidJson"])
    assert replayed.exit_code == 0
    assert operated.queued() == [fits]  # exactly the bytes first received

    everything = await operated.console("poison", "replay", "--code", "MessageTooLarge")
    assert everything.exit_code == 1 and operated.queued() == [fits]
    assert [json.loads(m.content)["error"]["code"] for m in poison.peek_messages(32)] == [
        "MessageTooLarge"  # still there for the operator, never sent
    ]


#: A valid message but for one byte that is not UTF-8: mended to U+FFFD, it would be a valid
#: message nobody sent.
NOT_UTF8 = b'{"email": "ada@fabrikam.example", "displayName": "Ad\xff"}'


async def test_a_body_that_is_not_utf8_is_never_kept_as_a_mended_copy(tenant: Tenant) -> None:
    outcome = await handle_invitation_message(body=NOT_UTF8, message_id="m", rt=tenant.rt)
    assert outcome == "rejected"
    [envelope] = tenant.outbox.poison["guest-invitations-poison"]
    assert envelope["error"]["code"] == "InvalidEncoding"
    assert envelope["original"] is None  # nothing replay could send
    assert envelope["error"]["originalKept"] == "false"
    assert envelope["error"]["originalSha256"] == hashlib.sha256(NOT_UTF8).hexdigest()
    assert envelope["originalHead"].startswith('{"email": "ada@fabrikam.example"')
    assert tenant.directory.calls == []
