"""The report's four PNG charts, drawn with matplotlib (Agg: no display needed)."""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from guest_console.report.figures import FUNNEL_STAGES, ReportFigures

#: File name and title of each chart, in page order.
CHARTS = {
    "funnel": ("funnel.png", "Onboarding funnel"),
    "time_to_redeem": ("time_to_redeem.png", "Time to redeem"),
    "reminders": ("reminders.png", "Redemptions after each reminder"),
    "poison": ("poison.png", "Poison messages by code over time"),
}
_BLUE, _GREEN, _GREY, _RED, _ORANGE = "#2f6db5", "#2e8b57", "#8a8f98", "#c0392b", "#e08e0b"
_STAGE_COLOURS = {
    "submitted": _BLUE,
    "rejected": _RED,
    "invited": _BLUE,
    "redeemed": _GREEN,
    "expired": _GREY,
}
_CODE_COLOURS = [plt.get_cmap("tab10")(i) for i in range(10)]
#: The poison chart shows at least this many days, so one bad day reads as a spike in time.
MIN_POISON_DAYS = 14


def _figure(title: str) -> tuple[Figure, Axes]:
    figure, axes = plt.subplots(figsize=(8, 4.2), dpi=100, layout="constrained")
    axes.set_title(title, loc="left", fontsize=13, fontweight="bold")
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color=_GREY)
    axes.set_xticks([])
    axes.set_yticks([])


def _funnel(figures: ReportFigures, axes: Axes) -> None:
    values = [figures.funnel[stage] for stage in FUNNEL_STAGES]
    positions = range(len(FUNNEL_STAGES))
    bars = axes.barh(
        positions, values, color=[_STAGE_COLOURS[s] for s in FUNNEL_STAGES], height=0.6
    )
    axes.set_yticks(list(positions), list(FUNNEL_STAGES))
    axes.invert_yaxis()
    axes.bar_label(bars, padding=4)
    axes.set_xlabel("guests (rejected: messages)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(1, max(values)) * 1.15)


def _time_to_redeem(figures: ReportFigures, axes: Axes) -> None:
    days = figures.days_to_redeem
    if not days:
        _empty(axes, "no redemptions yet")
        return
    # Hours when everyone redeemed within two days (a one-day bin would hide the spread).
    unit, values = ("days", list(days)) if max(days) >= 2 else ("hours", [d * 24 for d in days])
    top = max(1, int(max(values)) + 1)
    axes.hist(values, bins=range(0, top + 1), color=_GREEN, edgecolor="white")
    tallest = max(sum(1 for v in values if int(v) == bin_) for bin_ in range(top))
    axes.set_ylim(0, tallest * 1.3)  # room above the bars for the legend
    median = statistics.median(values)
    axes.axvline(median, color=_ORANGE, linestyle="--", label=f"median {median:.1f} {unit}")
    axes.legend(frameon=False, loc="upper right")
    axes.set_xlabel(f"{unit} from the first invitation to redemption")
    axes.set_ylabel("guests")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _reminders(figures: ReportFigures, axes: Axes) -> None:
    stages = figures.reminders
    if not stages:
        _empty(axes, "no invitations yet")
        return
    labels = ["invitation" if s.number == 0 else f"reminder {s.number}" for s in stages]
    positions = list(range(len(stages)))
    bars = axes.bar(positions, [s.redeemed for s in stages], color=_GREEN, width=0.6)
    axes.bar_label(bars, labels=[f"{s.redeemed} of {s.reached}" for s in stages], padding=3)
    axes.set_xticks(positions, labels)
    axes.set_xlim(-0.6, max(len(stages), 4) - 0.4)  # a lone bar keeps a bar's width
    axes.set_ylabel("guests who redeemed next")
    axes.set_ylim(0, max(1, *(s.redeemed for s in stages)) * 1.25)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    share = axes.twinx()
    share.plot(positions, [s.share * 100 for s in stages], color=_ORANGE, marker="o")
    share.set_ylim(0, 105)
    share.set_ylabel("% of those sent it", color=_ORANGE)
    share.spines[["top"]].set_visible(False)


def _poison(figures: ReportFigures, axes: Axes) -> None:
    if not figures.poison_by_day:
        _empty(axes, "no poison messages")
        return
    days = _day_range(min(figures.poison_by_day), max(figures.poison_by_day))
    positions = list(range(len(days)))
    bottom = [0] * len(days)
    for index, code in enumerate(figures.poison_by_code):
        counts = [figures.poison_by_day.get(d, {}).get(code, 0) for d in days]
        colour = _CODE_COLOURS[index % len(_CODE_COLOURS)]
        axes.bar(positions, counts, bottom=bottom, label=code, color=colour, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    step = -(-len(days) // 7)  # at most 7 labels, counted back from the last day
    ticks = positions[::-1][::step]
    axes.set_xticks(ticks, [days[i].strftime("%b %d") for i in ticks])
    axes.set_ylabel("messages poisoned per day")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))


def _day_range(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, at least ``MIN_POISON_DAYS`` ending at ``last``."""
    start = min(first, last - timedelta(days=MIN_POISON_DAYS - 1))
    return [start + timedelta(days=n) for n in range((last - start).days + 1)]


_DRAW = {
    "funnel": _funnel,
    "time_to_redeem": _time_to_redeem,
    "reminders": _reminders,
    "poison": _poison,
}


def draw_charts(figures: ReportFigures, out: Path) -> dict[str, Path]:
    """Write every chart into ``out``; returns the path of each by name."""
    written: dict[str, Path] = {}
    for name, (file_name, title) in CHARTS.items():
        figure, axes = _figure(title)
        try:
            _DRAW[name](figures, axes)
            path = out / file_name
            figure.savefig(path, format="png", metadata={"Software": None})
        finally:
            plt.close(figure)
        written[name] = path
    return written
