"""``report --out DIR``: a self-contained HTML page and PNG charts of the whole onboarding, from
the ledger and the poison queues. matplotlib is imported here only, when a report is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from guest_console.poison import PoisonItem
from guest_onboarding.domain.ledger import LedgerEntry

PAGE_NAME = "index.html"


def write_report(
    entries: Iterable[LedgerEntry],
    poison: Iterable[PoisonItem],
    out: Path,
    *,
    invitations_queue: str,
    source: str,
    generated_at: datetime,
) -> Path:
    """Write ``index.html`` and the charts into ``out`` (created if missing); returns the page."""
    from guest_console.report.charts import draw_charts
    from guest_console.report.figures import compute
    from guest_console.report.page import render_page

    figures = compute(
        entries, poison, invitations_queue=invitations_queue, generated_at=generated_at
    )
    out.mkdir(parents=True, exist_ok=True)
    charts = draw_charts(figures, out)
    page = out / PAGE_NAME
    page.write_text(render_page(figures, charts, source=source), encoding="utf-8")
    return page
