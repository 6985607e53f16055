"""The invitation gate: when Graph refuses invitations for the whole tenant (invitations blocked
for the directory after suspicious activity, external collaboration settings), nothing is
poisoned for it. The stop is recorded once, shared by every instance; invitations and reminders
wait on their queue; one delivery per probe interval tries for real, and the first success
lifts the stop for everyone.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.errors import InvitationsStopped, Paused
from guest_onboarding.ports import Directory, InvitationResult, TenantHealth, TenantStop

log = logging.getLogger("guest_onboarding")


@dataclasses.dataclass(frozen=True, kw_only=True)
class InvitationGate:
    directory: Directory
    health: TenantHealth
    probe_interval: timedelta

    async def ensure_open(self, now: datetime) -> None:
        """Raise ``InvitationsStopped`` (with the time to the next probe) while a stop holds and
        it is not time to probe: checked before a row is claimed."""
        stop = await self.health.invitations_stopped()
        if stop is not None:
            wait = (stop.last_probe_at + self.probe_interval - now).total_seconds()
            if wait > 0:
                raise InvitationsStopped(stop.message, retry_after=wait, code=stop.code)

    async def invite(
        self, email: str, invitation: Invitation, *, now: datetime
    ) -> InvitationResult:
        """``POST /invitations`` unless the tenant is stopped; the probe when one is due."""
        stop = await self.health.invitations_stopped()
        interval = self.probe_interval.total_seconds()
        probe: TenantStop | None = None
        if stop is not None:
            wait = (stop.last_probe_at + self.probe_interval - now).total_seconds()
            if wait > 0:
                raise InvitationsStopped(stop.message, retry_after=wait, code=stop.code)
            probe = await self.health.record_stop(dataclasses.replace(stop, last_probe_at=now))
            if probe is None:  # another instance claimed this probe
                raise InvitationsStopped(stop.message, retry_after=interval, code=stop.code)
        try:
            result = await self.directory.invite(email, invitation)
        except InvitationsStopped as exc:
            since = stop.since if stop is not None else now
            recorded = await self.health.record_stop(
                TenantStop(
                    code=exc.code,
                    message=exc.message,
                    since=since,
                    last_probe_at=now,
                    # the prober refreshes the stop it won; anyone else records it only if no
                    # other delivery did first: one log line (one alert) per stop and probe
                    etag=probe.etag if probe is not None else None,
                )
            )
            raise InvitationsStopped(
                exc.message,
                retry_after=interval,
                code=exc.code,
                status=exc.status,
                recorded=recorded is not None,
            ) from exc
        except Paused:
            if stop is not None and probe is not None:
                # Nothing reached Graph (paced or throttled): the probe is still due, for the
                # next delivery of any instance, not in a whole interval.
                await self.health.record_stop(dataclasses.replace(stop, etag=probe.etag))
            raise
        if stop is not None:
            await self.health.clear_stop()
            log.warning(
                '{"step": "invite", "outcome": "tenant_resumed", "stopped_since": "%s"}',
                stop.since.isoformat(),
            )
        return result
