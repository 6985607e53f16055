"""The emulator's permission rules against Microsoft's permissions table: every route accepts the
least-privileged permission the table (or, for ``$ref`` paths and property-specific permissions,
the reference page infra/checks/graph_permissions.py cites) names, and every permission set it
accepts holds one the table or page lists for the call. So the emulator refuses what the
deployment's grants would not get past Graph."""

from __future__ import annotations

import pytest

from graph_emulator.calls import Route
from graph_emulator.errors import GraphError
from graph_emulator.routes import ROUTES, routes_table
from graph_emulator.routes.__main__ import README, readme_table
from graph_reference import permission_table, selection
from graph_reference.permissions import normalize_path
from infra.checks.graph_permissions import (
    GRAPH_CALLS,
    GraphCall,
    least_privileged,
    listed_permissions,
)

TABLE = permission_table()


def table_path(route: Route) -> str:
    return route.key.split(" ", 1)[1].removesuffix("/$ref")


def rows(route: Route) -> list[GraphCall]:
    return [c for c in GRAPH_CALLS if f"{c.method} {c.path}" == route.key]


def listed(route: Route) -> frozenset[str]:
    calls = rows(route)
    if calls:
        return frozenset().union(*(listed_permissions(c) for c in calls))
    return TABLE.permissions_covering(route.method, table_path(route))


def leasts(route: Route) -> list[frozenset[str]]:
    calls = rows(route)
    if calls:
        return [least_privileged(c) for c in calls]
    found = TABLE.least_privileged(route.method, table_path(route))
    assert found is not None, f"{route.key}: Microsoft's table marks no least permission"
    return [found]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_the_least_privileged_permission_gets_past_the_route(route: Route) -> None:
    for least in leasts(route):
        route.authorise(least)  # raises 403 if refused


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_every_accepted_set_holds_a_permission_microsoft_lists_for_it(route: Route) -> None:
    named = listed(route)
    assert named, route.key
    for alternative in route.permissions:
        assert alternative & named, f"{route.key} accepts {sorted(alternative)}"


def test_a_permission_the_table_does_not_list_is_refused() -> None:
    # GroupMember.ReadWrite.All lists members but does not read the group itself.
    get_group = next(r for r in ROUTES if r.key == "GET /groups/{id}")
    with pytest.raises(GraphError) as refused:
        get_group.authorise(frozenset({"GroupMember.ReadWrite.All"}))
    assert refused.value.code == "Authorization_RequestDenied"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_every_route_is_inside_the_vendored_selection(route: Route) -> None:
    # A route outside graph_reference/selection.py would lose its rows at the next refresh.
    assert normalize_path(table_path(route)) in {normalize_path(p) for p in selection.PATHS}


def test_the_readme_shows_the_routes_permissions() -> None:
    assert readme_table(README.read_text()) == routes_table(), (
        "python -m graph_emulator.routes --write"
    )
