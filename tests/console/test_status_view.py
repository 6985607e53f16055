"""``status`` shows a ledger row through its fields, so fields added to the row show up."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from rich.console import Console

from guest_console.errors import ConsoleError
from guest_console.status import guest_detail, record, states_of, status_table, step_label
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
GROUP_KEY = "g_11111111111111111111111111111111"
ROLE_KEY = "r_33333333333333333333333333333333_44444444444444444444444444444444"


def entry(**fields: object) -> LedgerEntry:
    values: dict[str, object] = {
        "email": "ada@fabrikam.example",
        "status": GuestStatus.INVITED,
        "user_id": "u-1",
        "invitation": Invitation(redirect_url="https://myapps.microsoft.com", display_name="Ada"),
        "first_sent_at": T0,
        "send_count": 2,
        "reminders_sent": 1,
        "reminders_scheduled": 1,
        "steps": {GROUP_KEY: StepStatus.DONE, ROLE_KEY: StepStatus.FAILED},
        "etag": "W/secret",
        "claim_token": "token",
        **fields,
    }
    return LedgerEntry(**values)  # type: ignore[arg-type]


def test_record_holds_every_field_but_the_etag_and_the_claim_token() -> None:
    data = record(entry(last_error="Forbidden: no"))
    assert data["status"] == "invited"
    assert data["first_sent_at"] == "2026-11-01T08:00:00+00:00"
    assert data["invitation"]["display_name"] == "Ada"
    assert data["last_error"] == "Forbidden: no"
    assert "etag" not in data and "claim_token" not in data
    assert data["steps"] == [
        {
            "key": GROUP_KEY,
            "target": "group 11111111-1111-1111-1111-111111111111",
            "status": "done",
        },
        {
            "key": ROLE_KEY,
            "target": "app role 44444444-4444-4444-4444-444444444444 on "
            "33333333-3333-3333-3333-333333333333",
            "status": "failed",
        },
    ]


def test_a_field_added_to_the_row_shows_up_with_no_edit() -> None:
    """Stand-in for the sponsors and redemption facts other issues add to ``LedgerEntry``."""

    @dataclasses.dataclass(kw_only=True)
    class Grown(LedgerEntry):
        sponsors: tuple[str, ...] = ()
        reminders_before_redemption: int | None = None

    grown = Grown(**dataclasses.asdict(entry()) | {"sponsors": ("s-1", "s-2")})
    data = record(grown)
    assert data["sponsors"] == ["s-1", "s-2"]
    assert "reminders_before_redemption" in data
    console = Console(width=200, record=True)
    console.print(status_table([grown]))
    console.print(guest_detail(grown))
    text = console.export_text()
    assert "s-1, s-2" in text  # the table's sponsors column
    assert "reminders_before_redemption" in text  # the per-guest view


def test_states_take_the_ledgers_statuses_and_pending() -> None:
    assert states_of([]) is None
    assert states_of(["failed", "Expired"]) == {GuestStatus.FAILED, GuestStatus.EXPIRED}
    assert GuestStatus.INVITED in (states_of(["pending"]) or set())
    assert GuestStatus.REDEEMED not in (states_of(["pending"]) or set())
    with pytest.raises(ConsoleError, match=r"one of: .*redeemed"):
        states_of(["accepted"])


def test_step_labels_read_back_the_ids() -> None:
    assert step_label(GROUP_KEY) == "group 11111111-1111-1111-1111-111111111111"


def test_the_table_keeps_each_address_on_one_line() -> None:
    long_error = "BadRequest: " + "the tenant's policy refuses this domain " * 4
    console = Console(width=120, record=True)
    console.print(
        status_table([entry(email="frank.long-name@tailspin.example", last_error=long_error)])
    )
    assert "frank.long-name@tailspin.example" in console.export_text()


def test_an_offboarded_guest_shows_its_grants_removed() -> None:
    leaver = entry(
        status=GuestStatus.OFFBOARDED,
        steps={
            GROUP_KEY: StepStatus.REMOVED,
            ROLE_KEY: StepStatus.REMOVING,
            "o_revoke": StepStatus.DONE,
        },
    )
    console = Console(width=200, record=True)
    console.print(status_table([leaver]))
    assert "1/3 done, 1 removed, 1 removing" in console.export_text()
