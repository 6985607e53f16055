"""The console's side of storage, none of which ships with the function app (the app writes the
poison envelope, ``wire.rejection_envelope``, and never reads it back; it lists the ledger only as
the sweep does, and never needs a role named):

- :mod:`.ports`: what the console needs from the queues and the ledger, its ``StorageError``s,
  and the poison envelope read back;
- :mod:`.adapters`: those ports on Azure Storage, the only console module importing the SDKs;
- below, the builders the console and the demo call.
"""

from __future__ import annotations

from guest_console.storage.ports import BrakeLedger, OperatorQueues
from guest_onboarding.bootstrap import quiet_sdk_logging
from guest_onboarding.config import Settings


def build_ledger_reader(settings: Settings) -> BrakeLedger:
    """The ledger's read side on its Table: Storage errors become :class:`StorageError`s
    naming the table and the role that is missing."""
    from guest_console.storage.adapters import CheckedLedgerReader

    quiet_sdk_logging()
    return CheckedLedgerReader.create(settings.storage, settings.guest_ledger_table)


def build_operator_queues(settings: Settings) -> OperatorQueues:
    """The queues as the console uses them (submit, poison, replay)."""
    from guest_console.storage.adapters import QueueOperator

    quiet_sdk_logging()
    return QueueOperator.create(settings.storage)
