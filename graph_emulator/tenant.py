"""The directory the emulator serves and Graph's rules over it, with no HTTP.

Operations raise `GraphError` with the status, code and message Graph uses, so the HTTP layer
only translates. ``seeding.build_tenant`` fills a tenant from a seed.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from graph_emulator.errors import (
    ASSIGNMENT_EXISTS_MESSAGE,
    REFERENCED_OBJECT_MISSING,
    GraphError,
    bad_request,
    not_found,
    references_exist,
)
from graph_emulator.invitation_policy import InvitationPolicy
from graph_emulator.model import (
    ZERO_GUID,
    AppRoleAssignment,
    Clock,
    DeletedUser,
    Group,
    Invitation,
    Mail,
    ServicePrincipal,
    User,
    format_time,
)

#: Sponsors per user (invitedUserSponsors and sponsors/$ref alike).
MAX_SPONSORS = 5


def _assignment_id() -> str:
    # Graph's assignment ids are 43-character base64url strings, not GUIDs.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def replication_error(object_id: str, status: int) -> GraphError:
    """What Graph answers when a reference names a user that has not replicated yet."""
    if status == 400:
        return bad_request(REFERENCED_OBJECT_MISSING, code="Request_BadRequest")
    return not_found(object_id)


class Tenant:
    """One tenant's directory."""

    def __init__(
        self,
        *,
        tenant_id: str,
        domain: str,
        client_id: str,
        permissions: frozenset[str],
        clock: Clock,
        policy: InvitationPolicy,
    ) -> None:
        self.clock = clock
        self.tenant_id = tenant_id
        self.domain = domain
        self.client_id = client_id
        self.permissions = permissions
        self.policy = policy
        self.users: dict[str, User] = {}
        # Position == User.seq; deleted users leave None so page tokens stay valid.
        self.user_order: list[User | None] = []
        self.address_index: dict[str, list[User]] = {}
        self.groups: dict[str, Group] = {}
        self.service_principals: dict[str, ServicePrincipal] = {}
        self.assignments_by_principal: dict[str, list[AppRoleAssignment]] = {}
        self.invitations: dict[str, Invitation] = {}
        self.deleted_users: dict[str, DeletedUser] = {}
        self.mailbox: list[Mail] = []
        # user id -> monotonic time before which replication-lagged calls do not see the user.
        self.replicating_until: dict[str, float] = {}
        # Told of every user created or changed (graph_emulator.dynamic_groups listens).
        self.on_user_changed: Callable[[User], None] = _nobody_listens

    # ----- users -----------------------------------------------------------------------------

    def guest_upn(self, address: str) -> str:
        """The UPN Graph gives an invited guest: `a_b.example#EXT#@<tenant domain>`."""
        return f"{address.replace('@', '_')}#EXT#@{self.domain}"

    def add_user(self, user: User) -> None:
        """Put a user in the directory (its ``seq`` must be the next position)."""
        if user.id in self.users:
            raise ValueError(f"duplicate user id {user.id}")
        self.users[user.id] = user
        if user.seq == len(self.user_order):
            self.user_order.append(user)
        else:
            self.user_order[user.seq] = user
        for address in set(user.addresses()):
            self.address_index.setdefault(address, []).append(user)
        self.on_user_changed(user)

    def find_by_address(self, address: str) -> list[User]:
        """Users whose mail, UPN, otherMails or proxyAddresses equal the address (any case)."""
        return list(self.address_index.get(address.lower(), ()))

    def visible(self, user: User) -> bool:
        """Whether look-ups see the user yet (an invited user may lag behind its creation)."""
        return user.visible_at <= self.clock.now()

    def get_user(self, id_or_upn: str) -> User:
        """The user by object id or UPN, or 404 as Graph answers."""
        user = self.users.get(id_or_upn)
        if user is None:
            for candidate in self.address_index.get(id_or_upn.lower(), ()):
                if candidate.user_principal_name.lower() == id_or_upn.lower():
                    return candidate
            raise not_found(id_or_upn)
        return user

    def look_up_user(self, id_or_upn: str) -> User:
        """``get_user`` as ``GET /users/{id}`` sees it: 404 while the user is not visible."""
        user = self.get_user(id_or_upn)
        if not self.visible(user):
            raise not_found(id_or_upn)
        return user

    def update_user(
        self,
        user: User,
        *,
        account_enabled: bool | None = None,
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        """Enable or disable sign-in and set profile properties (None clears one)."""
        if account_enabled is not None:
            user.account_enabled = account_enabled
        for name, value in (profile or {}).items():
            user.profile[name] = value
        self.on_user_changed(user)

    def revoke_sessions(self, user: User) -> None:
        """Sessions issued before now no longer count (Graph's read-only
        ``signInSessionsValidFromDateTime``)."""
        user.profile["signInSessionsValidFromDateTime"] = format_time(self.clock.now())

    def delete_user(self, user: User) -> None:
        """Move the user to deleted items: out of the directory and its groups; its app role
        assignments are removed."""
        group_ids = [g.id for g in self.groups.values() if user.id in g.members]
        self.deleted_users[user.id] = DeletedUser(user, self.clock.now(), group_ids)
        del self.users[user.id]
        self.user_order[user.seq] = None
        for address in set(user.addresses()):
            holders = self.address_index.get(address, [])
            if user in holders:
                holders.remove(user)
            if not holders:
                self.address_index.pop(address, None)
        for group_id in group_ids:
            self.groups[group_id].members.pop(user.id, None)
        for assignment in self.assignments_by_principal.pop(user.id, []):
            sp = self.service_principals.get(assignment.resource_id)
            if sp is not None:
                sp.assignments.remove(assignment)
        self.replicating_until.pop(user.id, None)

    def restore_user(self, object_id: str) -> User:
        """Bring a deleted user back, with the assigned groups it was in (still existing; its
        dynamic groups take it back when their rules process it), or 404."""
        deleted = self.deleted_users.pop(object_id, None)
        if deleted is None:
            raise not_found(object_id)
        self.add_user(deleted.user)
        for group_id in deleted.group_ids:
            group = self.groups.get(group_id)
            # A dynamic group takes the user back when its rule is processed, not here.
            if group is not None and not group.is_dynamic:
                group.members[object_id] = None
        return deleted.user

    # ----- invitations (graph_emulator.inviting creates them) -----------------------------

    def redeem(self, user: User) -> None:
        """The guest accepted: state Accepted, change time = emulator now."""
        user.external_user_state = "Accepted"
        user.state_changed_at = self.clock.now()

    # ----- sponsors --------------------------------------------------------------------------

    def check_sponsor(self, object_id: str) -> None:
        """404 unless a user or group has this id."""
        if object_id not in self.users and object_id not in self.groups:
            raise not_found(object_id)

    def add_sponsor(self, user: User, sponsor_id: str) -> None:
        """Add a user or group as the user's sponsor; an existing one is refused like an
        existing member."""
        self.check_sponsor(sponsor_id)
        if sponsor_id in user.sponsors:
            raise references_exist("sponsors")
        if len(user.sponsors) >= MAX_SPONSORS:
            raise too_many_sponsors()
        user.sponsors.append(sponsor_id)

    # ----- groups ----------------------------------------------------------------------------

    def get_group(self, group_id: str) -> Group:
        """The group, or 404."""
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(group_id)
        return group

    def directory_object_exists(self, object_id: str) -> bool:
        """Whether any user, group or service principal has this id."""
        return (
            object_id in self.users
            or object_id in self.groups
            or object_id in self.service_principals
        )

    def is_replicating(self, object_id: str) -> bool:
        """True while a freshly invited user is still invisible to reference writes."""
        until = self.replicating_until.get(object_id)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self.replicating_until[object_id]
            return False
        return True

    def add_member(self, group: Group, member_id: str, lag_status: int) -> None:
        """Add one member; an unknown, not yet replicated or existing member is refused."""
        if not self.directory_object_exists(member_id):
            raise not_found(member_id)
        if self.is_replicating(member_id):
            raise replication_error(member_id, lag_status)
        if member_id in group.members:
            raise references_exist("members")
        group.members[member_id] = None

    def remove_member(self, group: Group, member_id: str) -> None:
        """Remove one member; 404 when the object is not a member (or does not exist)."""
        if member_id not in group.members:
            raise not_found(member_id)
        del group.members[member_id]

    # ----- app roles -------------------------------------------------------------------------

    def get_service_principal(self, sp_id: str) -> ServicePrincipal:
        """The service principal, or 404."""
        sp = self.service_principals.get(sp_id)
        if sp is None:
            raise not_found(sp_id)
        return sp

    def get_service_principal_by_app_id(self, app_id: str) -> ServicePrincipal:
        """The service principal of this application, or 404."""
        for sp in self.service_principals.values():
            if sp.app_id == app_id:
                return sp
        raise not_found(app_id)

    def assign_app_role(
        self,
        resource_id: str,
        principal_id: str,
        app_role_id: str,
        *,
        replication_check: bool = True,
        lag_status: int = 404,
    ) -> AppRoleAssignment:
        """Grant a service principal's app role to a user, group or service principal (a managed
        identity's application permissions), with Graph's checks, in order."""
        sp = self.get_service_principal(resource_id)
        principal: User | Group | ServicePrincipal | None = (
            self.users.get(principal_id)
            or self.groups.get(principal_id)
            or self.service_principals.get(principal_id)
        )
        if principal is None:
            raise not_found(principal_id)
        if replication_check and self.is_replicating(principal_id):
            raise replication_error(principal_id, lag_status)
        role_ids = {role["id"] for role in sp.app_roles}
        if app_role_id not in role_ids and not (app_role_id == ZERO_GUID and not sp.app_roles):
            raise bad_request(
                f"Permission being assigned was not found on application '{sp.app_id}'",
                code="Request_BadRequest",
            )
        for assignment in self.assignments_by_principal.get(principal_id, []):
            if assignment.resource_id == sp.id and assignment.app_role_id == app_role_id:
                raise bad_request(ASSIGNMENT_EXISTS_MESSAGE, code="Request_BadRequest")
        assignment = AppRoleAssignment(
            id=_assignment_id(),
            app_role_id=app_role_id,
            principal_id=principal_id,
            principal_type=type(principal).__name__,
            principal_display_name=principal.display_name,
            resource_id=sp.id,
            resource_display_name=sp.display_name,
            created_at=self.clock.now(),
        )
        sp.assignments.append(assignment)
        self.assignments_by_principal.setdefault(principal_id, []).append(assignment)
        return assignment

    def remove_app_role_assignment(self, sp: ServicePrincipal, assignment_id: str) -> None:
        """Delete one of the service principal's assignments; 404 for an id it does not hold."""
        found = next((a for a in sp.assignments if a.id == assignment_id), None)
        if found is None:
            raise not_found(assignment_id)
        sp.assignments.remove(found)
        held = self.assignments_by_principal.get(found.principal_id, [])
        if found in held:
            held.remove(found)


def _nobody_listens(user: User) -> None:
    """The default listener for user changes."""


def too_many_sponsors() -> GraphError:
    """400 for a sixth sponsor (wording unconfirmed)."""
    return bad_request(
        f"A user can have at most {MAX_SPONSORS} sponsors.", code="Request_BadRequest"
    )
