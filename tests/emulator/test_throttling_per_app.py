"""Throttling is per app and tenant, whatever the number of clients: client processes with
the same client id share one bucket; other client ids have their own, under the tenant's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.fixtures.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

# One client process: its own managed-identity token for CLIENT_ID, then N invitations.
CLIENT = """
import json, sys, httpx
root, header, client_id, tag, count = sys.argv[1:6]
token = httpx.get(f"{root}/msi/token", headers={"X-IDENTITY-HEADER": header}, params={
    "api-version": "2019-08-01", "resource": "https://graph.microsoft.com",
    "client_id": client_id}).json()["access_token"]
with httpx.Client(base_url=f"{root}/v1.0", headers={"Authorization": f"Bearer {token}"}) as http:
    statuses = [http.post("/invitations", json={
        "invitedUserEmailAddress": f"{tag}-{i}@fabrikam.example",
        "inviteRedirectUrl": "https://myapps.microsoft.com"}).status_code
        for i in range(int(count))]
print(json.dumps(statuses))
"""
APP_A = "aaaaaaaa-1111-4000-8000-00000000000a"
APP_B = "bbbbbbbb-2222-4000-8000-00000000000b"


def run_clients(graph: GraphEmulator, clients: list[tuple[str, str]], count: int) -> list[int]:
    """Start every (client id, tag) client at once, each making ``count`` writes."""
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT,
                graph.root_url,
                graph.identity_header,
                app,
                tag,
                f"{count}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for app, tag in clients
    ]
    statuses: list[int] = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        statuses += json.loads(out)
    return statuses


def test_processes_of_one_app_share_its_write_bucket(graph: GraphEmulator) -> None:
    # 6 writes per hour: no refill worth counting during the test.
    graph.control.set_limits(writes_per_window=6, window_seconds=3600)
    statuses = run_clients(graph, [(APP_A, "one"), (APP_A, "two"), (APP_A, "three")], 4)
    assert Counter(statuses) == {201: 6, 429: 6}
    stats = graph.control.counters()["throttling"]
    assert stats["writesAdmittedByApp"] == {APP_A: 6}


def test_two_apps_have_their_own_buckets_under_the_tenant_limit(graph: GraphEmulator) -> None:
    graph.control.set_limits(writes_per_window=3, window_seconds=3600)
    statuses = run_clients(graph, [(APP_A, "a"), (APP_B, "b")], 5)
    assert Counter(statuses) == {201: 6, 429: 4}
    by_app = graph.control.counters()["throttling"]["writesAdmittedByApp"]
    assert by_app == {APP_A: 3, APP_B: 3}

    graph.control.reset()
    graph.control.set_limits(
        writes_per_window=3,
        window_seconds=3600,
        tenant_writes_per_window=4,
        tenant_window_seconds=3600,
    )
    statuses = run_clients(graph, [(APP_A, "a"), (APP_B, "b")], 5)
    assert Counter(statuses) == {201: 4, 429: 6}
    by_app = graph.control.counters()["throttling"]["writesAdmittedByApp"]
    assert sum(by_app.values()) == 4 and all(n <= 3 for n in by_app.values())
