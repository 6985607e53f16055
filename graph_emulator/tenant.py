"""The directory the emulator serves: users, groups, service principals, a mailbox and a clock.

Pure state and Graph's directory rules, no HTTP. Operations raise `GraphError` with the status,
code and message Graph uses, so the HTTP layer only translates.
"""

from __future__ import annotations

import base64
import random
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph_emulator.errors import (
    ASSIGNMENT_EXISTS_MESSAGE,
    MEMBER_EXISTS_MESSAGE,
    REFERENCED_OBJECT_MISSING,
    GraphError,
    bad_request,
    not_found,
)

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
DEFAULT_PERMISSIONS = (
    "User.Invite.All",
    "User.Read.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
)
# Graph refuses invitation addresses containing any of these characters.
FORBIDDEN_ADDRESS_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')

DEFAULT_SEED: dict[str, Any] = {
    "tenant": {
        "id": "aaaaaaaa-0000-4000-8000-000000000001",
        "domain": "contoso.onmicrosoft.com",
        "blockedDomains": [],
    },
    "identity": {
        "clientId": "bbbbbbbb-0000-4000-8000-000000000002",
        "permissions": list(DEFAULT_PERMISSIONS),
    },
    "users": [],
    "groups": [],
    "servicePrincipals": [],
}


def format_time(epoch_seconds: float) -> str:
    """Graph's DateTimeOffset text: UTC, whole seconds, `Z` suffix."""
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """Read an ISO 8601 time (a `Z` suffix allowed) as epoch seconds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _lower(text: str) -> str:
    lowered = text.lower()
    # Reuse the original object when it is already lower case: 50,000 users, half the strings.
    return text if lowered == text else lowered


class Clock:
    """Wall-clock time plus an offset tests can advance; stamps every time the tenant writes."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> float:
        """Emulator time as epoch seconds."""
        return time.time() + self.offset_seconds


class User:
    """A directory user. Slots keep 50,000 generated guests to a few tens of megabytes."""

    __slots__ = (
        "created_at",
        "creation_type",
        "display_name",
        "external_user_state",
        "id",
        "mail",
        "other_mails",
        "proxy_addresses",
        "seq",
        "state_changed_at",
        "user_principal_name",
        "user_type",
    )

    def __init__(
        self,
        *,
        id: str,
        seq: int,
        display_name: str | None,
        mail: str | None,
        user_principal_name: str,
        user_type: str,
        creation_type: str | None,
        external_user_state: str | None,
        state_changed_at: float | None,
        created_at: float,
        other_mails: tuple[str, ...] = (),
        proxy_addresses: tuple[str, ...] = (),
    ) -> None:
        self.id = id
        self.seq = seq
        self.display_name = display_name
        self.mail = mail
        self.user_principal_name = user_principal_name
        self.user_type = user_type
        self.creation_type = creation_type
        self.external_user_state = external_user_state
        self.state_changed_at = state_changed_at
        self.created_at = created_at
        self.other_mails = other_mails
        self.proxy_addresses = proxy_addresses

    def addresses(self) -> Iterator[str]:
        """Every address Graph matches this user by, lower-cased, `smtp:` prefixes removed."""
        if self.mail:
            yield _lower(self.mail)
        yield _lower(self.user_principal_name)
        for other in self.other_mails:
            yield _lower(other)
        for proxy in self.proxy_addresses:
            yield _lower(proxy.split(":", 1)[-1])


@dataclass
class Group:
    id: str
    display_name: str
    description: str | None
    is_assignable_to_role: bool
    created_at: float
    security_enabled: bool = True
    mail_enabled: bool = False
    mail_nickname: str = ""
    members: dict[str, None] = field(default_factory=dict)


@dataclass
class AppRoleAssignment:
    id: str
    app_role_id: str
    principal_id: str
    principal_type: str
    principal_display_name: str | None
    resource_id: str
    resource_display_name: str
    created_at: float


@dataclass
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str
    app_roles: list[dict[str, Any]]
    assignments: list[AppRoleAssignment] = field(default_factory=list)


@dataclass
class Invitation:
    id: str
    user_id: str
    redirect_url: str


@dataclass
class Mail:
    id: str
    to: str
    cc: list[str]
    redeem_url: str
    redirect_url: str
    message_body: str | None
    language: str | None
    time: float
    user_id: str
    invitation_id: str
    display_name: str | None

    def to_json(self) -> dict[str, Any]:
        """The mailbox entry as the control API returns it."""
        return {
            "id": self.id,
            "to": self.to,
            "cc": self.cc,
            "redeemUrl": self.redeem_url,
            "redirectUrl": self.redirect_url,
            "messageBody": self.message_body,
            "language": self.language,
            "time": format_time(self.time),
            "userId": self.user_id,
            "invitationId": self.invitation_id,
            "displayName": self.display_name,
        }


def _assignment_id() -> str:
    # Graph's assignment ids are 43-character base64url strings, not GUIDs.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


class Tenant:
    """One tenant's directory, built from a seed (see README.md for the format)."""

    def __init__(self, seed: Mapping[str, Any], clock: Clock) -> None:
        self.clock = clock
        tenant = seed.get("tenant", {})
        self.tenant_id: str = tenant.get("id", DEFAULT_SEED["tenant"]["id"])
        self.domain: str = tenant.get("domain", DEFAULT_SEED["tenant"]["domain"])
        self.blocked_domains = frozenset(_lower(d) for d in tenant.get("blockedDomains", []))
        identity = seed.get("identity", {})
        self.client_id: str = identity.get("clientId", DEFAULT_SEED["identity"]["clientId"])
        self.permissions = frozenset(identity.get("permissions", DEFAULT_PERMISSIONS))
        self.users: dict[str, User] = {}
        # Position == User.seq; deleted users leave None so page tokens stay valid.
        self.user_order: list[User | None] = []
        self.address_index: dict[str, list[User]] = {}
        self.groups: dict[str, Group] = {}
        self.service_principals: dict[str, ServicePrincipal] = {}
        self.assignments_by_principal: dict[str, list[AppRoleAssignment]] = {}
        self.invitations: dict[str, Invitation] = {}
        self.mailbox: list[Mail] = []
        # user id -> monotonic time before which replication-lagged calls do not see the user.
        self.replicating_until: dict[str, float] = {}
        self._load(seed)

    # ----- seeding -------------------------------------------------------------------------

    def _load(self, seed: Mapping[str, Any]) -> None:
        now = self.clock.now()
        for entry in seed.get("users", []):
            self._seed_user(entry, now)
        generated = seed.get("generatedPendingGuests")
        specs = generated if isinstance(generated, list) else [generated] if generated else []
        for number, spec in enumerate(specs):
            self._generate_pending_guests(spec, number, now)
        for entry in seed.get("groups", []):
            group = Group(
                id=entry["id"],
                display_name=entry.get("displayName", entry["id"]),
                description=entry.get("description"),
                is_assignable_to_role=bool(entry.get("isAssignableToRole", False)),
                created_at=now,
                mail_nickname=entry.get("mailNickname", entry["id"][:8]),
            )
            for member in entry.get("members", []):
                group.members[self._resolve_seed_reference(member)] = None
            self.groups[group.id] = group
        for entry in seed.get("servicePrincipals", []):
            sp = ServicePrincipal(
                id=entry["id"],
                app_id=entry.get("appId", str(uuid.uuid5(uuid.NAMESPACE_URL, entry["id"]))),
                display_name=entry.get("displayName", entry["id"]),
                app_roles=[
                    {
                        "id": role["id"],
                        "value": role.get("value"),
                        "displayName": role.get("displayName", role.get("value")),
                        "description": role.get("description", role.get("value")),
                        "allowedMemberTypes": role.get("allowedMemberTypes", ["User"]),
                        "isEnabled": role.get("isEnabled", True),
                        "origin": "Application",
                    }
                    for role in entry.get("appRoles", [])
                ],
            )
            self.service_principals[sp.id] = sp
            for assignment in entry.get("assignments", []):
                self.assign_app_role(
                    sp.id,
                    self._resolve_seed_reference(assignment["principalId"]),
                    assignment.get("appRoleId", ZERO_GUID),
                    replication_check=False,
                )

    def _resolve_seed_reference(self, reference: str) -> str:
        if reference in self.users or reference in self.groups:
            return reference
        found = self.find_by_address(reference)
        if not found:
            raise ValueError(f"seed refers to unknown user {reference!r}")
        return found[0].id

    def _seed_user(self, entry: Mapping[str, Any], now: float) -> None:
        mail = entry.get("mail")
        user_type = entry.get("userType", "Member")
        created = parse_time(entry["createdDateTime"]) if "createdDateTime" in entry else now
        if "userPrincipalName" in entry:
            upn = entry["userPrincipalName"]
        elif user_type == "Guest" and mail:
            upn = self.guest_upn(mail)
        elif mail:
            upn = f"{mail.split('@')[0]}@{self.domain}"
        else:
            raise ValueError("a seeded user needs mail or userPrincipalName")
        state = entry.get("externalUserState", "Accepted" if user_type == "Guest" else None)
        changed = entry.get("externalUserStateChangeDateTime")
        self._add_user(
            User(
                id=entry.get("id") or str(uuid.uuid4()),
                seq=len(self.user_order),
                display_name=entry.get("displayName"),
                mail=mail,
                user_principal_name=upn,
                user_type=user_type,
                creation_type=entry.get(
                    "creationType", "Invitation" if user_type == "Guest" else None
                ),
                external_user_state=state,
                state_changed_at=parse_time(changed) if changed else (created if state else None),
                created_at=created,
                other_mails=tuple(entry.get("otherMails", ())),
                proxy_addresses=tuple(entry.get("proxyAddresses", ())),
            )
        )

    def _generate_pending_guests(self, spec: Mapping[str, Any], number: int, now: float) -> None:
        count = int(spec["count"])
        domain = spec.get("domain", "pending.example")
        prefix = spec.get("prefix", f"pending{number}-" if number else "pending")
        created = now - float(spec.get("createdDaysAgo", 0)) * 86400
        state = spec.get("externalUserState", "PendingAcceptance")
        # Seeded ids: the same seed gives the same tenant, which benchmarks can compare across runs.
        rng = random.Random(f"{prefix}@{domain}:{count}")
        for i in range(count):
            mail = f"{prefix}{i:06d}@{domain}"
            self._add_user(
                User(
                    id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    seq=len(self.user_order),
                    display_name=f"Pending Guest {i}",
                    mail=mail,
                    user_principal_name=self.guest_upn(mail),
                    user_type="Guest",
                    creation_type="Invitation",
                    external_user_state=state,
                    state_changed_at=created,
                    created_at=created,
                )
            )

    def guest_upn(self, address: str) -> str:
        """The UPN Graph gives an invited guest: `a_b.example#EXT#@<tenant domain>`."""
        return f"{address.replace('@', '_')}#EXT#@{self.domain}"

    def _add_user(self, user: User) -> None:
        if user.id in self.users:
            raise ValueError(f"duplicate user id {user.id}")
        self.users[user.id] = user
        self.user_order.append(user)
        for address in set(user.addresses()):
            self.address_index.setdefault(address, []).append(user)

    # ----- lookups ---------------------------------------------------------------------------

    def find_by_address(self, address: str) -> list[User]:
        """Users whose mail, UPN, otherMails or proxyAddresses equal the address (any case)."""
        return list(self.address_index.get(address.lower(), ()))

    def get_user(self, id_or_upn: str) -> User:
        """The user by object id or UPN, or 404 as Graph answers."""
        user = self.users.get(id_or_upn)
        if user is None:
            for candidate in self.address_index.get(id_or_upn.lower(), ()):
                if candidate.user_principal_name.lower() == id_or_upn.lower():
                    return candidate
            raise not_found(id_or_upn)
        return user

    def get_group(self, group_id: str) -> Group:
        """The group, or 404."""
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(group_id)
        return group

    def get_service_principal(self, sp_id: str) -> ServicePrincipal:
        """The service principal, or 404."""
        sp = self.service_principals.get(sp_id)
        if sp is None:
            raise not_found(sp_id)
        return sp

    def is_replicating(self, object_id: str) -> bool:
        """True while a freshly invited user is still invisible to reference writes."""
        until = self.replicating_until.get(object_id)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self.replicating_until[object_id]
            return False
        return True

    # ----- invitations -----------------------------------------------------------------------

    def validate_address(self, address: str) -> None:
        """Refuse what Graph refuses: malformed addresses, forbidden characters, blocked domains."""
        local, _, domain = address.rpartition("@")
        if not local or not domain or "." not in domain or any(ch.isspace() for ch in address):
            raise bad_request(f"The specified email address '{address}' is not valid.")
        bad = sorted(set(address) & FORBIDDEN_ADDRESS_CHARACTERS)
        if bad:
            raise bad_request(
                f"The specified email address '{address}' contains characters that are not "
                f"allowed: {' '.join(bad)}"
            )
        if _lower(domain) in self.blocked_domains:
            raise bad_request(
                f"The invitation to '{address}' is blocked by the tenant's B2B collaboration "
                f"policy (external collaboration settings: domain '{domain}' is on the deny list)."
            )

    def invite(
        self,
        *,
        address: str,
        display_name: str | None,
        redirect_url: str,
        send_message: bool,
        message_body: str | None,
        language: str | None,
        cc: list[str],
        reset_redemption: bool,
        redeem_base_url: str,
        replication_lag_ms: int,
    ) -> tuple[Invitation, User, str]:
        """Invite (or re-invite) an address; returns the invitation, the user and the redeem URL.

        An existing user with the address is reused, so the same `invitedUser.id` comes back;
        a new guest is created pending acceptance. An email is recorded only when asked for.
        """
        now = self.clock.now()
        existing = self.find_by_address(address)
        if existing:
            user = existing[0]
            if reset_redemption and user.user_type == "Guest":
                user.external_user_state = "PendingAcceptance"
                user.state_changed_at = now
        else:
            user = User(
                id=str(uuid.uuid4()),
                seq=len(self.user_order),
                display_name=display_name or address.split("@")[0],
                mail=address,
                user_principal_name=self.guest_upn(address),
                user_type="Guest",
                creation_type="Invitation",
                external_user_state="PendingAcceptance",
                state_changed_at=now,
                created_at=now,
            )
            self._add_user(user)
            if replication_lag_ms > 0:
                self.replicating_until[user.id] = time.monotonic() + replication_lag_ms / 1000
        invitation = Invitation(id=str(uuid.uuid4()), user_id=user.id, redirect_url=redirect_url)
        self.invitations[invitation.id] = invitation
        redeem_url = f"{redeem_base_url}/redeem/{invitation.id}"
        if send_message:
            self.mailbox.append(
                Mail(
                    id=str(uuid.uuid4()),
                    to=address,
                    cc=cc,
                    redeem_url=redeem_url,
                    redirect_url=redirect_url,
                    message_body=message_body,
                    # Graph ignores the language when a customised body is given.
                    language=None if message_body else language,
                    time=now,
                    user_id=user.id,
                    invitation_id=invitation.id,
                    display_name=display_name,
                )
            )
        return invitation, user, redeem_url

    def redeem(self, user: User) -> None:
        """The guest accepted: state Accepted, change time = emulator now."""
        user.external_user_state = "Accepted"
        user.state_changed_at = self.clock.now()

    # ----- users -----------------------------------------------------------------------------

    def delete_user(self, user: User) -> None:
        """Remove the user from the directory, its groups and its app role assignments."""
        del self.users[user.id]
        self.user_order[user.seq] = None
        for address in set(user.addresses()):
            holders = self.address_index.get(address, [])
            if user in holders:
                holders.remove(user)
            if not holders:
                self.address_index.pop(address, None)
        for group in self.groups.values():
            group.members.pop(user.id, None)
        for assignment in self.assignments_by_principal.pop(user.id, []):
            sp = self.service_principals.get(assignment.resource_id)
            if sp is not None:
                sp.assignments.remove(assignment)
        self.replicating_until.pop(user.id, None)

    # ----- groups ----------------------------------------------------------------------------

    def directory_object_exists(self, object_id: str) -> bool:
        """Whether any user, group or service principal has this id."""
        return (
            object_id in self.users
            or object_id in self.groups
            or object_id in self.service_principals
        )

    def add_members(self, group: Group, member_ids: list[str], lag_status: int) -> None:
        """Add members all or nothing: one unknown or existing member refuses the whole request."""
        for member_id in member_ids:
            if not self.directory_object_exists(member_id):
                raise not_found(member_id)
            if self.is_replicating(member_id):
                raise replication_error(member_id, lag_status)
        if len(set(member_ids)) != len(member_ids) or any(m in group.members for m in member_ids):
            raise bad_request(MEMBER_EXISTS_MESSAGE, code="Request_BadRequest")
        for member_id in member_ids:
            group.members[member_id] = None

    # ----- app roles -------------------------------------------------------------------------

    def assign_app_role(
        self,
        resource_id: str,
        principal_id: str,
        app_role_id: str,
        *,
        replication_check: bool = True,
        lag_status: int = 404,
    ) -> AppRoleAssignment:
        """Grant a service principal's app role to a user or group (Graph's checks, in order)."""
        sp = self.get_service_principal(resource_id)
        principal: User | Group | None = self.users.get(principal_id) or self.groups.get(
            principal_id
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
            principal_type="User" if isinstance(principal, User) else "Group",
            principal_display_name=principal.display_name,
            resource_id=sp.id,
            resource_display_name=sp.display_name,
            created_at=self.clock.now(),
        )
        sp.assignments.append(assignment)
        self.assignments_by_principal.setdefault(principal_id, []).append(assignment)
        return assignment


def replication_error(object_id: str, status: int) -> GraphError:
    """What Graph answers when a reference names a user that has not replicated yet."""
    if status == 400:
        return bad_request(REFERENCED_OBJECT_MISSING, code="Request_BadRequest")
    return not_found(object_id)
