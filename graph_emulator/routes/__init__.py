"""Every `/v1.0` endpoint, one module per resource, and the router over them."""

from __future__ import annotations

from graph_emulator.calls import Route
from graph_emulator.routes import groups, invitations, service_principals, users

ROUTES: tuple[Route, ...] = (
    *invitations.ROUTES,
    *users.ROUTES,
    *groups.ROUTES,
    *service_principals.ROUTES,
)


class NoRoute(Exception):
    """No endpoint matches; `method_allowed` says whether the path exists for another method."""

    def __init__(self, path: str, method_allowed: bool) -> None:
        super().__init__(path)
        self.path = path
        self.method_allowed = method_allowed


def routes_table() -> str:
    """The routes as graph_emulator/README.md shows them: counter key, the permission sets the
    route accepts (any one line; ``and`` joins what one line needs together), resource units."""
    lines = [
        "| endpoint (counter key) | permission (any one line) | RU cost |",
        "| --- | --- | --- |",
    ]
    for route in ROUTES:
        accepted = " / ".join(" **and** ".join(sorted(a)) for a in route.permissions)
        cost = f"{route.cost} + 1 write" if route.is_write else str(route.cost)
        lines.append(f"| `{route.key}` | {accepted} | {cost} |")
    return "\n".join(lines)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for this method and path (without `/v1.0`) and its path parameters."""
    path_exists = False
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, found.groupdict()
        path_exists = True
    raise NoRoute(path, path_exists)
