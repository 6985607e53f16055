"""The emulator's HTTP server: `/v1.0` (Graph), `/msi/token` (managed identity), `/redeem/...`
(the link in invitation emails) and `/_control/...` (tests and tools; no auth)."""

from __future__ import annotations

import asyncio
import html
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from graph_emulator.calls import GraphRequest, GraphResponse
from graph_emulator.control_api import add_control_routes, read_json
from graph_emulator.emulator import EMULATOR_KEY, ConnectionResetFault, Emulator
from graph_emulator.errors import bad_request, error_body

DEFAULT_IDENTITY_HEADER = "local-development-only"
GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


def _graph_response(response: GraphResponse) -> web.Response:
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    headers = {**response.headers, "Content-Type": GRAPH_CONTENT_TYPE}
    return web.Response(
        status=response.status, body=json.dumps(response.body).encode(), headers=headers
    )


async def graph_endpoint(request: web.Request) -> web.StreamResponse:
    """Everything under /v1.0."""
    emulator = request.app[EMULATOR_KEY]
    delay = emulator.faults.latency_seconds()
    if delay:
        await asyncio.sleep(delay)
    ok, body = await read_json(request)
    if not ok:
        request_id = str(uuid.uuid4())
        error = bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set "
            "and payload is of valid JSON format."
        )
        client_request_id = request.headers.get("client-request-id", request_id)
        return _graph_response(
            GraphResponse(
                error.status,
                error_body(error.code, error.message, request_id, client_request_id),
                {"request-id": request_id, "client-request-id": client_request_id},
            )
        )
    graph_request = GraphRequest(
        method=request.method,
        path=request.path[len("/v1.0") :] or "/",
        query=dict(request.query),
        headers=request.headers,
        body=body,
        origin=f"{request.scheme}://{request.host}",
    )
    try:
        response = await emulator.dispatch(graph_request)
    except ConnectionResetFault:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError() from None
    return _graph_response(response)


async def msi_token(request: web.Request) -> web.Response:
    """The App Service managed-identity endpoint azure-identity calls (api-version 2019-08-01)."""
    emulator = request.app[EMULATOR_KEY]
    emulator.requests["GET /msi/token"] += 1
    if request.headers.get("X-IDENTITY-HEADER") != emulator.identity_header:
        return web.json_response(
            {"statusCode": 401, "message": "Missing or invalid X-IDENTITY-HEADER."}, status=401
        )
    resource = request.query.get("resource")
    if request.query.get("api-version") != "2019-08-01" or not resource:
        return web.json_response(
            {"statusCode": 400, "message": "api-version=2019-08-01 and resource are required."},
            status=400,
        )
    client_id = request.query.get("client_id") or emulator.tenant.client_id
    token, expires_on = emulator.tokens.issue(resource, client_id, emulator.tenant.tenant_id)
    return web.json_response(
        {
            "access_token": token,
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }
    )


async def redeem_link(request: web.Request) -> web.Response:
    """The `inviteRedeemUrl`: opening it accepts the invitation, as a guest's click would."""
    emulator = request.app[EMULATOR_KEY]
    invitation = emulator.tenant.invitations.get(request.match_info["invitation_id"])
    user = emulator.tenant.users.get(invitation.user_id) if invitation else None
    if invitation is None or user is None:
        return web.Response(status=404, text="Unknown or withdrawn invitation.")
    emulator.tenant.redeem(user)
    target = html.escape(invitation.redirect_url, quote=True)
    page = (
        f"<!doctype html><title>Invitation accepted</title><p>{html.escape(user.mail or '')} "
        f'accepted the invitation.</p><p><a href="{target}">Continue</a></p>'
    )
    return web.Response(text=page, content_type="text/html")


def create_app(
    seed: Mapping[str, Any] | None = None,
    identity_header: str = DEFAULT_IDENTITY_HEADER,
    *,
    check_responses: bool = True,
) -> web.Application:
    """The aiohttp application serving one emulated tenant built from `seed` (``check_responses``:
    every answer checked against Graph's schema, see ``Emulator``)."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = Emulator(seed, identity_header, check_responses=check_responses)
    app.router.add_route("*", "/v1.0/{tail:.*}", graph_endpoint)
    app.router.add_get("/msi/token", msi_token)
    app.router.add_get("/redeem/{invitation_id}", redeem_link)
    add_control_routes(app)
    return app
