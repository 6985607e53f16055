"""Access tokens: JWT-shaped, signed with a per-process key, checked on every Graph call."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from graph_emulator.errors import GraphError

GRAPH_RESOURCE = "https://graph.microsoft.com"
TOKEN_LIFETIME_SECONDS = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


class TokenIssuer:
    """Signs JWT-shaped access tokens with a per-process key.

    Tokens outlive `/_control/reset` (clients cache them), and authorise nothing themselves:
    permissions are read from the current seed at each call, so a test can take one away. The
    `appid` claim (the client id asked for) names the app whose throttling buckets a call uses.
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
