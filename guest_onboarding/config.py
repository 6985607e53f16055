"""Settings: the only module that reads the environment.

Every name here is part of the public contract (README, "Configuration"), and every one is set
by the Bicep templates in ``infra/`` (a contract test checks both directions).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from guest_onboarding.domain.addresses import DomainError, canonical_domain
from guest_onboarding.domain.invitation import AppRoleRef
from guest_onboarding.domain.policy import AccessProfile, Policy
from guest_onboarding.domain.redirects import RedirectAllowList, RedirectError, parse_url

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_REDIRECT_URL = "https://myapps.microsoft.com"

#: Every setting the code reads, with its default ("" = none). The infra contract test reads this.
SETTING_DEFAULTS: dict[str, str] = {
    "GRAPH_BASE_URL": DEFAULT_GRAPH_BASE_URL,
    "AZURE_CLIENT_ID": "",
    "INVITATIONS_QUEUE": "guest-invitations",
    "ASSIGNMENTS_QUEUE": "guest-assignments",
    "INVITE_REDIRECT_URL": DEFAULT_REDIRECT_URL,
    "ALLOWED_REDIRECT_PREFIXES": "",
    "ALLOWED_EMAIL_DOMAINS": "",
    "BLOCKED_EMAIL_DOMAINS": "",
    "ACCESS_PROFILES": "{}",
    "ALLOWED_GROUP_IDS": "",
    "ALLOWED_APP_ROLES": "",
    "RESEND_SCHEDULE": "0 0 8 * * *",
    "REMINDER_DAYS": "3,7,14",
    "PENDING_EXPIRY_DAYS": "30",
    "DELETE_EXPIRED_GUESTS": "false",
    "MAX_DELETIONS_PER_RUN": "100",
    "RESEND_UNTRACKED": "false",
    "GUEST_LEDGER_TABLE": "guestledger",
    "ALLOWED_CC_DOMAINS": "",
    "LEDGER_RETENTION_DAYS": "365",
    "INVITE_REPLICATION_WAIT_SECONDS": "600",
    "GRAPH_WRITES_PER_SECOND": "20",
    "GRAPH_READS_PER_SECOND": "100",
    "INVITATIONS_PER_MINUTE": "1",
    "GRAPH_BUDGET_TABLE": "graphbudget",
    "GRAPH_BUDGET_SHARED": "true",
}

#: The storage connection: a connection string, or identity-based ``AzureWebJobsStorage__*``.
STORAGE_SETTING = "AzureWebJobsStorage"


class SettingsError(ValueError):
    """A setting is present but malformed; raised at start-up, naming the setting."""


@dataclass(frozen=True, kw_only=True)
class StorageSettings:
    """Where queues and the ledger live: a connection string or identity-based service URIs."""

    connection_string: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    azure_client_id: str | None = None
    invitations_queue: str = "guest-invitations"
    assignments_queue: str = "guest-assignments"
    policy: Policy = field(
        default_factory=lambda: Policy(
            default_redirect_url=DEFAULT_REDIRECT_URL,
            allowed_redirects=RedirectAllowList.parse((DEFAULT_REDIRECT_URL,)),
        )
    )
    resend_schedule: str = "0 0 8 * * *"
    reminder_days: tuple[int, ...] = (3, 7, 14)
    pending_expiry_days: int = 30
    delete_expired_guests: bool = False
    max_deletions_per_run: int = 100
    resend_untracked: bool = False
    guest_ledger_table: str = "guestledger"
    ledger_retention_days: int = 365
    invite_replication_wait_seconds: int = 600
    # The Graph budget every instance shares (README, "Scaling out").
    graph_writes_per_second: float = 20.0
    graph_reads_per_second: float = 100.0
    invitations_per_minute: float = 1.0
    graph_budget_table: str = "graphbudget"
    graph_budget_shared: bool = True
    storage: StorageSettings = field(default_factory=StorageSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); malformed values raise
        :class:`SettingsError` naming the setting."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            value = env.get(name, "").strip()
            return value if value else SETTING_DEFAULTS[name]

        redirect = get("INVITE_REDIRECT_URL")
        allowed_redirects = _redirects(get("ALLOWED_REDIRECT_PREFIXES"), default=redirect)
        return cls(
            graph_base_url=get("GRAPH_BASE_URL").rstrip("/"),
            azure_client_id=get("AZURE_CLIENT_ID") or None,
            invitations_queue=get("INVITATIONS_QUEUE"),
            assignments_queue=get("ASSIGNMENTS_QUEUE"),
            policy=Policy(
                default_redirect_url=redirect,
                allowed_redirects=allowed_redirects,
                allowed_email_domains=_domains("ALLOWED_EMAIL_DOMAINS", get),
                blocked_email_domains=_domains("BLOCKED_EMAIL_DOMAINS", get),
                allowed_cc_domains=_domains("ALLOWED_CC_DOMAINS", get),
                access_profiles=_access_profiles(get("ACCESS_PROFILES")),
                allowed_group_ids=_guids("ALLOWED_GROUP_IDS", _csv(get("ALLOWED_GROUP_IDS"))),
                allowed_app_roles=_app_roles(get("ALLOWED_APP_ROLES")),
            ),
            resend_schedule=get("RESEND_SCHEDULE"),
            reminder_days=_reminder_days(get("REMINDER_DAYS")),
            pending_expiry_days=_int("PENDING_EXPIRY_DAYS", get("PENDING_EXPIRY_DAYS"), minimum=0),
            delete_expired_guests=_bool("DELETE_EXPIRED_GUESTS", get("DELETE_EXPIRED_GUESTS")),
            max_deletions_per_run=_int(
                "MAX_DELETIONS_PER_RUN", get("MAX_DELETIONS_PER_RUN"), minimum=0
            ),
            resend_untracked=_bool("RESEND_UNTRACKED", get("RESEND_UNTRACKED")),
            guest_ledger_table=get("GUEST_LEDGER_TABLE"),
            ledger_retention_days=_int(
                "LEDGER_RETENTION_DAYS", get("LEDGER_RETENTION_DAYS"), minimum=1
            ),
            invite_replication_wait_seconds=_int(
                "INVITE_REPLICATION_WAIT_SECONDS", get("INVITE_REPLICATION_WAIT_SECONDS"), minimum=1
            ),
            graph_writes_per_second=_rate("GRAPH_WRITES_PER_SECOND", get),
            graph_reads_per_second=_rate("GRAPH_READS_PER_SECOND", get),
            invitations_per_minute=_rate("INVITATIONS_PER_MINUTE", get),
            graph_budget_table=get("GRAPH_BUDGET_TABLE"),
            graph_budget_shared=_bool("GRAPH_BUDGET_SHARED", get("GRAPH_BUDGET_SHARED")),
            storage=_storage(env),
        )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _domains(name: str, get: Callable[[str], str]) -> frozenset[str]:
    try:
        return frozenset(canonical_domain(d) for d in _csv(get(name)))
    except DomainError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _redirects(value: str, *, default: str) -> RedirectAllowList:
    try:
        allowed = RedirectAllowList.parse(_csv(value) or (default,))
    except RedirectError as exc:
        raise SettingsError(f"ALLOWED_REDIRECT_PREFIXES: {exc}") from None
    try:
        covered = allowed.allows(parse_url(default))
    except RedirectError as exc:
        raise SettingsError(f"INVITE_REDIRECT_URL: {exc}") from None
    if not covered:
        raise SettingsError(
            "INVITE_REDIRECT_URL is not under any of ALLOWED_REDIRECT_PREFIXES: every message "
            "without its own redirectUrl would be refused"
        )
    return allowed


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _guids(name: str, values: Iterable[str]) -> frozenset[str]:
    lowered = frozenset(v.lower() for v in values)
    bad = sorted(v for v in lowered if not _GUID.match(v))
    if bad:
        raise SettingsError(f"{name} must hold object ids (GUIDs), got {bad[0]!r}")
    return lowered


def _app_roles(value: str) -> frozenset[str]:
    roles = set()
    for entry in _csv(value):
        resource, _, role = entry.partition(":")
        _guids("ALLOWED_APP_ROLES", (resource, role))
        roles.add(f"{resource.lower()}:{role.lower()}")
    return frozenset(roles)


def _int(name: str, value: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {number}")
    return number


def _rate(name: str, get: Callable[[str], str]) -> float:
    value = get(name)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise SettingsError(f"{name} must be above 0, got {value!r}")
    return number


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _reminder_days(value: str) -> tuple[int, ...]:
    days = tuple(_int("REMINDER_DAYS", part, minimum=1) for part in _csv(value))
    if list(days) != sorted(set(days)):
        raise SettingsError(f"REMINDER_DAYS must be strictly increasing, got {value!r}")
    return days


def _access_profiles(value: str) -> dict[str, AccessProfile]:
    try:
        raw = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"ACCESS_PROFILES is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError("ACCESS_PROFILES must be a JSON object of profiles")
    profiles: dict[str, AccessProfile] = {}
    for name, body in raw.items():
        where = f"ACCESS_PROFILES[{name!r}]"
        if not isinstance(body, dict) or set(body) - {"groups", "appRoles"}:
            raise SettingsError(f"{where} must be an object with 'groups' and 'appRoles' only")
        try:
            groups = [str(g).lower() for g in body.get("groups", [])]
            roles = [
                AppRoleRef(
                    resource_id=str(r["resourceId"]).lower(),
                    app_role_id=str(r["appRoleId"]).lower(),
                )
                for r in body.get("appRoles", [])
            ]
        except (KeyError, TypeError):
            raise SettingsError(f"{where}.appRoles entries need resourceId and appRoleId") from None
        _guids(f"{where}.groups", groups)
        _guids(f"{where}.appRoles", [i for r in roles for i in (r.resource_id, r.app_role_id)])
        profiles[name] = AccessProfile(groups=tuple(groups), app_roles=tuple(roles))
    return profiles


def _storage(env: Mapping[str, str]) -> StorageSettings:
    connection = env.get(STORAGE_SETTING, "").strip()
    if connection:
        return StorageSettings(connection_string=connection)
    prefix = STORAGE_SETTING + "__"
    account = env.get(prefix + "accountName", "").strip()
    queue_uri = env.get(prefix + "queueServiceUri", "").strip()
    table_uri = env.get(prefix + "tableServiceUri", "").strip()
    if account:
        queue_uri = queue_uri or f"https://{account}.queue.core.windows.net"
        table_uri = table_uri or f"https://{account}.table.core.windows.net"
    return StorageSettings(
        queue_service_uri=queue_uri or None,
        table_service_uri=table_uri or None,
        client_id=env.get(prefix + "clientId", "").strip() or None,
    )
