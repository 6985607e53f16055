"""The composition root: builds the real adapters from settings (``build_runtime``; the
entrypoints call it once per process, at the first invocation).

Tests build a :class:`Runtime` with fakes (or with real adapters pointed at Azurite and the
Graph emulator) and pass it to the entrypoints instead.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from guest_onboarding.config import Settings
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.policy import Policy
from guest_onboarding.handlers.gate import InvitationGate
from guest_onboarding.handlers.groups import DynamicGroupCheck
from guest_onboarding.handlers.lifecycle import Lifecycle
from guest_onboarding.handlers.offboard import Offboarding, OffboardSettings
from guest_onboarding.handlers.sweep import SweepSettings
from guest_onboarding.internal_messages import AssignmentStep, GroupMembership
from guest_onboarding.ports import (
    Directory,
    Ledger,
    Outbox,
    TenantHealth,
)

if TYPE_CHECKING:
    from guest_onboarding.adapters.graph.pacer import GraphPacer

#: The Functions host's default when host.json does not say.
DEFAULT_MAX_DEQUEUE_COUNT = 5
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"


@dataclass(kw_only=True)
class Runtime:
    """Everything a handler needs, built once per process: the adapters, and the invitation
    gate that puts the directory's invitations behind the tenant's health record, and the check
    that finds the dynamic groups on the allow-lists."""

    settings: Settings
    directory: Directory
    ledger: Ledger
    outbox: Outbox
    health: TenantHealth
    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    #: Aware UTC now (tests pass a settable clock).
    clock: Callable[[], datetime] = field(default=functools.partial(datetime.now, UTC))
    #: Built from the fields above (a runtime with other settings or adapters is a new one).
    gate: InvitationGate = field(init=False, repr=False)
    #: The allow-listed dynamic groups, read at the first delivery granting a group
    #: (``DETECT_DYNAMIC_GROUPS``).
    groups: DynamicGroupCheck = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.groups = DynamicGroupCheck(
            directory=self.directory, enabled=self.settings.detect_dynamic_groups
        )
        self.gate = InvitationGate(
            directory=self.directory,
            health=self.health,
            probe_interval=timedelta(seconds=self.settings.tenant_stop_probe_seconds),
        )

    @property
    def lifecycle(self) -> Lifecycle:
        """What an onboarding message's access means, and whether end dates go on the user."""
        s = self.settings
        return Lifecycle(
            access_mode=s.access_mode,
            leave_dates=s.set_employee_leave_date,
            threshold=s.offboard_threshold,
        )

    def leavers(self, now: datetime | None = None) -> Offboarding:
        """What an offboarding works with (``now``: the sweep's fixed time, else the clock)."""
        s = self.settings
        settings = OffboardSettings(
            action=s.offboard_action,
            threshold=s.offboard_threshold,
            replication_wait=timedelta(seconds=s.invite_replication_wait_seconds),
        )
        clock = self.clock if now is None else (lambda: now)
        return Offboarding(
            settings=settings,
            directory=self.directory,
            ledger=self.ledger,
            outbox=self.outbox,
            clock=clock,
        )

    async def policy_for(self, work: InvitationCommand | AssignmentStep) -> Policy:
        """The policy to act on ``work`` by: for work that grants a group, the settings' policy
        with the allow-listed dynamic groups refused (read once per process, at the first such
        delivery: a message refused for its own reasons, or granting no group, costs no Graph
        call); the settings' policy otherwise."""
        grants = work.groups if isinstance(work, InvitationCommand) else ()
        if isinstance(work, GroupMembership):
            grants = (work.groupId,)
        if not grants:
            return self.settings.policy
        return await self.groups.policy_now(self.settings.policy, self.clock())

    async def grantable(self, command: InvitationCommand) -> InvitationCommand:
        """``command``, once every group it grants can take members (``InvalidMessage``
        ``DynamicGroupNotAssignable`` otherwise, before anything is done for the guest)."""
        (await self.policy_for(command)).check_groups(command.groups)
        return command

    async def aclose(self) -> None:
        """Close every adapter's connections (the end of a test, a benchmark or a tool; the
        function app keeps its runtime for the life of the process)."""
        for part in (self.directory, self.ledger, self.outbox, self.health):
            close = getattr(part, "aclose", None) or getattr(part, "close", None)
            if close is not None:
                await close()


def sweep_settings(s: Settings) -> SweepSettings:
    """What the sweep decides with, from the settings."""
    return SweepSettings(
        reminder_days=s.reminder_days,
        pending_expiry_days=s.pending_expiry_days,
        expired_guest_action=s.expired_guest_action,
        delete_grace_days=s.delete_grace_days,
        max_removals_per_run=s.max_deletions_per_run,
        resend_untracked=s.resend_untracked,
        retention_days=s.ledger_retention_days,
        replication_wait=timedelta(seconds=s.invite_replication_wait_seconds),
        policy=s.policy,
    )


def max_dequeue_count(host_json: Path = HOST_JSON) -> int:
    """``extensions.queues.maxDequeueCount`` from host.json: on the last delivery the handlers
    move a failing message to poison themselves, with its reason, instead of leaving it to the
    host (which would copy it without one)."""
    try:
        data = json.loads(host_json.read_text(encoding="utf-8"))
        return int(data["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, KeyError, TypeError, ValueError):
        return DEFAULT_MAX_DEQUEUE_COUNT


#: Loggers of the SDKs underneath: at INFO and DEBUG they write request URLs, headers and
#: bodies, which hold guests' addresses (Table row keys, Graph ``$filter``s).
SDK_LOGGERS = ("azure", "httpx", "httpcore", "hpack", "h2", "kiota_http", "msgraph", "urllib3")


def quiet_sdk_logging() -> None:
    """Only warnings and errors from the SDKs, whatever the root level: no personal data."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def build_ledger(settings: Settings) -> Ledger:
    """The ledger on its Table: the read side (reports, the demo) uses it without a Runtime."""
    from guest_onboarding.adapters.storage import TableLedger

    quiet_sdk_logging()
    return TableLedger.create(settings.storage, settings.guest_ledger_table)


def build_graph_pacer(settings: Settings) -> GraphPacer:
    """Graph pacing at the configured rates, on the budget record every instance shares
    (``GRAPH_BUDGET_TABLE``), or per process when ``GRAPH_BUDGET_SHARED`` is false."""
    from guest_onboarding.adapters.graph.pacer import GraphPacer, bucket_rules
    from guest_onboarding.adapters.storage.budget import TableBudgetStore

    store = (
        TableBudgetStore.create(settings.storage, settings.graph_budget_table)
        if settings.graph_budget_shared
        else None
    )
    buckets = bucket_rules(
        writes_per_second=settings.graph_writes_per_second,
        reads_per_second=settings.graph_reads_per_second,
        invitations_per_minute=settings.invitations_per_minute,
    )
    return GraphPacer(buckets, store=store)


def build_runtime(settings: Settings | None = None) -> Runtime:
    """The real adapters: Graph through msgraph-sdk (paced by the shared Graph budget), the
    ledger on Tables, the outbox on Queues."""
    from guest_onboarding.adapters.graph import GraphClient, GraphDirectory
    from guest_onboarding.adapters.storage import QueueOutbox, TableTenantHealth

    quiet_sdk_logging()
    settings = settings or Settings.from_env()
    graph = GraphClient.create(
        base_url=settings.graph_base_url,
        client_id=settings.azure_client_id,
        pacer=build_graph_pacer(settings),
    )
    return Runtime(
        settings=settings,
        directory=GraphDirectory(graph),
        ledger=build_ledger(settings),
        outbox=QueueOutbox.create(
            settings.storage,
            invitations_queue=settings.invitations_queue,
            assignments_queue=settings.assignments_queue,
        ),
        health=TableTenantHealth.create(settings.storage, settings.guest_ledger_table),
        max_dequeue_count=max_dequeue_count(),
    )
