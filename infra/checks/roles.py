"""Role definition ids: every one the templates use is the built-in role its name says.

A wrong GUID in a role assignment deploys without complaint (it names some other role, or none,
and fails only when the app is refused at run time), so the templates keep each id in a
``roles`` variable keyed by the role's exact built-in name, and this check compares every pair
with Microsoft's list. Any other role-definition-shaped GUID literal in the templates is refused,
so an id cannot bypass the table.

Source of ``BUILT_IN_ROLES``: Microsoft, "Azure built-in roles"
(learn.microsoft.com/azure/role-based-access-control/built-in-roles), the Storage and Monitor
sections. The ids are the same in every tenant and cloud.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.checks.bicep_eval import Template

INFRA = Path("infra")

BUILT_IN_ROLES: dict[str, str] = {
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Message Processor": "8a0f0c08-91a1-4084-bc3d-661d67233fed",
    "Storage Queue Data Message Sender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Storage Table Data Reader": "76199698-9eea-4c19-bc75-cec21354c6b6",
}

#: GUIDs in the templates that are not role definitions (Microsoft Graph's well-known appId).
NOT_ROLES = frozenset({"00000003-0000-0000-c000-000000000000"})

_GUID = re.compile(
    r"'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})'"
)
_ROLE_ENTRY = re.compile(r"^\s*'(?P<name>[^']+)'\s*:\s*'(?P<id>[0-9a-fA-F-]{36})'\s*$")


def role_tables(root: Path) -> dict[Path, dict[str, str]]:
    """The ``roles`` variable of every template that has one (built-in name -> id)."""
    tables: dict[Path, dict[str, str]] = {}
    for path in sorted((root / INFRA).rglob("*.bicep")):
        template = Template.load(path)
        if "roles" in template.variables:
            value = template.variable_value("roles")
            if isinstance(value, dict):
                tables[path] = {str(k): str(v) for k, v in value.items()}
    return tables


def role_problems(root: Path) -> list[str]:
    problems: list[str] = []
    tables = role_tables(root)
    if not tables:
        problems.append("no `roles` table found in infra/")
    known_ids = {role_id.lower() for table in tables.values() for role_id in table.values()}
    for path, table in tables.items():
        where = path.relative_to(root)
        for name, role_id in table.items():
            expected = BUILT_IN_ROLES.get(name)
            if expected is None:
                problems.append(f"{where}: '{name}' is not a built-in role this check knows")
            elif role_id.lower() != expected:
                actual = [n for n, i in BUILT_IN_ROLES.items() if i == role_id.lower()]
                problems.append(
                    f"{where}: '{name}' is {expected}, not {role_id}"
                    + (f" (that is '{actual[0]}')" if actual else "")
                )
    for path in sorted((root / INFRA).rglob("*.bicep")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if _ROLE_ENTRY.match(line) and path in tables:
                continue
            for guid in _GUID.findall(line):
                if guid.lower() not in NOT_ROLES and guid.lower() not in known_ids:
                    problems.append(
                        f"{path.relative_to(root)}:{number}: GUID {guid} outside a `roles` table"
                    )
                elif guid.lower() in known_ids:
                    problems.append(
                        f"{path.relative_to(root)}:{number}: role id {guid} written out; "
                        "use roles['<built-in name>']"
                    )
    return problems
