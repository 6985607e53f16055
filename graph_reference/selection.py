"""What the extracts keep of Microsoft's files: the types and paths this project touches.

The app's calls (infra/checks/graph_permissions.py ``GRAPH_CALLS``, phase-B rows included) and
every route of the emulator (graph_emulator/routes) must stay inside this selection;
tests/graph_reference/test_selection.py checks both, so adding a call that needs more fails there
first and names what to add here before ``python -m graph_reference.refresh`` is run again.
"""

from __future__ import annotations

#: Entity types kept whole: every structural and navigation property they declare. Their base
#: types come along, and so do the complex and enum types their structural properties use
#: (recursively); navigation properties keep their declaration, not their target type.
ENTITY_TYPES: tuple[str, ...] = (
    "microsoft.graph.entity",
    "microsoft.graph.directoryObject",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "microsoft.graph.invitation",
    "microsoft.graph.servicePrincipal",
    "microsoft.graph.appRoleAssignment",
    "microsoft.graph.directory",
)

#: Bound actions kept, as (binding type, action name).
ACTIONS: tuple[tuple[str, str], ...] = (
    ("microsoft.graph.user", "revokeSignInSessions"),
    ("microsoft.graph.directoryObject", "restore"),
)

#: Paths whose permission rows are kept (compared case-insensitively, ``{...}`` read as
#: ``{id}``). ``$ref`` paths are absent from Microsoft's table; their rows are the paths without
#: ``/$ref`` (``/groups/{id}/members/{id}``) where the table has them.
PATHS: tuple[str, ...] = (
    "/invitations",
    "/users",
    "/users/{id}",
    "/users/{id}/sponsors",
    "/users/{id}/sponsors/{id}",
    "/users/{id}/appRoleAssignments",
    "/users/{id}/revokeSignInSessions",
    "/directory/deletedItems/{id}/restore",
    "/groups",
    "/groups/{id}",
    "/groups/{id}/members",
    "/groups/{id}/members/{id}",
    "/servicePrincipals/{id}",
    "/servicePrincipals(appId={id})",
    "/servicePrincipals/{id}/appRoleAssignments",
    "/servicePrincipals/{id}/appRoleAssignedTo",
    "/servicePrincipals/{id}/appRoleAssignedTo/{id}",
)
