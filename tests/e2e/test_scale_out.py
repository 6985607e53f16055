"""Two host processes on the same queues, as a scaled-out app: they share one Graph budget
record, and onboarding stays exactly once (one email per guest, nothing poisoned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from devstack.stack import local_stack
from tests.e2e.test_local_host_pipeline import assert_onboarded, guest_message

pytestmark = pytest.mark.e2e


def test_two_hosts_pace_on_one_shared_budget_and_onboard_each_guest_once(tmp_path: Path) -> None:
    with local_stack(workdir=tmp_path, start_host=False) as local:
        # A small write bucket, so pacing and 429s both come into play across the two hosts.
        local.emulator.control.set_limits(throttling=True, writes_per_window=10, window_seconds=1)
        hosts = local.start_hosts(2)
        emails = []
        for i in range(12):
            local.send(json.dumps(guest_message(i)))
            emails.append(f"guest{i}@partner.example")
        assert local.wait_until_drained(timeout=120)
        logs = [host.log_text() for host in hosts]
        with TableServiceClient.from_connection_string(local.azurite.connection_string) as tables:
            table = tables.get_table_client(local.settings["GRAPH_BUDGET_TABLE"])
            rows = {row["RowKey"]: row for row in table.list_entities()}
        assert_onboarded(local, emails)
    # The hosts paced on the shared record (it holds the read, write and invitation
    # schedules) and neither fell back to pacing on its own.
    assert {"writes", "reads", "invitations"} <= set(rows)
    assert rows["writes"]["next_slot"] > 0
    assert all("shared Graph budget unavailable" not in log for log in logs)
