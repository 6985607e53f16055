"""Every console command against Azurite and the Graph emulator, with the app's real adapters
draining what the console sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.queue import AccountSasPermissions, ResourceTypes, generate_account_sas

from devstack.seeds import GROUP_PARTNERS, GROUP_PROJECT_X
from local_functions_host.storage import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.console.conftest import Operated, table_rows
from tests.console.test_bulk import EXTRAS, PORTAL_HEADER

pytestmark = pytest.mark.integration

PORTAL_CSV = (
    "\ufeffversion:v1.0,,,,,,,,,\r\n"
    f"{PORTAL_HEADER}{EXTRAS}\r\n"
    'ada@fabrikam.example,https://projectx.fabrikam.example/welcome,true,"Welcome, Ada!\r\n'
    'See you Monday.",Ada Lovelace,,,fabrikam-project-x,,HR-1\r\n'
    f"bob@northwind.example,,false,,Bob Smith,{GROUP_PARTNERS},,,,HR-2\r\n"
    "dave@blocked.example,,,,Dave,,,,,HR-3\r\n"
    ",,,,,,,,,\r\n"
)
JSON_LINES = (
    json.dumps({"email": "carol@tailspin.example", "groups": [GROUP_PARTNERS]})
    + '\n{"email": "eve@x"\n'
)


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    csv_path = tmp_path / "invite.csv"
    csv_path.write_bytes(PORTAL_CSV.encode("utf-8"))
    jsonl_path = tmp_path / "hr.jsonl"
    jsonl_path.write_text(JSON_LINES, encoding="utf-8")
    return csv_path, jsonl_path


async def test_submit_sends_accepted_rows_and_the_app_onboards_them(
    operated: Operated, tmp_path: Path
) -> None:
    csv_path, jsonl_path = write_inputs(tmp_path)
    result = await operated.console("submit", str(csv_path), str(jsonl_path))

    assert result.exit_code == 1, result.output  # rows were rejected
    assert "5 row(s) read; 3 sent; 2 rejected" in result.stdout
    rejected = [row[1:4] for row in table_rows(result.stderr)]
    assert ["6", "[inviteeEmail]", "DomainBlocked"] in rejected
    assert ["2", "-", "InvalidJson"] in rejected
    sent = sorted((json.loads(body) for body in operated.queued()), key=lambda m: m["email"])
    assert sent == [
        {
            "email": "ada@fabrikam.example",
            "redirectUrl": "https://projectx.fabrikam.example/welcome",
            "sendInvitationMessage": True,
            "customizedMessageBody": "Welcome, Ada!\r\nSee you Monday.",
            "displayName": "Ada Lovelace",
            "accessProfiles": ["fabrikam-project-x"],
            "externalId": "HR-1",
        },
        {
            "email": "bob@northwind.example",
            "sendInvitationMessage": False,
            "displayName": "Bob Smith",
            "groups": [GROUP_PARTNERS],
            "externalId": "HR-2",
        },
        {"email": "carol@tailspin.example", "groups": [GROUP_PARTNERS]},
    ]

    await operated.stack.drain()
    assert operated.stack.poison(operated.values["INVITATIONS_QUEUE"]) == []
    mailbox = operated.stack.graph.control.mailbox()
    assert sorted(m["to"] for m in mailbox) == ["ada@fabrikam.example", "carol@tailspin.example"]

    status = await operated.console("status", "--json")
    assert status.exit_code == 0, status.output
    rows = {row["email"]: row for row in json.loads(status.stdout)}
    assert {email: row["status"] for email, row in rows.items()} == {
        "ada@fabrikam.example": "invited",
        "bob@northwind.example": "invited",
        "carol@tailspin.example": "invited",
    }
    assert {s["target"]: s["status"] for s in rows["ada@fabrikam.example"]["steps"]} == {
        f"group {GROUP_PROJECT_X}": "done",
        "app role 44444444-4444-4444-4444-444444444444 on "
        "33333333-3333-3333-3333-333333333333": "done",
    }
    assert rows["bob@northwind.example"]["send_count"] == 0  # sendEmail false


async def test_dry_run_judges_every_row_and_sends_nothing(
    operated: Operated, tmp_path: Path
) -> None:
    csv_path, _ = write_inputs(tmp_path)
    result = await operated.console("submit", "--dry-run", str(csv_path))
    assert result.exit_code == 1
    assert "2 would be sent (--dry-run: nothing sent); 1 rejected" in result.stdout
    assert operated.count() == 0


async def test_a_file_not_in_the_portals_format_sends_nothing_and_names_the_line(
    operated: Operated, tmp_path: Path
) -> None:
    good, _ = write_inputs(tmp_path)
    bad = tmp_path / "export.csv"
    bad.write_text(f"{PORTAL_HEADER}\r\nada@fabrikam.example,,,\r\n", encoding="utf-8")
    result = await operated.console("submit", str(good), str(bad))
    assert result.exit_code == 2
    assert "export.csv, line 1: not the portal's bulk-invite format" in result.stderr
    assert operated.count() == 0


async def test_no_send_permission_names_the_role_and_the_queue(
    operated: Operated, tmp_path: Path
) -> None:
    endpoint = next(
        part.split("=", 1)[1]
        for part in operated.values["AzureWebJobsStorage"].split(";")
        if part.startswith("QueueEndpoint=")
    )
    sas = generate_account_sas(
        DEV_ACCOUNT_NAME,
        DEV_ACCOUNT_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True),
        datetime.now(UTC) + timedelta(hours=1),
    )
    operated.settings_path.write_text(
        json.dumps(
            {
                "Values": operated.values
                | {"AzureWebJobsStorage": f"QueueEndpoint={endpoint};SharedAccessSignature={sas}"}
            }
        ),
        encoding="utf-8",
    )
    csv_path, _ = write_inputs(tmp_path)
    result = await operated.console("submit", str(csv_path))
    assert result.exit_code == 2
    queue = operated.values["INVITATIONS_QUEUE"]
    assert f"not allowed to send messages to queue '{queue}'" in result.stderr
    assert "'Storage Queue Data Message Sender' role" in result.stderr
    assert "0 of 2 sent before that" in result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("ALLOWED_GROUP_IDS", "not-a-guid", "malformed setting: ALLOWED_GROUP_IDS"),
        ("INVITATIONS_QUEUE", "no-such-queue", "queue 'no-such-queue' does not exist"),
        ("GUEST_LEDGER_TABLE", "nosuchledger", "table 'nosuchledger' does not exist"),
    ],
)
async def test_clear_errors_for_settings_and_missing_storage(
    operated: Operated, tmp_path: Path, setting: str, value: str, says: str
) -> None:
    values = operated.values | {setting: value}
    operated.settings_path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    csv_path, _ = write_inputs(tmp_path)
    command = (
        ["status", "ada@fabrikam.example"]
        if setting == "GUEST_LEDGER_TABLE"
        else [
            "submit",
            str(csv_path),
        ]
    )
    result = await operated.console(*command)
    assert result.exit_code == 2, result.output
    assert says in result.stderr


async def test_status_filters_by_state_and_names_unknown_guests(
    operated: Operated, tmp_path: Path
) -> None:
    operated.stack.graph.control.set_invitation_policy(denied_domains=["northwind.example"])
    csv_path, jsonl_path = write_inputs(tmp_path)
    await operated.console("submit", str(csv_path), str(jsonl_path))
    await operated.stack.drain()

    failed = await operated.console("status", "--state", "failed", "--json")
    assert [row["email"] for row in json.loads(failed.stdout)] == ["bob@northwind.example"]
    assert json.loads(failed.stdout)[0]["last_error"]

    pending = await operated.console("status", "--state", "pending", "--json")
    assert [row["email"] for row in json.loads(pending.stdout)] == [
        "ada@fabrikam.example",
        "carol@tailspin.example",
    ]

    one = await operated.console("status", "ADA@fabrikam.example", "nobody@fabrikam.example")
    assert one.exit_code == 1
    assert "not in the ledger: nobody@fabrikam.example" in one.stderr
    assert "ada@fabrikam.example" in one.stdout and "invited" in one.stdout
    assert f"step: group {GROUP_PROJECT_X}" in one.stdout  # the per-guest view

    unknown_state = await operated.console("status", "--state", "accepted")
    assert unknown_state.exit_code == 2 and "unknown state 'accepted'" in unknown_state.stderr


async def test_poison_is_listed_shown_masked_and_replayed_once_after_the_fix(
    operated: Operated, tmp_path: Path
) -> None:
    control = operated.stack.graph.control
    control.set_invitation_policy(denied_domains=["northwind.example"])
    csv_path, _ = write_inputs(tmp_path)
    await operated.console("submit", str(csv_path))
    await operated.stack.drain()
    invitations = operated.values["INVITATIONS_QUEUE"]
    (poisoned,) = operated.stack.poison(invitations)
    code = poisoned["error"]["code"]

    listed = await operated.console("poison", "list")
    assert listed.exit_code == 0
    assert [invitations, code, "1"] in [row[:3] for row in table_rows(listed.stdout)]

    message_id = (
        operated.stack.queues.get_queue_client(f"{invitations}-poison").peek_messages()[0].id
    )
    shown = await operated.console("poison", "show", message_id[:8])
    assert shown.exit_code == 0, shown.output
    assert "b***@northwind.example" in shown.stdout
    assert "bob@northwind.example" not in shown.stdout
    revealed = await operated.console("poison", "show", message_id, "--reveal")
    assert "bob@northwind.example" in revealed.stdout

    control.set_invitation_policy()  # the cause is fixed
    replayed = await operated.console("poison", "replay", message_id)
    again = await operated.console("poison", "replay", message_id)
    assert replayed.exit_code == 0 and f"replayed {message_id}" in replayed.stdout
    assert again.exit_code == 2 and "no poison message with id" in again.stderr
    assert operated.queued() == [poisoned["original"]]  # unchanged, and only once

    await operated.stack.drain()
    status = await operated.console("status", "bob@northwind.example", "--json")
    assert json.loads(status.stdout)[0]["status"] == "invited"
    assert operated.stack.poison(invitations) == []


async def test_replay_by_code_with_dry_run_first(operated: Operated) -> None:
    invitations = operated.values["INVITATIONS_QUEUE"]
    poison = operated.stack.queues.get_queue_client(f"{invitations}-poison")
    for n in range(3):
        poison.send_message(
            json.dumps(
                {"error": {"code": "Forbidden", "message": "x"}, "original": f'{{"n": {n}}}'}
            )
        )
    poison.send_message(
        json.dumps({"error": {"code": "InvalidJson", "message": "x"}, "original": "x"})
    )

    dry = await operated.console("poison", "replay", "--code", "Forbidden", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.count("would replay") == 3
    assert operated.count() == 0

    done = await operated.console("poison", "replay", "--code", "Forbidden")
    assert done.exit_code == 0 and done.stdout.count("replayed") == 3
    assert sorted(operated.queued()) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    left = [json.loads(m.content)["error"]["code"] for m in poison.peek_messages(max_messages=32)]
    assert left == ["InvalidJson"]
