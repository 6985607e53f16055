"""Create the storage the app expects, as the Bicep templates do in Azure.

The functions never create queues or tables (their identity may not), so the local stack
provisions them first: the invitations and assignments queues, the ``-poison`` queue of each,
the guest ledger table and the shared Graph budget table, named by the app settings
(``infra/app/storage.bicep`` creates the same set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from local_functions_host.storage import expand_development_storage

#: The settings naming storage, with the defaults the app and Bicep use.
STORAGE_SETTING_DEFAULTS = {
    "INVITATIONS_QUEUE": "guest-invitations",
    "ASSIGNMENTS_QUEUE": "guest-assignments",
    "GUEST_LEDGER_TABLE": "guestledger",
    "GRAPH_BUDGET_TABLE": "graphbudget",
}


@dataclass(frozen=True)
class StorageNames:
    """The queues and the tables one set of settings names."""

    invitations_queue: str
    assignments_queue: str
    table: str
    budget_table: str

    @property
    def queues(self) -> tuple[str, ...]:
        """The work queues, then their poison queues."""
        work = (self.invitations_queue, self.assignments_queue)
        return (*work, *(f"{queue}-poison" for queue in work))

    @property
    def tables(self) -> tuple[str, ...]:
        """The guest ledger, then the shared Graph budget."""
        return (self.table, self.budget_table)


def storage_names(settings: Mapping[str, str]) -> StorageNames:
    """Every queue (work queues, then their poison queues) and table ``settings`` name; a
    missing or empty setting takes its default."""

    def setting(name: str) -> str:
        return settings.get(name) or STORAGE_SETTING_DEFAULTS[name]

    return StorageNames(
        invitations_queue=setting("INVITATIONS_QUEUE"),
        assignments_queue=setting("ASSIGNMENTS_QUEUE"),
        table=setting("GUEST_LEDGER_TABLE"),
        budget_table=setting("GRAPH_BUDGET_TABLE"),
    )


def provision_storage(connection_string: str, settings: Mapping[str, str]) -> StorageNames:
    """Create every queue and table ``settings`` name (existing ones are kept, with their
    messages and rows); return the names."""
    names = storage_names(settings)
    connection_string = expand_development_storage(connection_string)
    with QueueServiceClient.from_connection_string(connection_string) as queues:
        for queue in names.queues:
            try:
                queues.create_queue(queue)
            except ResourceExistsError:
                pass
    with TableServiceClient.from_connection_string(connection_string) as tables:
        for table in names.tables:
            tables.create_table_if_not_exists(table)
    return names
