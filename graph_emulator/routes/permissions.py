"""The application permissions each endpoint accepts (Graph's reference pages; see README)."""

from __future__ import annotations

from graph_emulator.calls import all_of, any_of

READ_USERS = any_of(
    "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"
)
INVITE = any_of("User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
# Enabling or disabling: User.EnableDisableAccount.All (with a read permission) is the least
# privileged; User.ReadWrite.All and Directory.ReadWrite.All carry both.
ENABLE_DISABLE_USERS = (
    *all_of(any_of("User.EnableDisableAccount.All"), any_of("User.Read.All", "Directory.Read.All")),
    *any_of("User.ReadWrite.All", "Directory.ReadWrite.All"),
)
# Any other user property ("Update user": application User.ReadWrite.All, Directory.ReadWrite.All).
WRITE_USERS = any_of("User.ReadWrite.All", "Directory.ReadWrite.All")
# Directory.ReadWrite.All does not allow deleting users.
DELETE_RESTORE_USERS = any_of("User.DeleteRestore.All", "User.ReadWrite.All")
WRITE_SPONSORS = any_of("User.ReadWrite.All", "Directory.ReadWrite.All")
WRITE_MEMBERS = any_of(
    "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"
)
READ_GROUPS = any_of(
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
READ_APPLICATIONS = any_of(
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
READ_ASSIGNMENTS = (
    *READ_APPLICATIONS,
    *any_of("AppRoleAssignment.ReadWrite.All"),
)
ASSIGN_APP_ROLES = all_of(any_of("AppRoleAssignment.ReadWrite.All"), READ_APPLICATIONS)
