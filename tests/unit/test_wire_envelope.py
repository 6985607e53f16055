"""Poison bodies read back (the console lists, shows and replays them)."""

from __future__ import annotations

import json

from guest_console.storage.ports import read_envelope
from guest_onboarding.wire import MAX_ENVELOPE_BYTES, MAX_KEPT_ORIGINAL_BYTES, rejection_envelope


def test_an_envelope_reads_back_as_written() -> None:
    body = rejection_envelope(
        original="eyJlbWFpbCI6ICJhQGIuZXhhbXBsZSJ9",
        code="Forbidden",
        message="Invitations are blocked",
        details={"status": "403", "requestId": "r-1"},
    )
    read = read_envelope(body)
    assert read.code == "Forbidden"
    assert read.message == "Invitations are blocked"
    assert read.details == {"status": "403", "requestId": "r-1"}
    assert read.original == "eyJlbWFpbCI6ICJhQGIuZXhhbXBsZSJ9"


def test_a_body_without_an_envelope_is_its_own_original() -> None:
    for body in ('{"email": "a@b.example"}', "not json", '{"error": "x", "original": 1}'):
        read = read_envelope(body)
        assert read.code == "HostPoisoned"
        assert read.original == body


def test_an_original_at_the_limit_is_kept_exactly_and_one_more_byte_is_not_kept() -> None:
    # the limit counts the original as a JSON string: its quotes included
    at_limit = "x" * (MAX_KEPT_ORIGINAL_BYTES - 2)
    long_reason = "é" * 5_000  # cut, not the original
    kept = json.loads(
        rejection_envelope(original=at_limit, code="InvalidJson", message=long_reason)
    )
    assert kept["original"] == at_limit
    assert len(json.dumps(kept, ensure_ascii=False).encode("utf-8")) <= MAX_ENVELOPE_BYTES
    body = rejection_envelope(original=at_limit + "x", code="MessageTooLarge", message="big")
    read = read_envelope(body)
    assert json.loads(body)["original"] is None
    assert not read.kept and read.code == "MessageTooLarge"
    assert (at_limit + "x").startswith(read.original)  # its start, to read, never to replay
    assert read.details["originalLength"] == str(len(at_limit) + 1)
