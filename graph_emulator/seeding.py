"""Build a tenant from a seed (the `--tenant` file, or the body of `POST /_control/reset`);
the format is in README.md."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

from graph_emulator.dynamic_groups import seeded_rule
from graph_emulator.invitation_policy import InvitationPolicy
from graph_emulator.model import (
    PROFILE_PROPERTIES,
    ZERO_GUID,
    Clock,
    Group,
    ServicePrincipal,
    User,
    parse_time,
)
from graph_emulator.tenant import Tenant

DEFAULT_PERMISSIONS = (
    "User.Invite.All",
    "User.Read.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Application.Read.All",
)
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


def seed_policy(seed: Mapping[str, Any]) -> InvitationPolicy:
    """The invitation policy a seed starts with: its ``tenant.blockedDomains`` denied."""
    blocked = seed.get("tenant", {}).get("blockedDomains", [])
    return InvitationPolicy.from_json({"deniedDomains": blocked})


def build_tenant(seed: Mapping[str, Any], clock: Clock) -> Tenant:
    """A tenant holding what ``seed`` describes; ValueError/KeyError/TypeError if it is bad."""
    tenant_part = seed.get("tenant", {})
    identity = seed.get("identity", {})
    tenant = Tenant(
        tenant_id=tenant_part.get("id", DEFAULT_SEED["tenant"]["id"]),
        domain=tenant_part.get("domain", DEFAULT_SEED["tenant"]["domain"]),
        client_id=identity.get("clientId", DEFAULT_SEED["identity"]["clientId"]),
        permissions=frozenset(identity.get("permissions", DEFAULT_PERMISSIONS)),
        clock=clock,
        policy=seed_policy(seed),
    )
    now = clock.now()
    seeded: list[tuple[User, list[str]]] = []
    for entry in seed.get("users", []):
        user = _seeded_user(tenant, entry, now)
        tenant.add_user(user)
        seeded.append((user, list(entry.get("sponsors", []))))
    generated = seed.get("generatedPendingGuests")
    specs = generated if isinstance(generated, list) else [generated] if generated else []
    for number, spec in enumerate(specs):
        _generate_pending_guests(tenant, spec, number, now)
    for entry in seed.get("groups", []):
        group_types, rule, processing_state = seeded_rule(entry)
        group = Group(
            id=entry["id"],
            display_name=entry.get("displayName", entry["id"]),
            description=entry.get("description"),
            is_assignable_to_role=bool(entry.get("isAssignableToRole", False)),
            created_at=now,
            mail_nickname=entry.get("mailNickname", entry["id"][:8]),
            group_types=group_types,
            membership_rule=rule.text if rule is not None else None,
            membership_rule_processing_state=processing_state,
            rule=rule,
        )
        for member in entry.get("members", []):
            group.members[_resolve_reference(tenant, member)] = None
        tenant.groups[group.id] = group
    for entry in seed.get("servicePrincipals", []):
        _add_service_principal(tenant, entry)
    for user, sponsors in seeded:
        user.sponsors = [_resolve_reference(tenant, sponsor) for sponsor in sponsors]
    return tenant


def _resolve_reference(tenant: Tenant, reference: str) -> str:
    if reference in tenant.users or reference in tenant.groups:
        return reference
    found = tenant.find_by_address(reference)
    if not found:
        raise ValueError(f"seed refers to unknown user {reference!r}")
    return found[0].id


def _seeded_user(tenant: Tenant, entry: Mapping[str, Any], now: float) -> User:
    mail = entry.get("mail")
    user_type = entry.get("userType", "Member")
    created = parse_time(entry["createdDateTime"]) if "createdDateTime" in entry else now
    if "userPrincipalName" in entry:
        upn = entry["userPrincipalName"]
    elif user_type == "Guest" and mail:
        upn = tenant.guest_upn(mail)
    elif mail:
        upn = f"{mail.split('@')[0]}@{tenant.domain}"
    else:
        raise ValueError("a seeded user needs mail or userPrincipalName")
    state = entry.get("externalUserState", "Accepted" if user_type == "Guest" else None)
    changed = entry.get("externalUserStateChangeDateTime")
    return User(
        id=entry.get("id") or str(uuid.uuid4()),
        seq=len(tenant.user_order),
        display_name=entry.get("displayName"),
        mail=mail,
        user_principal_name=upn,
        user_type=user_type,
        creation_type=entry.get("creationType", "Invitation" if user_type == "Guest" else None),
        external_user_state=state,
        state_changed_at=parse_time(changed) if changed else (created if state else None),
        created_at=created,
        other_mails=tuple(entry.get("otherMails", ())),
        proxy_addresses=tuple(entry.get("proxyAddresses", ())),
        account_enabled=bool(entry.get("accountEnabled", True)),
        profile={name: _profile_value(entry, name) for name in PROFILE_PROPERTIES if name in entry},
    )


def _profile_value(entry: Mapping[str, Any], name: str) -> str | None:
    value = entry[name]
    if value is not None and not isinstance(value, str):
        raise ValueError(f"a seeded user's {name} must be a string or null")
    return value


def _generate_pending_guests(
    tenant: Tenant, spec: Mapping[str, Any], number: int, now: float
) -> None:
    count = int(spec["count"])
    domain = spec.get("domain", "pending.example")
    prefix = spec.get("prefix", f"pending{number}-" if number else "pending")
    created = now - float(spec.get("createdDaysAgo", 0)) * 86400
    state = spec.get("externalUserState", "PendingAcceptance")
    # Seeded ids: the same seed gives the same tenant, which benchmarks can compare across runs.
    rng = random.Random(f"{prefix}@{domain}:{count}")
    for i in range(count):
        mail = f"{prefix}{i:06d}@{domain}"
        tenant.add_user(
            User(
                id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                seq=len(tenant.user_order),
                display_name=f"Pending Guest {i}",
                mail=mail,
                user_principal_name=tenant.guest_upn(mail),
                user_type="Guest",
                creation_type="Invitation",
                external_user_state=state,
                state_changed_at=created,
                created_at=created,
            )
        )


def _add_service_principal(tenant: Tenant, entry: Mapping[str, Any]) -> None:
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
        service_principal_type=entry.get("servicePrincipalType", "Application"),
        alternative_names=list(entry.get("alternativeNames", [])),
    )
    tenant.service_principals[sp.id] = sp
    for assignment in entry.get("assignments", []):
        tenant.assign_app_role(
            sp.id,
            _resolve_reference(tenant, assignment["principalId"]),
            assignment.get("appRoleId", ZERO_GUID),
            replication_check=False,
        )
