"""The control API (`/_control/...`, no auth) that tests and tools drive the emulator with;
`control.EmulatorControl` is its Python client."""

from __future__ import annotations

import json
import os
from typing import Any

from aiohttp import web

from graph_emulator.behaviour import ConfigError, Faults, Throttle
from graph_emulator.emulator import EMULATOR_KEY
from graph_emulator.invitation_policy import InvitationPolicy, PolicyError
from graph_emulator.model import format_time
from graph_emulator.serializers import tenant_state, user_state


async def read_json(request: web.Request) -> tuple[bool, Any]:
    """(True, the body as JSON, or None when empty) or (False, None) when it is not JSON."""
    raw = await request.read()
    if not raw.strip():
        return True, None
    try:
        return True, json.loads(raw)
    except ValueError:
        return False, None


async def _control_json(request: web.Request) -> Any:
    ok, body = await read_json(request)
    if not ok:
        raise web.HTTPBadRequest(text="request body is not JSON")
    return body


async def control_health(request: web.Request) -> web.Response:
    """Liveness for launchers: answers once the server accepts requests."""
    emulator = request.app[EMULATOR_KEY]
    return web.json_response(
        {"status": "ok", "pid": os.getpid(), "users": len(emulator.tenant.users)}
    )


async def control_reset(request: web.Request) -> web.Response:
    """Body: a seed (same format as --tenant); empty body: the startup seed."""
    seed = await _control_json(request)
    try:
        request.app[EMULATOR_KEY].reset(seed)
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"invalid seed: {exc}"}, status=400)
    return web.json_response(
        {"status": "reset", "users": len(request.app[EMULATOR_KEY].tenant.users)}
    )


async def control_state(request: web.Request) -> web.Response:
    """Users, deleted users, groups with member ids, service principals with assignments."""
    emulator = request.app[EMULATOR_KEY]
    emulator.dynamic.process_due()
    return web.json_response(tenant_state(emulator.tenant))


async def control_mailbox(request: web.Request) -> web.Response:
    """Recorded invitation emails, optionally only those `?to=` an address."""
    to = request.query.get("to")
    mails = [
        mail.to_json()
        for mail in request.app[EMULATOR_KEY].tenant.mailbox
        if to is None or mail.to.lower() == to.lower()
    ]
    return web.json_response({"messages": mails})


async def control_redeem(request: web.Request) -> web.Response:
    """Body {"email"} or {"userId"}: the guest accepts (state Accepted, time = emulator now)."""
    body = await _control_json(request) or {}
    tenant = request.app[EMULATOR_KEY].tenant
    if "userId" in body:
        user = tenant.users.get(body["userId"])
    else:
        found = tenant.find_by_address(str(body.get("email", "")))
        user = found[0] if found else None
    if user is None:
        return web.json_response({"error": "no such user"}, status=404)
    tenant.redeem(user)
    return web.json_response(user_state(user))


async def control_clock(request: web.Request) -> web.Response:
    """GET: emulator now; POST {"advanceSeconds": n}: move the clock forward."""
    emulator = request.app[EMULATOR_KEY]
    if request.method == "POST":
        body = await _control_json(request) or {}
        emulator.clock.offset_seconds += float(body.get("advanceSeconds", 0))
    return web.json_response(
        {
            "now": format_time(emulator.clock.now()),
            "epochSeconds": emulator.clock.now(),
            "offsetSeconds": emulator.clock.offset_seconds,
        }
    )


async def control_faults(request: web.Request) -> web.Response:
    """GET: current fault config; POST: replace it (latency, errors, replication and look-up
    lag)."""
    emulator = request.app[EMULATOR_KEY]
    if request.method == "POST":
        try:
            emulator.set_faults(Faults(await _control_json(request) or {}))
        except (ConfigError, ValueError, TypeError, KeyError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(emulator.faults.config)


async def control_limits(request: web.Request) -> web.Response:
    """GET: current limits; POST {"throttling": {...}}: replace them (buckets start full)."""
    emulator = request.app[EMULATOR_KEY]
    if request.method == "POST":
        body = await _control_json(request) or {}
        try:
            throttle = Throttle(body.get("throttling", {}))
        except (ConfigError, ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        # Keep counting admitted writes across limit changes; counters reset only with reset.
        throttle.writes_admitted = emulator.throttle.writes_admitted
        emulator.throttle = throttle
    return web.json_response({"throttling": emulator.throttle.config})


async def control_invitation_policy(request: web.Request) -> web.Response:
    """GET: the tenant's invitation policy; POST: replace it (reset restores the seed's)."""
    tenant = request.app[EMULATOR_KEY].tenant
    if request.method == "POST":
        body = await _control_json(request) or {}
        try:
            tenant.policy = InvitationPolicy.from_json(body)
        except (PolicyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(tenant.policy.to_json())


async def control_counters(request: web.Request) -> web.Response:
    """Per-endpoint request counts and totals."""
    return web.json_response(request.app[EMULATOR_KEY].counters())


def add_control_routes(app: web.Application, prefix: str = "/_control") -> None:
    """Serve the control API under ``prefix``."""
    app.router.add_get(f"{prefix}/health", control_health)
    app.router.add_post(f"{prefix}/reset", control_reset)
    app.router.add_get(f"{prefix}/state", control_state)
    app.router.add_get(f"{prefix}/mailbox", control_mailbox)
    app.router.add_post(f"{prefix}/redeem", control_redeem)
    app.router.add_get(f"{prefix}/counters", control_counters)
    for name, handler in (
        ("clock", control_clock),
        ("faults", control_faults),
        ("limits", control_limits),
        ("invitation-policy", control_invitation_policy),
    ):
        app.router.add_route("GET", f"{prefix}/{name}", handler)
        app.router.add_route("POST", f"{prefix}/{name}", handler)
