"""The emulator's HTTP server: `/v1.0` (Graph), `/msi/token` (managed identity), `/redeem/...`
(the link in invitation emails) and `/_control/...` (tests and tools; no auth).

Every Graph call, top-level or inside `$batch`, goes through `Emulator.dispatch`: counted,
authenticated, authorised, throttled, possibly faulted, then handled.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import json
import os
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from graph_emulator.behaviour import FAULT_ERRORS, ConfigError, Faults, Throttle
from graph_emulator.errors import GraphError, bad_request, error_body
from graph_emulator.graph_api import (
    GraphRequest,
    GraphResponse,
    NoRoute,
    assignment_json,
    match_route,
)
from graph_emulator.tenant import DEFAULT_SEED, Clock, Tenant, User, format_time

GRAPH_RESOURCE = "https://graph.microsoft.com"
DEFAULT_IDENTITY_HEADER = "local-development-only"
TOKEN_LIFETIME_SECONDS = 24 * 3600
MAX_BATCH_REQUESTS = 20
GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


class ConnectionResetFault(Exception):
    """An injected fault asking the transport to drop the connection without answering."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs JWT-shaped access tokens with a per-process key.

    Tokens outlive `/_control/reset` (clients cache them), and authorise nothing themselves:
    permissions are read from the current seed at each call, so a test can take one away.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, resource: str, client_id: str, tenant_id: str) -> tuple[str, int]:
        """A token for the resource and its expiry (epoch seconds, real time)."""
        expires_on = int(time.time()) + TOKEN_LIFETIME_SECONDS
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "aud": resource.rstrip("/"),
            "appid": client_id,
            "tid": tenant_id,
            "iat": int(time.time()),
            "exp": expires_on,
            "idtyp": "app",
        }
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(
            hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        )
        return f"{header}.{payload}.{signature}", expires_on

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or 401 InvalidAuthenticationToken as Graph answers."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise _unauthenticated("Access token is empty.")
        token = authorization[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise _unauthenticated("IDX14100: JWT is not well formed, there are no dots (.).")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(_unb64(parts[2]), expected)
            claims: dict[str, Any] = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            valid, claims = False, {}
        if not valid:
            raise _unauthenticated("Access token validation failure. Invalid signature.")
        if claims.get("aud") != GRAPH_RESOURCE:
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        if int(claims.get("exp", 0)) <= time.time():
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        return claims


def _unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


class Emulator:
    """The whole emulated tenant plus its behaviour models and counters."""

    def __init__(self, startup_seed: Mapping[str, Any], identity_header: str) -> None:
        self.startup_seed = startup_seed
        self.identity_header = identity_header
        self.tokens = TokenIssuer()
        self.clock = Clock()
        self.reset(None)

    def reset(self, seed: Mapping[str, Any] | None) -> None:
        """Fresh tenant from `seed` (or the startup seed); clears mailbox, counters, faults,
        clock."""
        self.clock.offset_seconds = 0.0
        self.tenant = Tenant(seed if seed is not None else self.startup_seed, self.clock)
        self.faults = Faults()
        self.throttle = Throttle()
        self.requests: Counter[str] = Counter()
        self.throttled = 0

    # ----- Graph dispatch -------------------------------------------------------------------

    async def dispatch(self, request: GraphRequest) -> GraphResponse:
        """Run one Graph call through auth, throttling and faults; always returns a response."""
        request_id = str(uuid.uuid4())
        client_request_id = _header(request.headers, "client-request-id") or request_id
        try:
            response = await self._dispatch(request)
        except GraphError as exc:
            response = GraphResponse(
                exc.status,
                error_body(exc.code, exc.message, request_id, client_request_id),
                dict(exc.headers),
            )
        response.headers["request-id"] = request_id
        response.headers["client-request-id"] = client_request_id
        return response

    async def _dispatch(self, request: GraphRequest) -> GraphResponse:
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
        self.tokens.verify(_header(request.headers, "Authorization"))
        granted = self.tenant.permissions
        route.authorise(granted)
        retry_after = self.throttle.admit(
            route.throttle_cost(request), route.is_write, len(self.tenant.users)
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

    async def run_batch(self, headers: Mapping[str, str], body: Any, origin: str) -> GraphResponse:
        """POST /$batch: up to 20 sub-requests, each dispatched (and throttled) on its own."""
        self.requests["POST /$batch"] += 1
        self.tokens.verify(_header(headers, "Authorization"))
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise bad_request("Invalid batch payload format.")
        if len(items) > MAX_BATCH_REQUESTS:
            raise bad_request(
                f"Maximum number of requests allowed in a batch is {MAX_BATCH_REQUESTS}; "
                f"the batch has {len(items)}."
            )
        ids = [str(item.get("id")) if isinstance(item, dict) else "" for item in items]
        if len(set(ids)) != len(ids) or "" in ids:
            raise bad_request("Every batch request needs a unique id.")
        statuses: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for item, item_id in zip(items, ids, strict=True):
            depends = item.get("dependsOn") or item.get("depends_on") or []
            if any(statuses.get(str(dep), 424) >= 400 for dep in depends):
                sub = GraphResponse(
                    424,
                    error_body("FailedDependency", "Failed dependency.", str(uuid.uuid4()), ""),
                )
            else:
                sub = await self.dispatch(self._sub_request(item, headers, origin))
            statuses[item_id] = sub.status
            entry: dict[str, Any] = {"id": item_id, "status": sub.status, "headers": sub.headers}
            if sub.body is not None:
                entry["headers"] = {"Content-Type": GRAPH_CONTENT_TYPE, **sub.headers}
                entry["body"] = sub.body
            responses.append(entry)
        return GraphResponse(200, {"responses": responses})

    @staticmethod
    def _sub_request(
        item: Mapping[str, Any], envelope: Mapping[str, str], origin: str
    ) -> GraphRequest:
        url = str(item.get("url", ""))
        parts = urlsplit(url)
        path = parts.path if parts.path.startswith("/") else f"/{parts.path}"
        if path.lower().startswith(("/v1.0/", "/beta/")):
            path = path[path.index("/", 1) :]
        raw_headers = item.get("headers") or {}
        headers: dict[str, str] = {}
        if isinstance(raw_headers, dict):
            for name, value in raw_headers.items():
                values = value if isinstance(value, list | set | tuple) else [value]
                headers[str(name)] = ", ".join(str(v) for v in values)
        # Sub-requests run with the envelope's identity.
        for name in ("Authorization", "client-request-id"):
            value = _header(envelope, name)
            if value is not None and _header(headers, name) is None:
                headers[name] = value
        body = item.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(base64.b64decode(body))
            except (ValueError, binascii.Error):
                body = None
        return GraphRequest(
            method=str(item.get("method", "GET")).upper(),
            path=path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            origin=origin,
        )

    # ----- control views --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a test may want to assert on."""
        tenant = self.tenant
        return {
            "tenant": {"id": tenant.tenant_id, "domain": tenant.domain},
            "users": [_user_state(u) for u in tenant.user_order if u is not None],
            "groups": [
                {
                    "id": g.id,
                    "displayName": g.display_name,
                    "isAssignableToRole": g.is_assignable_to_role,
                    "members": list(g.members),
                }
                for g in tenant.groups.values()
            ],
            "servicePrincipals": [
                {
                    "id": sp.id,
                    "appId": sp.app_id,
                    "displayName": sp.display_name,
                    "appRoles": sp.app_roles,
                    "assignments": [assignment_json(a) for a in sp.assignments],
                }
                for sp in tenant.service_principals.values()
            ],
        }

    def counters(self) -> dict[str, Any]:
        """Per-endpoint request counts plus totals of 429s and admitted writes."""
        return {
            "requests": dict(sorted(self.requests.items())),
            "total": sum(self.requests.values()),
            "throttled": self.throttled,
            "writes": self.throttle.writes_admitted,
            "throttling": self.throttle.stats(),
        }


def _user_state(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "displayName": user.display_name,
        "mail": user.mail,
        "userPrincipalName": user.user_principal_name,
        "userType": user.user_type,
        "creationType": user.creation_type,
        "externalUserState": user.external_user_state,
        "externalUserStateChangeDateTime": (
            format_time(user.state_changed_at) if user.state_changed_at is not None else None
        ),
        "createdDateTime": format_time(user.created_at),
        "otherMails": list(user.other_mails),
        "proxyAddresses": list(user.proxy_addresses),
    }


# ----- aiohttp glue ----------------------------------------------------------------------------

EMULATOR_KEY = web.AppKey("emulator", Emulator)


def _graph_response(response: GraphResponse) -> web.Response:
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    headers = {**response.headers, "Content-Type": GRAPH_CONTENT_TYPE}
    return web.Response(
        status=response.status, body=json.dumps(response.body).encode(), headers=headers
    )


async def _read_json(request: web.Request) -> tuple[bool, Any]:
    raw = await request.read()
    if not raw.strip():
        return True, None
    try:
        return True, json.loads(raw)
    except ValueError:
        return False, None


async def graph_endpoint(request: web.Request) -> web.StreamResponse:
    """Everything under /v1.0."""
    emulator = request.app[EMULATOR_KEY]
    delay = emulator.faults.latency_seconds()
    if delay:
        await asyncio.sleep(delay)
    path = request.path[len("/v1.0") :] or "/"
    origin = f"{request.scheme}://{request.host}"
    ok, body = await _read_json(request)
    try:
        if not ok:
            raise bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set "
                "and payload is of valid JSON format."
            )
        if request.method == "POST" and path.lower() == "/$batch":
            response = await emulator.run_batch(request.headers, body, origin)
        else:
            graph_request = GraphRequest(
                method=request.method,
                path=path,
                query=dict(request.query),
                headers=request.headers,
                body=body,
                origin=origin,
            )
            response = await emulator.dispatch(graph_request)
    except GraphError as exc:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id", request_id)
        response = GraphResponse(
            exc.status,
            error_body(exc.code, exc.message, request_id, client_request_id),
            {**exc.headers, "request-id": request_id, "client-request-id": client_request_id},
        )
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


# ----- control API -----------------------------------------------------------------------------


async def _control_json(request: web.Request) -> Any:
    ok, body = await _read_json(request)
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
    """Users, groups with member ids, service principals with assignments."""
    return web.json_response(request.app[EMULATOR_KEY].state())


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
    return web.json_response(_user_state(user))


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
    """GET: current fault config; POST: replace it (latency, errors, replicationLag)."""
    emulator = request.app[EMULATOR_KEY]
    if request.method == "POST":
        try:
            emulator.faults = Faults(await _control_json(request) or {})
        except (ConfigError, ValueError, TypeError, KeyError) as exc:
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


async def control_counters(request: web.Request) -> web.Response:
    """Per-endpoint request counts and totals."""
    return web.json_response(request.app[EMULATOR_KEY].counters())


def create_app(
    seed: Mapping[str, Any] | None = None, identity_header: str = DEFAULT_IDENTITY_HEADER
) -> web.Application:
    """The aiohttp application serving one emulated tenant built from `seed`."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = Emulator(seed if seed is not None else DEFAULT_SEED, identity_header)
    app.router.add_route("*", "/v1.0/{tail:.*}", graph_endpoint)
    app.router.add_get("/msi/token", msi_token)
    app.router.add_get("/redeem/{invitation_id}", redeem_link)
    control = "/_control"
    app.router.add_get(f"{control}/health", control_health)
    app.router.add_post(f"{control}/reset", control_reset)
    app.router.add_get(f"{control}/state", control_state)
    app.router.add_get(f"{control}/mailbox", control_mailbox)
    app.router.add_post(f"{control}/redeem", control_redeem)
    app.router.add_route("GET", f"{control}/clock", control_clock)
    app.router.add_route("POST", f"{control}/clock", control_clock)
    app.router.add_route("GET", f"{control}/faults", control_faults)
    app.router.add_route("POST", f"{control}/faults", control_faults)
    app.router.add_route("GET", f"{control}/limits", control_limits)
    app.router.add_route("POST", f"{control}/limits", control_limits)
    app.router.add_get(f"{control}/counters", control_counters)
    return app
