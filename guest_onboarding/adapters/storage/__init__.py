"""Azure Storage adapters: the guest ledger, the tenant's health row and the Graph budget on
Tables, and the outbox on Queues.

The only place that imports ``azure.data.tables`` and ``azure.storage.queue``. The app never
creates queues or tables: the deployment (Bicep) creates them, and its identity may only read and
write messages and rows.
"""

from guest_onboarding.adapters.storage.health import TableTenantHealth
from guest_onboarding.adapters.storage.ledger import TableLedger
from guest_onboarding.adapters.storage.outbox import QueueOutbox

__all__ = ["QueueOutbox", "TableLedger", "TableTenantHealth"]
