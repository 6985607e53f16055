"""``report``: the figures from a ledger whose every row the test wrote, the PNG charts, and the
page as headless chromium shows it (no console error, every chart loaded, the figures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from guest_console.poison import PoisonItem
from guest_console.report.figures import ReminderStage, compute
from guest_console.storage.ports import PoisonMessage, read_envelope
from guest_onboarding.adapters.storage import TableLedger
from guest_onboarding.config import StorageSettings
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry
from tests.console.browser import visit
from tests.console.conftest import Operated

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
INVITATIONS, ASSIGNMENTS = "inv", "asg"


def row(name: str, status: GuestStatus, **fields: object) -> LedgerEntry:
    values: dict[str, object] = {
        "email": f"{name}@fabrikam.example",
        "status": status,
        "user_id": f"user-{name}",
        "invitation": Invitation(redirect_url="https://myapps.microsoft.com"),
        "created_at": T0,
        **fields,
    }
    return LedgerEntry(**values)  # type: ignore[arg-type]


#: Three redeemed (after the invitation, after reminder 1, after reminder 2), one still
#: pending after two reminders, one expired after three, one who already had an account,
#: one Graph refused.
LEDGER = [
    row("a", GuestStatus.REDEEMED, first_sent_at=T0, redeemed_at=T0 + 1.5 * DAY),
    row("b", GuestStatus.REDEEMED, first_sent_at=T0, redeemed_at=T0 + 4.2 * DAY, reminders_sent=1),
    row("c", GuestStatus.REDEEMED, first_sent_at=T0, redeemed_at=T0 + 8 * DAY, reminders_sent=2),
    row("d", GuestStatus.INVITED, first_sent_at=T0, reminders_sent=2),
    row("e", GuestStatus.EXPIRED, first_sent_at=T0, reminders_sent=3, expired_at=T0 + 30 * DAY),
    row("f", GuestStatus.EXISTING),
    row("g", GuestStatus.FAILED, last_error="Forbidden: blocked by policy"),
]
#: (work queue, code, original): two rejected before they made a row, two about known rows.
POISON = [
    (INVITATIONS, "DomainBlocked", '{"email": "dave@blocked.example"}'),
    (INVITATIONS, "InvalidJson", "this line is not JSON"),
    (INVITATIONS, "Forbidden", '{"email": "g@fabrikam.example"}'),
    (ASSIGNMENTS, "Request_ResourceNotFound", '{"email": "a@fabrikam.example", "kind": "group"}'),
]
#: What the page must show, worked out by hand from the rows above.
EXPECTED = {
    "funnel.submitted": "9",
    "funnel.rejected": "2",
    "funnel.invited": "5",
    "funnel.redeemed": "3",
    "funnel.expired": "1",
    "status.redeemed": "3",
    "status.invited": "1",
    "status.expired": "1",
    "status.existing": "1",
    "status.failed": "1",
    "redeem.count": "3",
    "redeem.median": "4.2",
    "redeem.max": "8.0",
    "reminders.0.reached": "5",
    "reminders.0.redeemed": "1",
    "reminders.1.reached": "4",
    "reminders.1.redeemed": "1",
    "reminders.2.reached": "3",
    "reminders.2.redeemed": "1",
    "reminders.3.reached": "1",
    "reminders.3.redeemed": "0",
    "poison.total": "4",
    "poison.DomainBlocked": "1",
    "poison.Forbidden": "1",
    "poison.InvalidJson": "1",
    "poison.Request_ResourceNotFound": "1",
}


def envelope(code: str, original: str) -> str:
    return json.dumps({"error": {"code": code, "message": "why"}, "original": original})


def test_figures_from_rows_and_poison() -> None:
    poison = [
        PoisonItem(
            PoisonMessage(id=str(n), queue=queue, content=envelope(code, original)),
            read_envelope(envelope(code, original)),
        )
        for n, (queue, code, original) in enumerate(POISON)
    ]
    figures = compute(LEDGER, poison, invitations_queue=INVITATIONS, generated_at=T0 + 40 * DAY)
    assert figures.funnel == {
        "submitted": 9,
        "rejected": 2,
        "invited": 5,
        "redeemed": 3,
        "expired": 1,
    }
    assert figures.reminders == [
        ReminderStage(number=0, reached=5, redeemed=1),
        ReminderStage(number=1, reached=4, redeemed=1),
        ReminderStage(number=2, reached=3, redeemed=1),
        ReminderStage(number=3, reached=1, redeemed=0),
    ]
    assert figures.days_to_redeem == pytest.approx([1.5, 4.2, 8.0])
    assert figures.poison_total == 4


def test_an_empty_ledger_still_makes_a_report() -> None:
    figures = compute([], [], invitations_queue=INVITATIONS, generated_at=T0)
    assert figures.funnel == dict.fromkeys(figures.funnel, 0)
    assert figures.reminders == [] and figures.days_to_redeem == []


#: Read by chromium from the loaded page: every figure, and every chart's pixel size.
DOM = """({
  figures: Object.fromEntries([...document.querySelectorAll('[data-figure]')]
    .map(e => [e.dataset.figure, e.textContent.trim()])),
  charts: [...document.images].map(i => ({
    name: i.dataset.chart, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight
  })),
  title: document.title,
  text: document.body.innerText,
})"""


@pytest.mark.integration
async def test_the_report_in_headless_chromium(operated: Operated, tmp_path: Path) -> None:
    values = operated.values
    ledger = TableLedger.create(
        StorageSettings(connection_string=values["AzureWebJobsStorage"]),
        values["GUEST_LEDGER_TABLE"],
    )
    try:
        for entry in LEDGER:
            assert await ledger.claim(entry)
    finally:
        await ledger.close()
    queue_names = {
        INVITATIONS: values["INVITATIONS_QUEUE"],
        ASSIGNMENTS: values["ASSIGNMENTS_QUEUE"],
    }
    for queue, code, original in POISON:
        client = operated.stack.queues.get_queue_client(f"{queue_names[queue]}-poison")
        client.send_message(envelope(code, original))

    out = tmp_path / "report"
    result = await operated.console("report", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "index.html").as_uri() in result.stdout.replace("\n", "")

    for name in ("funnel", "time_to_redeem", "reminders", "poison"):
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG" and image.size == (800, 420)

    seen = await visit((out / "index.html").as_uri(), tmp_path / "chromium-profile", evaluate=DOM)
    (tmp_path / "report-screenshot.png").write_bytes(seen.screenshot)
    assert seen.errors == []
    assert seen.dom["figures"] == EXPECTED
    assert [(c["name"], c["complete"], c["width"], c["height"]) for c in seen.dom["charts"]] == [
        (f"{name}.png", True, 800, 420)
        for name in ("funnel", "time_to_redeem", "reminders", "poison")
    ]
    assert "@" not in seen.dom["text"]  # figures only: no address on the page


@pytest.mark.integration
async def test_the_browser_check_sees_a_broken_page(tmp_path: Path) -> None:
    """Mutation: a page with a script error and an image it cannot load is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title><link rel='icon' href='data:,'></head>"
        "<body><img src='missing.png'><script>undefinedFunction()</script></body></html>",
        encoding="utf-8",
    )
    seen = await visit(page.as_uri(), tmp_path / "profile", evaluate="document.title")
    assert any("undefinedFunction" in e for e in seen.errors), seen.errors
    assert any("missing.png" in e for e in seen.errors), seen.errors
