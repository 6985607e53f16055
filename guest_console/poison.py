"""``poison list|show|replay``: the messages the app could not finish, by code, one whole, and
replayed to their work queue once the cause is fixed. Addresses are masked unless asked."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from rich.text import Text

from guest_console.errors import ConsoleError
from guest_console.storage.ports import OperatorQueues, PoisonMessage, Rejection, read_envelope
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.wire import decode_body, load_object

#: Anything shaped like an address (masking errs on the side of hiding).
_ADDRESS = re.compile(r"[^\s@\"'<>(),;:\[\]{}\\]+@[^\s@\"'<>(),;:\[\]{}\\]+")
#: A message id given on the command line may be shortened to this many characters.
MIN_ID_PREFIX = 8


@dataclass(frozen=True)
class PoisonItem:
    """A poison message and its envelope read back."""

    message: PoisonMessage
    rejection: Rejection

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def code(self) -> str:
        return self.rejection.code

    @property
    def queue(self) -> str:
        return self.message.queue

    def guest(self) -> str | None:
        """The address the original message names, if it names one."""
        try:
            data = load_object(self.rejection.original)
        except InvalidMessage:
            return None
        reminder = data.get("reminder")
        inner: dict[str, object] = reminder if isinstance(reminder, dict) else data
        email = inner.get("email")
        return email if isinstance(email, str) else None


async def read_poison(queues: OperatorQueues, work_queues: Sequence[str]) -> list[PoisonItem]:
    """Every poison message of ``work_queues``, oldest first within each queue."""
    items: list[PoisonItem] = []
    for queue in work_queues:
        for message in await queues.poison(queue):
            items.append(PoisonItem(message, read_envelope(message.content)))
    return items


def mask_addresses(text: str) -> str:
    """``text`` with every address masked (``a***@fabrikam.example``)."""
    return _ADDRESS.sub(lambda m: mask_address(m.group(0)), text)


@dataclass(frozen=True, kw_only=True)
class CodeGroup:
    queue: str
    code: str
    ids: tuple[str, ...]
    first: datetime | None
    last: datetime | None


def by_code(items: Sequence[PoisonItem]) -> list[CodeGroup]:
    """Poison grouped by work queue and code, the largest groups first."""
    groups: dict[tuple[str, str], list[PoisonItem]] = {}
    for item in items:
        groups.setdefault((item.queue, item.code), []).append(item)
    found = []
    for (queue, code), members in groups.items():
        times = sorted(t for t in (m.message.inserted_at for m in members) if t is not None)
        found.append(
            CodeGroup(
                queue=queue,
                code=code,
                ids=tuple(m.id for m in members),
                first=times[0] if times else None,
                last=times[-1] if times else None,
            )
        )
    return sorted(found, key=lambda g: (-len(g.ids), g.queue, g.code))


def resolve(items: Sequence[PoisonItem], wanted: Sequence[str]) -> list[PoisonItem]:
    """The items named by id or by an unambiguous id prefix (at least 8 characters)."""
    chosen: list[PoisonItem] = []
    for text in wanted:
        key = text.strip().lower()
        matches = [i for i in items if i.id.lower() == key]
        if not matches and len(key) >= MIN_ID_PREFIX:
            matches = [i for i in items if i.id.lower().startswith(key)]
        if not matches:
            raise ConsoleError(f"no poison message with id {text!r} (replayed already?)")
        if len(matches) > 1:
            raise ConsoleError(f"id prefix {text!r} matches {len(matches)} messages: give more")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def groups_table(groups: Sequence[CodeGroup]) -> Table:
    total = sum(len(g.ids) for g in groups)
    table = Table(title=f"{total} poison message(s) by code", title_justify="left")
    for column in ("queue", "code", "count", "first", "last", "ids"):
        table.add_column(column, overflow="fold")
    for g in groups:
        ids = ", ".join(i[:MIN_ID_PREFIX] for i in g.ids[:5]) + (" …" if len(g.ids) > 5 else "")
        cells = (g.queue, g.code, str(len(g.ids)), _when(g.first), _when(g.last), ids)
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _shown_original(original: str, reveal: bool) -> tuple[str, str]:
    """The original as a person reads it (decoded, pretty JSON), and how it was sent."""
    try:
        text = decode_body(original)
    except InvalidMessage:
        text = original
    how = "plain" if text == original else "base64 (shown decoded)"
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        pass
    return (text if reveal else mask_addresses(text)), how


def item_detail(item: PoisonItem, *, reveal: bool) -> Table:
    """One poison message whole: its reason, its metadata and its original body."""
    r = item.rejection

    def shown(text: str) -> str:
        return text if reveal else mask_addresses(text)

    table = Table(title=f"poison message {item.id}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("queue", f"{item.queue}-poison (replays to {item.queue})"),
        ("code", r.code),
        ("reason", shown(r.message) or "-"),
        *((name, shown(value)) for name, value in r.details.items()),
        ("poisoned at", _when(item.message.inserted_at)),
    ]
    original, how = _shown_original(r.original, reveal)
    if not r.kept:  # too large to keep whole: only its start was kept, and replay refuses it
        length = r.details.get("originalLength", "?")
        how = f"not kept: too large; its first {len(r.original)} of {length} characters"
        original = shown(r.original)
    rows.append(("original", f"({how})\n{original}"))
    for name, value in rows:
        table.add_row(Text(name), Text(value))
    if not reveal:
        table.caption = "addresses masked; --reveal shows them"
    return table
