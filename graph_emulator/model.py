"""The directory's objects (users, groups, service principals, assignments, invitations and
emails) and the clock that stamps them. Plain data: the rules live in ``tenant.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from membership_rules import Rule

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
#: The profile properties a user carries and `PATCH /users/{id}` sets (strings, or null): what
#: an HR system describes and dynamic membership rules read.
PROFILE_PROPERTIES = (
    "companyName",
    "department",
    "jobTitle",
    "employeeType",
    "employeeId",
    "officeLocation",
    "usageLocation",
    "city",
    "country",
)


def format_time(epoch_seconds: float) -> str:
    """Graph's DateTimeOffset text: UTC, whole seconds, `Z` suffix."""
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """Read an ISO 8601 time (a `Z` suffix allowed) as epoch seconds."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def lower(text: str) -> str:
    """``text`` in lower case, reusing the object when it already is (50,000 users, half the
    strings)."""
    lowered = text.lower()
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
        "account_enabled",
        "created_at",
        "creation_type",
        "display_name",
        "external_user_state",
        "id",
        "mail",
        "other_mails",
        "profile",
        "proxy_addresses",
        "seq",
        "sponsors",
        "state_changed_at",
        "user_principal_name",
        "user_type",
        "visible_at",
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
        account_enabled: bool = True,
        profile: dict[str, Any] | None = None,
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
        self.account_enabled = account_enabled
        # Sponsor object ids (users or groups), in the order they were added.
        self.sponsors: list[str] = []
        # Properties a seed or a PATCH set beyond the ones above (PROFILE_PROPERTIES and any
        # other writable one, Graph's names and JSON values); an absent one is unset.
        self.profile: dict[str, Any] = profile or {}
        # Emulator time before which look-ups (GET /users, GET /users/{id}) do not see the user.
        self.visible_at = 0.0

    def addresses(self) -> Iterator[str]:
        """Every address Graph matches this user by, lower-cased, `smtp:` prefixes removed."""
        if self.mail:
            yield lower(self.mail)
        yield lower(self.user_principal_name)
        for other in self.other_mails:
            yield lower(other)
        for proxy in self.proxy_addresses:
            yield lower(proxy.split(":", 1)[-1])


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
    # Dynamic groups (graph_emulator.dynamic_groups): groupTypes has "DynamicMembership", the
    # rule as written and parsed, and "On" or "Paused".
    group_types: tuple[str, ...] = ()
    membership_rule: str | None = None
    membership_rule_processing_state: str | None = None
    rule: Rule | None = field(default=None, compare=False, repr=False)

    @property
    def is_dynamic(self) -> bool:
        """Whether members come from a rule (groupTypes has DynamicMembership)."""
        return "DynamicMembership" in self.group_types


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
    #: "Application" for an app registration's, "ManagedIdentity" for a managed identity's.
    service_principal_type: str = "Application"
    #: A user-assigned managed identity's: ["isExplicit=True", its ARM resource id].
    alternative_names: list[str] = field(default_factory=list)


@dataclass
class Invitation:
    id: str
    user_id: str
    redirect_url: str


@dataclass
class DeletedUser:
    """A deleted user, restorable with the groups it was in."""

    user: User
    deleted_at: float
    group_ids: list[str]


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
