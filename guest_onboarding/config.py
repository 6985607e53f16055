"""Settings: the only module that reads the environment.

Every name here is part of the public contract (README, "Configuration"), and every one is set
by the Bicep templates in ``infra/`` (a contract test checks both directions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from guest_onboarding.domain.brake import MAX_THRESHOLD
from guest_onboarding.domain.invitation import AccessMode
from guest_onboarding.domain.offboarding import OffboardAction
from guest_onboarding.domain.policy import Policy
from guest_onboarding.domain.schedule import ExpiredGuestAction
from guest_onboarding.setting_values import (
    SettingsError,
    parse_access_profiles,
    parse_app_roles,
    parse_bool,
    parse_choice,
    parse_csv,
    parse_domains,
    parse_expired_action,
    parse_expiry_days,
    parse_guids,
    parse_int,
    parse_profile_fields,
    parse_rate,
    parse_redirects,
    parse_reminder_days,
)

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_REDIRECT_URL = "https://myapps.microsoft.com"

__all__ = [
    "SETTING_DEFAULTS",
    "STORAGE_SETTING",
    "Settings",
    "SettingsError",
    "StorageSettings",
]

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
    "EXPIRED_GUEST_ACTION": "none",
    "DELETE_GRACE_DAYS": "30",
    "SPONSOR_CC_FROM_REMINDER": "2",
    "ADD_SPONSORS_TO_EXISTING_USERS": "false",
    "ALLOW_MEMBERS": "false",
    "TENANT_STOP_PROBE_SECONDS": "600",
    "GRAPH_WRITES_PER_SECOND": "20",
    "GRAPH_READS_PER_SECOND": "100",
    "INVITATIONS_PER_MINUTE": "1",
    "GRAPH_BUDGET_TABLE": "graphbudget",
    "GRAPH_BUDGET_SHARED": "true",
    "OFFBOARD_ACTION": "disable",
    "OFFBOARD_THRESHOLD": "10",
    "ACCESS_MODE": "add",
    "SET_EMPLOYEE_LEAVE_DATE": "false",
    "GUEST_PROFILE_FIELDS": "",
    "DETECT_DYNAMIC_GROUPS": "true",
}

#: The storage connection: a connection string, or identity-based ``AzureWebJobsStorage__*``.
STORAGE_SETTING = "AzureWebJobsStorage"


#: Telemetry's platform settings (read by ``TelemetrySettings``; not app settings of this project:
#: the platform, Bicep's monitoring wiring or a developer's shell sets them).
APPINSIGHTS_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINT_SETTING = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_EXPORTER_SETTING = "OTEL_TRACES_EXPORTER"


@dataclass(frozen=True, kw_only=True)
class StorageSettings:
    """Where queues and the ledger live: a connection string or identity-based service URIs."""

    connection_string: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TelemetrySettings:
    """Where telemetry goes (``guest_onboarding.telemetry.configure``): Application Insights,
    an OTLP endpoint, the console (``OTEL_TRACES_EXPORTER=console``), or nowhere."""

    connection_string: str | None = None
    otlp_endpoint: str | None = None
    console: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelemetrySettings:
        env = os.environ if environ is None else environ
        return cls(
            connection_string=env.get(APPINSIGHTS_SETTING, "").strip() or None,
            otlp_endpoint=env.get(OTLP_ENDPOINT_SETTING, "").strip() or None,
            console=env.get(TRACES_EXPORTER_SETTING, "").strip().lower() == "console",
        )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting, typed. Built by :meth:`from_env` only: the defaults are
    :data:`SETTING_DEFAULTS`, and nowhere else."""

    graph_base_url: str
    azure_client_id: str | None
    invitations_queue: str
    assignments_queue: str
    #: The allow-lists (the one "policy" of the package).
    policy: Policy
    resend_schedule: str
    reminder_days: tuple[int, ...]
    pending_expiry_days: int
    expired_guest_action: ExpiredGuestAction
    delete_grace_days: int
    max_deletions_per_run: int
    resend_untracked: bool
    guest_ledger_table: str
    ledger_retention_days: int
    invite_replication_wait_seconds: int
    sponsor_cc_from_reminder: int
    add_sponsors_to_existing_users: bool
    #: Read the allow-listed groups at the first delivery and refuse the dynamic ones
    #: (``handlers.groups``; GroupMember.Read.All).
    detect_dynamic_groups: bool
    #: HR messages may onboard members of the tenant too (default: guests only).
    allow_members: bool
    tenant_stop_probe_seconds: int
    # The Graph budget every instance shares (README, "Scaling out").
    graph_writes_per_second: float
    graph_reads_per_second: float
    invitations_per_minute: float
    graph_budget_table: str
    graph_budget_shared: bool
    # Joiner, mover, leaver (README, "Joiner, mover, leaver").
    offboard_action: OffboardAction
    offboard_threshold: int
    access_mode: AccessMode
    set_employee_leave_date: bool
    storage: StorageSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); malformed values raise
        :class:`SettingsError` naming the setting."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            value = env.get(name, "").strip()
            return value if value else SETTING_DEFAULTS[name]

        reminder_days = parse_reminder_days(get("REMINDER_DAYS"))
        redirect = get("INVITE_REDIRECT_URL")
        allowed_redirects = parse_redirects(get("ALLOWED_REDIRECT_PREFIXES"), default=redirect)
        return cls(
            graph_base_url=get("GRAPH_BASE_URL").rstrip("/"),
            azure_client_id=get("AZURE_CLIENT_ID") or None,
            invitations_queue=get("INVITATIONS_QUEUE"),
            assignments_queue=get("ASSIGNMENTS_QUEUE"),
            policy=Policy(
                default_redirect_url=redirect,
                allowed_redirects=allowed_redirects,
                allowed_email_domains=parse_domains("ALLOWED_EMAIL_DOMAINS", get),
                blocked_email_domains=parse_domains("BLOCKED_EMAIL_DOMAINS", get),
                allowed_cc_domains=parse_domains("ALLOWED_CC_DOMAINS", get),
                access_profiles=parse_access_profiles(get("ACCESS_PROFILES")),
                allowed_group_ids=parse_guids(
                    "ALLOWED_GROUP_IDS", parse_csv(get("ALLOWED_GROUP_IDS"))
                ),
                allowed_app_roles=parse_app_roles(get("ALLOWED_APP_ROLES")),
                profile_fields=parse_profile_fields(get("GUEST_PROFILE_FIELDS")),
            ),
            resend_schedule=get("RESEND_SCHEDULE"),
            reminder_days=reminder_days,
            pending_expiry_days=parse_expiry_days(get("PENDING_EXPIRY_DAYS"), reminder_days),
            expired_guest_action=parse_expired_action(get),
            delete_grace_days=parse_int("DELETE_GRACE_DAYS", get("DELETE_GRACE_DAYS"), minimum=0),
            max_deletions_per_run=parse_int(
                "MAX_DELETIONS_PER_RUN", get("MAX_DELETIONS_PER_RUN"), minimum=0
            ),
            resend_untracked=parse_bool("RESEND_UNTRACKED", get("RESEND_UNTRACKED")),
            guest_ledger_table=get("GUEST_LEDGER_TABLE"),
            ledger_retention_days=parse_int(
                "LEDGER_RETENTION_DAYS", get("LEDGER_RETENTION_DAYS"), minimum=1
            ),
            invite_replication_wait_seconds=parse_int(
                "INVITE_REPLICATION_WAIT_SECONDS", get("INVITE_REPLICATION_WAIT_SECONDS"), minimum=1
            ),
            sponsor_cc_from_reminder=parse_int(
                "SPONSOR_CC_FROM_REMINDER", get("SPONSOR_CC_FROM_REMINDER"), minimum=0
            ),
            add_sponsors_to_existing_users=parse_bool(
                "ADD_SPONSORS_TO_EXISTING_USERS", get("ADD_SPONSORS_TO_EXISTING_USERS")
            ),
            detect_dynamic_groups=parse_bool("DETECT_DYNAMIC_GROUPS", get("DETECT_DYNAMIC_GROUPS")),
            allow_members=parse_bool("ALLOW_MEMBERS", get("ALLOW_MEMBERS")),
            tenant_stop_probe_seconds=parse_int(
                "TENANT_STOP_PROBE_SECONDS", get("TENANT_STOP_PROBE_SECONDS"), minimum=1
            ),
            graph_writes_per_second=parse_rate("GRAPH_WRITES_PER_SECOND", get),
            graph_reads_per_second=parse_rate("GRAPH_READS_PER_SECOND", get),
            invitations_per_minute=parse_rate("INVITATIONS_PER_MINUTE", get),
            graph_budget_table=get("GRAPH_BUDGET_TABLE"),
            graph_budget_shared=parse_bool("GRAPH_BUDGET_SHARED", get("GRAPH_BUDGET_SHARED")),
            offboard_action=parse_choice("OFFBOARD_ACTION", get("OFFBOARD_ACTION"), OffboardAction),
            offboard_threshold=_threshold(get("OFFBOARD_THRESHOLD")),
            access_mode=parse_choice("ACCESS_MODE", get("ACCESS_MODE"), AccessMode),
            set_employee_leave_date=parse_bool(
                "SET_EMPLOYEE_LEAVE_DATE", get("SET_EMPLOYEE_LEAVE_DATE")
            ),
            storage=_storage(env),
        )


def _threshold(value: str) -> int:
    threshold = parse_int("OFFBOARD_THRESHOLD", value, minimum=1)
    if threshold > MAX_THRESHOLD:
        raise SettingsError(f"OFFBOARD_THRESHOLD must be at most {MAX_THRESHOLD}, got {threshold}")
    return threshold


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
