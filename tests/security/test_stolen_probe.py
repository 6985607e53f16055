"""The stolen probe (issue 24, item 4). After a tenant-wide stop, one delivery per probe interval
tries an invitation for real. A message Graph refuses for its own reason (a domain on the B2B
deny list, cross-tenant access settings, a 404) must not keep everyone else stopped: any verdict
Graph gives the probe other than the tenant-wide refusal lifts the stop, and the probe's own
message goes its own way. The tenant-wide refusal is recognised by Graph's status, code and
message exactly: a refusal that quotes its words, or carries them under another code, never
pauses the tenant. Harm oracles: the invitation emails HR's real message gets (the fake tenant's
log, the emulator's mailbox) and the shared health record."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from guest_onboarding.adapters.graph.responses import raise_for_status
from guest_onboarding.errors import (
    DirectoryError,
    InvalidRequest,
    InvitationsStopped,
    NotFound,
    Refused,
)
from guest_onboarding.ports import TenantStop
from tests.integration.stack import Stack
from tests.integration.test_reminder_sweep import follow_emulator_clock
from tests.security.conftest import Tenant, make_tenant
from tests.support import T0

ADA = "ada@fabrikam.example"
ATTACKER = "mallory@evil.example"
#: Graph's two tenant-wide refusals, word for word (GRAPH_NOTES; graph_emulator/README.md).
SUSPICIOUS_ACTIVITY = (
    "Invitations are blocked for this directory due to suspicious activity. "
    "Please contact Microsoft support for help."
)
COLLABORATION_OFF = (
    "Guest invitations not allowed for your company. "
    "Contact your company administrator for more details."
)


async def stopped_tenant() -> Tenant:
    """A tenant whose invitations Graph stopped ten minutes ago (probe interval 600 s): the
    next invitation is the probe."""
    tenant = make_tenant()
    await tenant.rt.health.record_stop(
        TenantStop(code="Forbidden", message=SUSPICIOUS_ACTIVITY, since=T0, last_probe_at=T0)
    )
    tenant.clock.now = T0 + timedelta(seconds=601)
    return tenant


@pytest.mark.parametrize(
    "refusal",
    [
        InvalidRequest(
            "The invitation is blocked by the tenant's B2B collaboration policy",
            code="BadRequest",
            status=400,
        ),
        Refused(
            "This invitation is blocked by cross-tenant access settings.",
            code="Forbidden",
            status=403,
        ),
        NotFound("Resource not found", code="Request_ResourceNotFound", status=404),
    ],
    ids=["400-deny-list", "403-cross-tenant", "404"],
)
async def test_a_probe_refused_for_its_own_reason_lifts_the_stop(refusal: DirectoryError) -> None:
    tenant = await stopped_tenant()
    tenant.directory.fail_next["invite"] = [refusal]
    assert await tenant.invite({"email": ATTACKER}, "attacker") == "poisoned"
    assert tenant.poison_codes("guest-invitations") == [refusal.code]  # its own way
    assert await tenant.rt.health.invitations_stopped() is None
    # HR's real invitation goes out at once, not a probe interval (or forty minutes) later
    tenant.clock.now += timedelta(seconds=1)
    assert await tenant.invite({"email": ADA}, "hr") == "invited"
    assert tenant.directory.emails_to(ADA) == 1


async def test_a_stream_of_refused_probes_never_keeps_invitations_stopped() -> None:
    """Every probe interval the attacker's message is there first; Graph refuses it with a 400
    each time. HR's messages, arriving in between, are invited."""
    tenant = await stopped_tenant()
    for round_ in range(4):
        tenant.directory.fail_next["invite"] = [
            InvalidRequest("domain on the deny list", code="BadRequest", status=400)
        ]
        assert await tenant.invite({"email": ATTACKER}, f"a{round_}") == "poisoned"
        guest = f"hr{round_}@fabrikam.example"
        assert await tenant.invite({"email": guest}, f"h{round_}") == "invited"
        assert tenant.directory.emails_to(guest) == 1
        tenant.clock.now += timedelta(seconds=601)


async def test_a_probe_without_a_verdict_stays_due_and_keeps_the_stop() -> None:
    """A 5xx is no verdict: the stop holds, and the very next delivery probes (nothing waits a
    whole interval because of it)."""
    from guest_onboarding.errors import ServiceUnavailable

    tenant = await stopped_tenant()
    tenant.directory.fail_next["invite"] = [ServiceUnavailable("oops", status=503)]
    with pytest.raises(ServiceUnavailable):  # the queue delivers it again
        await tenant.invite({"email": ATTACKER}, "attacker")
    stop = await tenant.rt.health.invitations_stopped()
    assert stop is not None and stop.last_probe_at == T0  # still due
    assert await tenant.invite({"email": ADA}, "hr") == "invited"  # the next one probes
    assert await tenant.rt.health.invitations_stopped() is None


@pytest.mark.parametrize("wording", [SUSPICIOUS_ACTIVITY, COLLABORATION_OFF])
def test_both_tenant_wide_wordings_are_recognised_exactly(wording: str) -> None:
    answer = httpx.Response(403, json={"error": {"code": "Forbidden", "message": wording}})
    with pytest.raises(InvitationsStopped):
        raise_for_status(answer)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        # the words under another code
        (403, "Authorization_RequestDenied", SUSPICIOUS_ACTIVITY),
        (403, "Authorization_RequestDenied", COLLABORATION_OFF),
        # a refusal about one partner that quotes them
        (
            403,
            "Forbidden",
            "Invitations are blocked for this directory due to suspicious activity. "
            "Please contact Microsoft support for help. Partner: evil.example",
        ),
        (
            403,
            "Forbidden",
            "Guest invitations not allowed for your company. "
            "Contact your company administrator for more details. (fabrikam.example)",
        ),
        (
            403,
            "Forbidden",
            "invitations are blocked for this directory due to suspicious activity.",
        ),
        (
            403,
            "Forbidden",
            "The domain evil.example: guest invitations not allowed for your company",
        ),
        # the words with another status
        (400, "Forbidden", SUSPICIOUS_ACTIVITY),
    ],
)
def test_near_misses_of_the_tenant_wide_wording_concern_one_message(
    status: int, code: str, message: str
) -> None:
    answer = httpx.Response(status, json={"error": {"code": code, "message": message}})
    with pytest.raises(DirectoryError) as raised:
        raise_for_status(answer)
    assert not isinstance(raised.value, InvitationsStopped)
    assert isinstance(raised.value, Refused | InvalidRequest)


@pytest.mark.integration
@pytest.mark.parametrize(
    "policy",
    [{"denied_domains": ["evil.example"]}, {"cross_tenant_blocked_domains": ["evil.example"]}],
    ids=["b2b-deny-list", "cross-tenant-access"],
)
async def test_on_the_emulator_a_refused_probe_lifts_the_stop_and_hr_is_invited(
    stack: Stack, policy: dict[str, list[str]]
) -> None:
    follow_emulator_clock(stack)
    mailbox = stack.graph.control.mailbox
    stack.graph.control.set_invitation_policy(tenant_block="suspiciousActivity")
    stack.send({"email": "first@partner.example"})
    assert await stack.drain() == ["tenant_stop"]
    assert await stack.rt.health.invitations_stopped() is not None
    # Microsoft support lifts the block; the attacker's message is the next probe
    stack.graph.control.set_invitation_policy(**policy)  # type: ignore[arg-type]
    stack.graph.control.advance_clock(601)
    stack.send({"email": ATTACKER})
    assert await stack.drain() == ["poisoned"]
    [poisoned] = stack.poison(stack.settings.invitations_queue)
    assert poisoned["error"]["status"] in {"400", "403"}
    assert await stack.rt.health.invitations_stopped() is None
    stack.send({"email": ADA})
    assert await stack.drain() == ["invited"]
    assert len(mailbox(to=ADA)) == 1


@pytest.mark.integration
@pytest.mark.parametrize("block", ["suspiciousActivity", "externalCollaborationDisabled"])
async def test_on_the_emulator_both_tenant_wide_refusals_stop_invitations(
    stack: Stack, block: str
) -> None:
    stack.graph.control.set_invitation_policy(tenant_block=block)
    stack.send({"email": ADA})
    assert await stack.drain() == ["tenant_stop"]
    stop = await stack.rt.health.invitations_stopped()
    assert stop is not None and stop.code == "Forbidden"
    assert stop.message in {SUSPICIOUS_ACTIVITY, COLLABORATION_OFF}
    assert stack.poison(stack.settings.invitations_queue) == []
    assert mailbox_empty(stack)


def mailbox_empty(stack: Stack) -> bool:
    return stack.graph.control.mailbox() == []
