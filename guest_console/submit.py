"""``submit``: read every file, judge every row, then send the accepted ones concurrently."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from guest_console.bulk import read_rows
from guest_console.storage.ports import OperatorQueues
from guest_console.validation import Accepted, Rejected, judge_all
from guest_onboarding.domain.policy import Policy

#: Sends in flight at once: enough to hide a storage round trip (tens of ms in Azure) behind
#: the others; the Storage SDK's CPU per send is the limit beyond that.
DEFAULT_CONCURRENCY = 64


@dataclass
class Submission:
    """What a set of files holds, judged."""

    rows: int = 0
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def repeated(self) -> int:
        """Accepted rows naming a guest an earlier accepted row names (sent anyway: the
        ledger onboards each guest once)."""
        return len(self.accepted) - len({a.email for a in self.accepted})


def prepare(paths: Sequence[Path], policy: Policy) -> Submission:
    """Every row of every file judged with ``policy``; ``FileFormatError`` for a file that is
    neither JSON lines nor the portal's CSV (nothing is judged then)."""
    rows = [row for path in paths for row in read_rows(path)]
    accepted, rejected = judge_all(rows, policy)
    return Submission(rows=len(rows), accepted=accepted, rejected=rejected)


async def send(
    submission: Submission,
    queues: OperatorQueues,
    queue: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_sent: Callable[[int], None] | None = None,
) -> None:
    """Send every accepted row's HR message to ``queue``."""
    bodies = [accepted.body for accepted in submission.accepted]
    await queues.send_many(queue, bodies, concurrency=concurrency, on_sent=on_sent)


def rejections_table(rejected: Sequence[Rejected]) -> Table:
    table = Table(title=f"{len(rejected)} row(s) rejected", title_justify="left")
    table.add_column("file", overflow="fold")
    for column in ("line", "column", "code"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for r in rejected:
        cells = (r.path, str(r.line), r.column or "-", r.code, r.message)
        table.add_row(*(Text(cell) for cell in cells))  # never markup: "[inviteeEmail]"
    return table


def print_summary(console: Console, submission: Submission, *, sent: int, dry_run: bool) -> None:
    rejected = len(submission.rejected)
    verb = "would be sent (--dry-run: nothing sent)" if dry_run else "sent"
    count = len(submission.accepted) if dry_run else sent
    parts = [f"{submission.rows} row(s) read", f"{count} {verb}", f"{rejected} rejected"]
    if submission.repeated:
        parts.append(f"{submission.repeated} repeat a guest of an earlier row")
    style = "yellow" if rejected else "green"
    console.print(f"[{style}]" + "; ".join(parts) + ".")
