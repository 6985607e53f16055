"""The invitation gate (handlers/invite.py): a probe that never reached Graph stays due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import InvitationsStopped, Throttled
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.ports import InvitationResult, TenantStop
from tests.fakes import FakeTenantHealth

STOPPED_AT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class Directory:
    """Only ``invite`` is called by the gate; it answers with what ``answers`` holds next."""

    def __init__(self, *answers: Exception | InvitationResult) -> None:
        self.answers = list(answers)
        self.invited: list[str] = []

    async def invite(self, email: str, invitation: Invitation) -> InvitationResult:
        self.invited.append(email)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_probe_refused_before_reaching_graph_is_still_due_for_the_next_delivery() -> None:
    health = FakeTenantHealth()
    await health.record_stop(
        TenantStop(
            code="InvitationsBlocked", message="blocked", since=STOPPED_AT, last_probe_at=STOPPED_AT
        )
    )
    paced = Throttled("invitations are paced", retry_after=40.0, code="InvitationsPaced")
    blocked = InvitationsStopped("blocked", retry_after=0, code="InvitationsBlocked", status=403)
    directory = Directory(paced, blocked)
    gate = InvitationGate(
        directory=directory,  # type: ignore[arg-type]
        health=health,
        probe_interval=timedelta(minutes=10),
    )
    invitation = Invitation(redirect_url="https://myapps.microsoft.com")
    due = STOPPED_AT + timedelta(minutes=11)
    with pytest.raises(Throttled):
        await gate.invite("ada@fabrikam.example", invitation, now=due)
    assert health.stop is not None and health.stop.last_probe_at == STOPPED_AT
    # a second later, another delivery probes for real (and meets the stop again)
    with pytest.raises(InvitationsStopped):
        await gate.invite("bob@fabrikam.example", invitation, now=due + timedelta(seconds=1))
    assert directory.invited == ["ada@fabrikam.example", "bob@fabrikam.example"]
    assert health.stop is not None and health.stop.last_probe_at == due + timedelta(seconds=1)
