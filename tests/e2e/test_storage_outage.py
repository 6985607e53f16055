"""A Storage outage through the local host, with the app's own Storage clients as deployed (their
retries and timeouts): the ledger table answers 503 ServerBusy to everything for longer than the
SDK's retries last, the host delivers the messages again, and once the table answers every guest
is onboarded once, with nothing poisoned. (Outages longer than every delivery, and the copy put
back then, are driven on fakes in tests/unit/test_storage_outage.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from devstack.stack import local_stack
from devstack.storage_proxy import start_storage_proxy
from tests.e2e.test_local_host_pipeline import assert_onboarded, guest_message

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 12.0


def test_a_ledger_outage_is_waited_out_by_redelivery_and_poisons_nothing(tmp_path: Path) -> None:
    with (
        local_stack(workdir=tmp_path, message_lease=4, start_host=False) as local,
        start_storage_proxy(
            local.azurite.connection_string, log_path=tmp_path / "storage-proxy.log"
        ) as proxy,
    ):
        local.settings["AzureWebJobsStorage"] = proxy.connection_string
        ledger = local.settings["GUEST_LEDGER_TABLE"]
        proxy.control.set_faults(
            [{"service": "table", "resource": ledger, "kind": "status", "code": "ServerBusy"}]
        )
        local.start_host()
        emails = []
        for i in range(3):
            local.send(json.dumps(guest_message(i)))
            emails.append(f"guest{i}@partner.example")
        time.sleep(OUTAGE_SECONDS)
        busy = proxy.control.counters()["faults"].get("table status ServerBusy", 0)
        assert busy >= 3 * 4  # each message met it on its first try and the SDK's 3 retries
        assert local.emulator.control.mailbox() == []  # nothing was sent while it lasted
        proxy.control.set_faults([])
        assert local.wait_until_drained(timeout=120)
        assert_onboarded(local, emails)  # one email each, nothing in either poison queue
        log = "".join(p.read_text(errors="replace") for p in tmp_path.glob("host-*.log"))
        assert '"error": "ServerBusy", "exception": "StoreUnavailable"' in log  # mapped, retried
        assert "could not read a ledger row" not in log  # an exception's text is logged nowhere
