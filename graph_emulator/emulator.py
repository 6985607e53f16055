"""The emulated tenant with its behaviour models and counters, and the one path every Graph
call takes: counted, authenticated, authorised, throttled, possibly faulted, then handled."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from graph_emulator.behaviour import FAULT_ERRORS, Faults, Throttle
from graph_emulator.calls import GraphRequest, GraphResponse
from graph_emulator.dynamic_groups import DynamicMembership
from graph_emulator.errors import GraphError, bad_request, error_body
from graph_emulator.model import Clock
from graph_emulator.routes import NoRoute, match_route
from graph_emulator.schema_checks import check_request, non_conformant, response_problems
from graph_emulator.seeding import DEFAULT_SEED, build_tenant
from graph_emulator.tokens import TokenIssuer


class ConnectionResetFault(Exception):
    """An injected fault asking the transport to drop the connection without answering."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


class Emulator:
    """The whole emulated tenant plus its behaviour models and counters."""

    def __init__(
        self,
        startup_seed: Mapping[str, Any] | None,
        identity_header: str,
        *,
        check_responses: bool = True,
    ) -> None:
        self.startup_seed = startup_seed if startup_seed is not None else DEFAULT_SEED
        self.identity_header = identity_header
        # Every answer checked against Graph's schema; one that would not conform becomes a 500
        # (schema_checks.non_conformant), so no test can pass on a body Graph would not send.
        self.check_responses = check_responses
        self.tokens = TokenIssuer()
        self.clock = Clock()
        self.reset(None)

    def reset(self, seed: Mapping[str, Any] | None) -> None:
        """Fresh tenant from `seed` (or the startup seed); clears mailbox, counters, faults,
        limits, the invitation policy (back to the seed's) and the clock offset."""
        self.clock.offset_seconds = 0.0
        self.tenant = build_tenant(seed if seed is not None else self.startup_seed, self.clock)
        self.faults = Faults()
        self.dynamic = DynamicMembership(
            self.tenant, delay_seconds=self.faults.dynamic_membership_lag_seconds
        )
        self.throttle = Throttle()
        self.requests: Counter[str] = Counter()
        self.throttled = 0

    async def dispatch(self, request: GraphRequest) -> GraphResponse:
        """Run one Graph call through auth, throttling and faults; always returns a response
        (an injected connection reset raises ConnectionResetFault)."""
        request_id = str(uuid.uuid4())
        client_request_id = header(request.headers, "client-request-id") or request_id
        try:
            response = await self._dispatch(request)
        except GraphError as exc:
            response = GraphResponse(
                exc.status,
                error_body(exc.code, exc.message, request_id, client_request_id),
                dict(exc.headers),
            )
        if self.check_responses:
            problems = response_problems(response)
            if problems:
                response = non_conformant(f"{request.method} {request.path}", problems)
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = client_request_id
        return response

    async def _dispatch(self, request: GraphRequest) -> GraphResponse:
        # Entra processes dynamic groups in the background; here, whenever a call arrives.
        self.dynamic.process_due()
        try:
            route, params = match_route(request.method, request.path)
        except NoRoute as exc:
            self.requests[f"{request.method} (unmatched)"] += 1
            if exc.method_allowed:
                raise GraphError(
                    405,
                    "Request_BadRequest",
                    "Specified HTTP method is not allowed for the request target.",
                ) from None
            segment = request.path.strip("/").split("/")[0]
            raise bad_request(f"Resource not found for the segment '{segment}'.") from None
        self.requests[route.key] += 1
        claims = self.tokens.verify(header(request.headers, "Authorization"))
        granted = self.tenant.permissions
        route.authorise(granted)
        # The body, $select and $filter against Graph's schema: Graph's 400 for what it refuses.
        check_request(request)
        retry_after = self.throttle.admit(
            route.throttle_cost(request),
            route.is_write,
            len(self.tenant.users),
            app_id=str(claims.get("appid", "")),
        )
        if retry_after is not None:
            self.throttled += 1
            raise GraphError(
                429, "TooManyRequests", "Too many requests.", {"Retry-After": str(retry_after)}
            )
        fault = self.faults.pick(route.key)
        if fault is not None and not fault.after_apply and fault.kind != "slow":
            self._raise_fault(fault.kind, fault.status, fault.retry_after)
        request.granted = granted
        request.replication_lag_ms = self.faults.replication_lag_ms
        request.replication_lag_status = self.faults.replication_lag_status
        request.lookup_lag_seconds = self.faults.lookup_lag_seconds
        response = route.handler(self.tenant, request, params)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
            elif fault.after_apply:
                self._raise_fault(fault.kind, fault.status, fault.retry_after)
        return response

    @staticmethod
    def _raise_fault(kind: str, status: int, retry_after: int | None) -> None:
        if kind == "reset":
            raise ConnectionResetFault()
        code, message = FAULT_ERRORS[status]
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        raise GraphError(status, code, message, headers)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault model (the dynamic groups' delay applies to changes from now)."""
        self.faults = faults
        self.dynamic.delay_seconds = faults.dynamic_membership_lag_seconds

    def counters(self) -> dict[str, Any]:
        """Per-endpoint request counts plus totals of 429s and admitted writes."""
        return {
            "requests": dict(sorted(self.requests.items())),
            "total": sum(self.requests.values()),
            "throttled": self.throttled,
            "writes": self.throttle.writes_admitted,
            "throttling": self.throttle.stats(),
        }


EMULATOR_KEY = web.AppKey("emulator", Emulator)
