"""Poison bodies read back (the console lists, shows and replays them)."""

from __future__ import annotations

from guest_console.storage.ports import read_envelope
from guest_onboarding.wire import rejection_envelope


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
