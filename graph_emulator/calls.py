"""One Graph call as the handlers see it, the route that serves it, and the permission rules.

Transport, auth, throttling and faults live in ``emulator.py``; handlers take a `Tenant` and a
`GraphRequest` and return a `GraphResponse` or raise `GraphError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph_emulator.errors import bad_request, forbidden
from graph_emulator.tenant import Tenant

REFERENCE_URL = re.compile(
    r"^https://graph\.microsoft\.com/(?:v1\.0|beta)/"
    r"(?:directoryObjects|users|groups|servicePrincipals)/([^/?#]+)$",
    re.IGNORECASE,
)


@dataclass
class GraphRequest:
    """One Graph call. `path` excludes `/v1.0`."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: Any
    origin: str
    replication_lag_status: int = 404
    replication_lag_ms: int = 0
    lookup_lag_seconds: float = 0.0
    # The calling identity's application permissions, for checks that depend on the target.
    granted: frozenset[str] = frozenset()

    def param(self, name: str) -> str | None:
        """A system query option, with or without its `$` (Graph accepts both)."""
        value = self.query.get(f"${name}")
        return value if value is not None else self.query.get(name)

    def json_object(self) -> dict[str, Any]:
        """The JSON object body, or 400."""
        if not isinstance(self.body, dict):
            raise bad_request("A JSON object request body is required.")
        return self.body


@dataclass
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Tenant, GraphRequest, dict[str, str]], GraphResponse]

#: Alternatives, any one of which grants the call; each is a set of permissions all needed.
Permissions = tuple[frozenset[str], ...]


def any_of(*names: str) -> Permissions:
    """Any one of these permissions grants the call."""
    return tuple(frozenset({name}) for name in names)


def all_of(*requirements: Permissions) -> Permissions:
    """Every requirement must be met (each by any of its alternatives)."""
    combined: Permissions = (frozenset(),)
    for requirement in requirements:
        combined = tuple(left | right for left in combined for right in requirement)
    return combined


@dataclass(frozen=True)
class Route:
    """One endpoint: its counter key, required permissions and throttling cost."""

    method: str
    pattern: re.Pattern[str]
    key: str
    permissions: Permissions
    handler: Handler
    cost: int = 1

    @property
    def is_write(self) -> bool:
        """POST, PATCH and DELETE count against the write bucket."""
        return self.method in ("POST", "PATCH", "DELETE")

    def authorise(self, granted: frozenset[str]) -> None:
        """Raise 403 Authorization_RequestDenied unless one alternative is fully granted."""
        if not any(alternative <= granted for alternative in self.permissions):
            raise forbidden()

    def throttle_cost(self, request: GraphRequest) -> int:
        """Resource units: base cost, -1 with `$select`, +1 with `$expand`; at least 1."""
        cost = self.cost
        if request.param("select") is not None:
            cost -= 1
        if request.param("expand") is not None:
            cost += 1
        return max(1, cost)


def route(
    method: str, template: str, permissions: Permissions, handler: Handler, cost: int = 1
) -> Route:
    """A route for ``METHOD /template`` (``{id}`` matches one path segment; a second ``{id}``
    is the handler's ``params["id2"]``)."""
    parts = re.escape(template).split(re.escape("{id}"))
    regex = parts[0] + "".join(
        f"(?P<id{'' if i == 0 else i + 1}>[^/]+){part}" for i, part in enumerate(parts[1:])
    )
    return Route(
        method=method,
        pattern=re.compile(f"^{regex}$", re.IGNORECASE),
        key=f"{method} {template}",
        permissions=permissions,
        handler=handler,
        cost=cost,
    )


def reference_id(value: Any) -> str:
    """The object id a `$ref` body's `@odata.id` names; 400 unless it is a Graph URL."""
    if not isinstance(value, str):
        raise bad_request("Invalid OData reference: '@odata.id' is required.", "Request_BadRequest")
    match = REFERENCE_URL.match(value)
    if match is None:
        raise bad_request(f"Invalid object identifier '{value}'.", code="Request_BadRequest")
    return match.group(1)
