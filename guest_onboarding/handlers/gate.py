"""The invitation gate: every ``POST /invitations`` (first invitations, owed emails and
reminders alike) goes through :class:`InvitationGate`, which puts the directory's invitations
behind the tenant's health record."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from guest_onboarding import errors, ports
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.ports import Directory

_log = logging.getLogger("guest_onboarding")


@dataclass(frozen=True, kw_only=True)
class InvitationGate:
    """The ``Directory``'s invitations behind the tenant's health record (built once, in
    ``bootstrap.Runtime``). While Graph refuses invitations for the whole tenant (its exact
    wording: ``adapters/graph/responses.py``), the stop is recorded once for every instance,
    messages wait on their queue (nothing poisoned), and one delivery per probe interval tries
    for real. Any verdict Graph gives that probe other than the tenant-wide refusal lifts the
    stop, a refusal of the probe's own message too (a 400 for its domain, a 404, a 403 about one
    partner): that message goes its own way. No verdict (a 429, a 5xx, no answer): the probe
    stays due for the next delivery."""

    directory: Directory
    health: ports.TenantHealth
    probe_interval: timedelta

    async def ensure_open(self, now: datetime) -> ports.TenantStop | None:
        """The stop if a probe is due; ``InvitationsStopped`` while it holds and none is due."""
        stop = await self.health.invitations_stopped()
        if stop is not None and (wait := stop.next_probe_in(self.probe_interval, now)) > 0:
            raise errors.InvitationsStopped(stop.message, retry_after=wait, code=stop.code)
        return stop

    async def invite(
        self, email: str, invitation: Invitation, *, now: datetime
    ) -> ports.InvitationResult:
        """``POST /invitations`` unless the tenant is stopped; the probe when one is due."""
        interval = self.probe_interval.total_seconds()
        stop = probe = await self.ensure_open(now)
        if stop is not None:  # the probe is due: one delivery of any instance claims it
            probe = await self.health.record_stop(dataclasses.replace(stop, last_probe_at=now))
            if probe is None:
                raise errors.InvitationsStopped(stop.message, retry_after=interval, code=stop.code)
        try:
            result = await self.directory.invite(email, invitation)
        except errors.InvitationsStopped as exc:
            # The prober refreshes the stop it won; anyone else records it only if no other
            # delivery did first: one recorded stop (one tenant_stop outcome) per probe.
            since, etag = (stop.since, probe.etag) if stop and probe else (now, None)
            met = ports.TenantStop(
                code=exc.code, message=exc.message, since=since, last_probe_at=now, etag=etag
            )
            exc.recorded, exc.retry_after = await self.health.record_stop(met) is not None, interval
            raise
        except errors.DirectoryError as exc:
            if stop is not None and probe is not None:
                if isinstance(exc, errors.TransientDirectoryError):  # no verdict: still due
                    await self.health.record_stop(dataclasses.replace(stop, etag=probe.etag))
                else:  # a verdict on this message alone: Graph judges invitations again
                    await self._lift(stop)
            raise
        if stop is not None:
            await self._lift(stop)
        return result

    async def _lift(self, stop: ports.TenantStop) -> None:
        await self.health.clear_stop()
        _log.warning("invitations resume: the tenant-wide stop since %s is lifted", stop.since)
