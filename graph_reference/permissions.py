"""Microsoft's Graph permissions table (microsoftgraph/microsoft-graph-devx-content,
``permissions/new/permissions.json``) read into rows: which permission covers which method on
which path, under which schemes, and which of them Microsoft marks least privileged.

The file's shape: ``{"permissions": {"<name>": {"schemes": {"Application": {...}}, "pathSets":
[{"schemeKeys": [...], "methods": [...], "paths": {"<path>": "<flags>"}}]}}}``. The flags are
``;``-separated: ``least=DelegatedWork,Application`` names the schemes for which this permission
is the least privileged one on that path, ``AlsoRequires=A,B`` says it needs one of A or B beside
it (``POST /serviceprincipals/{id}/approleassignedto``: AppRoleAssignment.ReadWrite.All with
Application.Read.All). Paths are compared case-insensitively with every ``{...}`` segment read as
``{id}``. ``$ref`` paths are not in the table; the Graph reference pages cover them
(infra/checks/graph_permissions.py cites each).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

APPLICATION = "Application"
_PLACEHOLDER = re.compile(r"'?\{[^}]*\}'?")


def normalize_path(path: str) -> str:
    """``/servicePrincipals/{servicePrincipal-id}/appRoleAssignedTo`` ->
    ``/serviceprincipals/{id}/approleassignedto``; a quoted key (``(appId='{id}')``) as the
    table writes it (``(appid={value})``)."""
    return _PLACEHOLDER.sub("{id}", path).lower().rstrip("/") or "/"


class AmbiguousLeast(ValueError):
    """More than one permission is marked least privileged for the same method and path."""


@dataclass(frozen=True)
class PathGrant:
    """One permission covering some methods of one path, for some schemes."""

    permission: str
    path: str
    methods: frozenset[str]
    schemes: frozenset[str]
    least: frozenset[str]
    also_requires: tuple[str, ...]

    def alternatives(self) -> tuple[frozenset[str], ...]:
        """The sets of permissions that satisfy this row: alone, or with one it also requires."""
        if not self.also_requires:
            return (frozenset({self.permission}),)
        return tuple(frozenset({self.permission, other}) for other in self.also_requires)


def parse_flags(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """``least=DelegatedWork,Application;AlsoRequires=X,Y`` -> ({schemes}, (X, Y))."""
    least: frozenset[str] = frozenset()
    also: tuple[str, ...] = ()
    for part in text.split(";"):
        key, _, value = part.partition("=")
        items = tuple(v.strip() for v in value.split(",") if v.strip())
        if key.strip().lower() == "least":
            least = frozenset(items)
        elif key.strip().lower() == "alsorequires":
            also = items
    return least, also


class PermissionTable:
    """The rows of the permissions table, looked up by method and path."""

    def __init__(self, rows: list[PathGrant], descriptions: dict[str, str]) -> None:
        self.rows = rows
        #: Permission -> its Application scheme's admin description.
        self.descriptions = descriptions
        self._by_path: dict[str, list[PathGrant]] = {}
        for row in rows:
            self._by_path.setdefault(normalize_path(row.path), []).append(row)

    @classmethod
    def parse(cls, document: bytes) -> PermissionTable:
        """The table in a permissions.json document (Microsoft's whole file or an extract)."""
        data: dict[str, Any] = json.loads(document)
        rows: list[PathGrant] = []
        descriptions: dict[str, str] = {}
        for name, permission in data.get("permissions", {}).items():
            application = permission.get("schemes", {}).get(APPLICATION)
            if isinstance(application, dict):
                descriptions[name] = str(application.get("adminDescription", ""))
            for path_set in permission.get("pathSets", []):
                for path, flags in path_set.get("paths", {}).items():
                    least, also = parse_flags(str(flags))
                    rows.append(
                        PathGrant(
                            permission=name,
                            path=path,
                            methods=frozenset(m.upper() for m in path_set.get("methods", [])),
                            schemes=frozenset(path_set.get("schemeKeys", [])),
                            least=least,
                            also_requires=also,
                        )
                    )
        return cls(rows, descriptions)

    def rows_for(self, method: str, path: str, scheme: str = APPLICATION) -> list[PathGrant]:
        """Every row covering ``method`` on ``path`` for ``scheme``."""
        return [
            row
            for row in self._by_path.get(normalize_path(path), [])
            if method.upper() in row.methods and scheme in row.schemes
        ]

    def covering(self, method: str, path: str) -> tuple[frozenset[str], ...]:
        """The application permission sets that allow the call, as the table lists them."""
        found: list[frozenset[str]] = []
        for row in self.rows_for(method, path):
            for alternative in row.alternatives():
                if alternative not in found:
                    found.append(alternative)
        return tuple(found)

    def permissions_covering(self, method: str, path: str) -> frozenset[str]:
        """Every application permission that appears in a row for the call."""
        return frozenset(row.permission for row in self.rows_for(method, path))

    def least_privileged(self, method: str, path: str) -> frozenset[str] | None:
        """The least-privileged application permissions for the call (with what they also
        require, the first listed), or None when the table has no row marked least for it.

        A permission may be marked least on a path set that lists several methods (User.ReadWrite
        .All on ``GET, POST /users`` is the least for POST); when rows for only this method are
        marked too, those win. Raises AmbiguousLeast when that still leaves more than one
        combination.
        """
        marked = [row for row in self.rows_for(method, path) if APPLICATION in row.least]
        if not marked:
            return None
        specific = [row for row in marked if row.methods == {method.upper()}]
        chosen = specific or marked
        # Two rows that each require the other (AppRoleAssignment.ReadWrite.All and
        # Application.Read.All on POST .../approleassignedto) name the same combination.
        combinations = {row.alternatives()[0] for row in chosen}
        if len(combinations) > 1:
            names = sorted(sorted(c) for c in combinations)
            raise AmbiguousLeast(f"{method} {path}: {names} are all marked least privileged")
        return combinations.pop()
