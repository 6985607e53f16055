"""The application permissions each endpoint accepts: those Microsoft's permissions table
(graph_reference/data/permissions.json) lists for the method and path, or, for ``$ref`` paths and
property-specific permissions, the Graph reference page (infra/checks/graph_permissions.py cites
each). tests/emulator/test_route_permissions.py holds every route to that."""

from __future__ import annotations

from graph_emulator.calls import all_of, any_of

READ_USERS = any_of(
    "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"
)
# GET /users/{id}/sponsors: the permissions table lists user permissions only.
READ_SPONSORS = any_of("User.Read.All", "User.ReadWrite.All")
INVITE = any_of("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
# Enabling or disabling: User.EnableDisableAccount.All (with a read permission) is the least
# privileged; User.ReadWrite.All and Directory.ReadWrite.All carry both.
ENABLE_DISABLE_USERS = (
    *all_of(any_of("User.EnableDisableAccount.All"), any_of("User.Read.All", "Directory.Read.All")),
    *any_of("User.ReadWrite.All", "Directory.ReadWrite.All"),
)
# employeeLeaveDateTime: User-LifeCycleInfo.ReadWrite.All with User.Read.All, nothing higher
# ("Set employeeLeaveDateTime", Graph's lifecycle workflows tutorial).
UPDATE_LIFECYCLE = all_of(any_of("User-LifeCycleInfo.ReadWrite.All"), any_of("User.Read.All"))
# Any other writable property ("Update user").
UPDATE_PROFILE = any_of("User.ReadWrite.All", "Directory.ReadWrite.All")
# The route admits any of them; the handler checks what the body's properties need.
UPDATE_USERS = (*ENABLE_DISABLE_USERS, *UPDATE_LIFECYCLE)
# Directory.ReadWrite.All does not allow deleting users.
DELETE_RESTORE_USERS = any_of("User.DeleteRestore.All", "User.ReadWrite.All")
WRITE_SPONSORS = any_of("User.ReadWrite.All", "Directory.ReadWrite.All")
WRITE_MEMBERS = any_of(
    "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"
)
# GET /groups/{id}: Microsoft's permissions table and the "Get group" page list group reads
# (GroupMember.Read.All least), not GroupMember.ReadWrite.All, which lists members instead.
READ_GROUP = any_of(
    "GroupMember.Read.All",
    "Group.ReadBasic.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
# GET /groups: the "List groups" page's application permissions (GroupMember.Read.All least;
# Microsoft's table marks both Group.ReadBasic.All and Group-NestingSupport.ReadWrite.All least
# for the path, infra/checks/graph_permissions.py LIST_GROUPS says which one a reader of
# groupTypes and membershipRule needs).
LIST_GROUPS = any_of(
    "GroupMember.Read.All",
    "Group.ReadBasic.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
READ_MEMBERS = any_of(
    "GroupMember.ReadBasic.All",
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadBasic.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
)
READ_APPLICATIONS = any_of(
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
# GET /servicePrincipals/{id}/appRoleAssignedTo: the table's application reads.
READ_ASSIGNED_TO = READ_APPLICATIONS
# GET /users/{id}/appRoleAssignments: the table lists AppRoleAssignment.ReadWrite.All and
# Directory.Read.All only.
READ_USER_ASSIGNMENTS = any_of("AppRoleAssignment.ReadWrite.All", "Directory.Read.All")
ASSIGN_APP_ROLES = all_of(any_of("AppRoleAssignment.ReadWrite.All"), READ_APPLICATIONS)
# DELETE /servicePrincipals/{id}/appRoleAssignedTo/{id}: the table lists these two, and marks
# AppRoleAssignment.ReadWrite.All least (no Application.Read.All beside it, unlike the POST).
REMOVE_APP_ROLE_ASSIGNMENTS = any_of("AppRoleAssignment.ReadWrite.All", "Application.ReadWrite.All")
# POST /users/{id}/revokeSignInSessions: the table's application permissions (the agent ID
# permissions apply to agent users only, which the emulator does not have).
REVOKE_SESSIONS = any_of("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
