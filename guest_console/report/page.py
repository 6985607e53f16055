"""The report's HTML page: one self-contained file (charts embedded as data URIs, no script, a
Content-Security-Policy that refuses anything fetched from elsewhere), with every figure also
in a table, marked ``data-figure`` so tests (and scripts) can read them."""

from __future__ import annotations

import base64
import statistics
from html import escape
from pathlib import Path

from guest_console.report.charts import CHARTS
from guest_console.report.figures import FUNNEL_STAGES, ReportFigures
from guest_console.report.figures import __doc__ as DEFINITIONS

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
section { margin: 2rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.8rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; color: #444; font-size: 0.85rem; }
"""
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _rows(rows: list[tuple[str, str, str]]) -> str:
    """Table rows of (label, figure key, value)."""
    return "\n".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        f'<td class="n" data-figure="{escape(key)}">{escape(value)}</td></tr>'
        for label, key, value in rows
    )


def _image(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{escape(title)}" '
        f'data-chart="{escape(path.name)}">'
    )


def _section(name: str, charts: dict[str, Path], body: str) -> str:
    _, title = CHARTS[name]
    return (
        f'<section id="{name}"><h2>{escape(title)}</h2>\n'
        f"{_image(charts[name], title)}\n{body}</section>"
    )


def _definitions() -> str:
    """The definitions part of ``figures``' docstring (one text for code and page)."""
    text = (DEFINITIONS or "").split("Definitions (the page states them too):")[-1].strip()
    return text.replace("``", "")


def render_page(figures: ReportFigures, charts: dict[str, Path], *, source: str) -> str:
    """The whole page as HTML text."""
    funnel = _rows([(s, f"funnel.{s}", str(figures.funnel[s])) for s in FUNNEL_STAGES])
    statuses = _rows([(s, f"status.{s}", str(n)) for s, n in figures.by_status.items()])
    days = figures.days_to_redeem
    redeem = _rows(
        [
            ("guests who redeemed (with times)", "redeem.count", str(len(days))),
            ("median days", "redeem.median", f"{statistics.median(days):.1f}" if days else "-"),
            ("longest, days", "redeem.max", f"{max(days):.1f}" if days else "-"),
        ]
    )
    reminders = "\n".join(
        f"<tr><th scope='row'>{'invitation' if s.number == 0 else f'reminder {s.number}'}</th>"
        f'<td class="n" data-figure="reminders.{s.number}.reached">{s.reached}</td>'
        f'<td class="n" data-figure="reminders.{s.number}.redeemed">{s.redeemed}</td>'
        f'<td class="n">{s.share:.0%}</td></tr>'
        for s in figures.reminders
    )
    poison = _rows([(c, f"poison.{c}", str(n)) for c, n in figures.poison_by_code.items()])
    poison += _rows([("total", "poison.total", str(figures.poison_total))])
    sections = [
        _section(
            "funnel",
            charts,
            f"<table>{funnel}</table><h3>Guests by state</h3><table>{statuses}</table>",
        ),
        _section("time_to_redeem", charts, f"<table>{redeem}</table>"),
        _section(
            "reminders",
            charts,
            "<table><tr><th>redeemed after</th><th>sent it</th><th>redeemed</th>"
            f"<th>share</th></tr>{reminders}</table>",
        ),
        _section("poison", charts, f"<table>{poison}</table>"),
    ]
    generated = figures.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Guest onboarding report, {escape(generated)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Guest onboarding report</h1>
<p class="meta">Generated {escape(generated)} from {escape(source)}.
Figures only: no addresses or names.</p>
{"".join(sections)}
<section id="definitions"><h2>How each figure is counted</h2>
<pre>{escape(_definitions())}</pre>
</section>
</body>
</html>
"""
