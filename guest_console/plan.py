"""``plan``: which groups each row's guest will land in, before anything is sent.

Two ways in: the groups the row grants (its access profiles' and its own ``groups``, which the
app adds the guest to), and the tenant's dynamic groups whose rule the guest will satisfy once
the profile HR states is written (Entra adds them after its processing delay). Rules are
evaluated by the project's evaluator (``membership_rules``) against the guest as Graph will
hold them: ``userType`` Guest, ``mail``, ``displayName`` and the row's ``profile``. A rule the
evaluator cannot parse, or that reads a value of the wrong type, is reported, never guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from guest_console import submit as submitting
from guest_console.errors import ConsoleError
from guest_console.validation import Accepted
from guest_onboarding.config import Settings
from guest_onboarding.domain.invitation import InvitationCommand
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import DirectoryError
from guest_onboarding.messages import parse_invitation_queue_message
from guest_onboarding.ports import DirectoryGroup
from membership_rules import Rule, RuleSyntaxError, parse

#: A group id on one line.
GUID_WIDTH = 36


@dataclass(frozen=True, kw_only=True)
class RuleGroup:
    """A dynamic group and its parsed rule."""

    id: str
    name: str
    rule: Rule


@dataclass(frozen=True, kw_only=True)
class Unreadable:
    """A dynamic group whose rule the evaluator cannot use, and why."""

    id: str
    name: str
    rule: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Rules:
    groups: list[RuleGroup] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)


def read_rules(groups: Iterable[DirectoryGroup]) -> Rules:
    """The tenant's dynamic groups parsed; the rules that do not parse, with the reason."""
    rules = Rules()
    for group in groups:
        name = group.display_name or group.id
        text = group.membership_rule or ""
        try:
            rules.groups.append(RuleGroup(id=group.id, name=name, rule=parse(text)))
        except RuleSyntaxError as exc:
            rules.unreadable.append(Unreadable(id=group.id, name=name, rule=text, reason=str(exc)))
    return rules


@dataclass(frozen=True, kw_only=True)
class PlannedRow:
    path: str
    line: int
    email: str
    #: Dynamic groups (names) whose rule the guest satisfies.
    by_rule: tuple[str, ...]
    #: Groups (ids) the row grants, through its access profiles or ``groups``.
    by_grant: tuple[str, ...]
    #: Rules that could not be evaluated for this guest (a value of the wrong type).
    errors: tuple[str, ...] = ()

    @property
    def lands_nowhere(self) -> bool:
        return not self.by_rule and not self.by_grant


def guest_as_graph_holds_it(command: InvitationCommand) -> dict[str, object]:
    """The user a rule will see: a guest with the row's address, name and profile."""
    user: dict[str, object] = {
        "userType": "Guest",
        "mail": command.email,
        "displayName": command.invitation.display_name,
        "accountEnabled": True,
    }
    for name, value in (command.profile or {}).items():
        if value is not None:
            user[name] = value
    return user


def plan_rows(accepted: Sequence[Accepted], policy: Policy, rules: Rules) -> list[PlannedRow]:
    """Each accepted row with the groups its guest lands in."""
    planned: list[PlannedRow] = []
    for row in accepted:
        command = parse_invitation_queue_message(row.body, policy)
        if not isinstance(command, InvitationCommand):  # judged as an HR message already
            continue
        user = guest_as_graph_holds_it(command)
        by_rule: list[str] = []
        errors: list[str] = []
        for group in rules.groups:
            try:
                if group.rule.matches(user):
                    by_rule.append(group.name)
            except TypeError as exc:
                errors.append(f"{group.name}: {exc}")
        planned.append(
            PlannedRow(
                path=row.path,
                line=row.line,
                email=command.email,
                by_rule=tuple(by_rule),
                by_grant=command.groups,
                errors=tuple(errors),
            )
        )
    return planned


def plan_table(planned: Sequence[PlannedRow]) -> Table:
    table = Table(title=f"{len(planned)} row(s)", title_justify="left")
    widest = max((len(row.email) for row in planned), default=5)
    table.add_column("row", overflow="fold")
    table.add_column("guest", overflow="fold", min_width=widest)
    table.add_column("through rules", overflow="fold")
    table.add_column("through access profiles", overflow="fold", min_width=GUID_WIDTH)
    table.add_column("note", overflow="fold")
    for row in planned:
        note = "lands in no group" if row.lands_nowhere else ""
        if row.errors:
            note = "; ".join(row.errors)
        table.add_row(
            Text(f"{Path(row.path).name}:{row.line}"),
            Text(row.email),
            Text("\n".join(row.by_rule) or "-"),
            Text("\n".join(row.by_grant) or "-"),
            Text(note),
            style="yellow" if row.lands_nowhere or row.errors else "",
        )
    return table


def unreadable_table(unreadable: Sequence[Unreadable]) -> Table:
    table = Table(
        title=f"{len(unreadable)} dynamic group rule(s) the evaluator cannot read",
        title_justify="left",
    )
    for title in ("group", "rule", "why"):
        table.add_column(title, overflow="fold")
    for item in unreadable:
        table.add_row(Text(f"{item.name} ({item.id})"), Text(item.rule), Text(item.reason))
    return table


async def plan_files(
    files: Sequence[Path], settings: Settings, *, out: Console, err: Console
) -> int:
    """The ``plan`` command: the rows of ``files`` judged, the tenant's dynamic groups read
    (``guest_console.graph``), each row's groups printed; 1 if a row is rejected or a rule
    unreadable, else 0."""
    prepared = submitting.prepare(files, settings.policy)
    if prepared.rejected:
        err.print(submitting.rejections_table(prepared.rejected))
    from guest_console.graph.adapters import build_group_reader

    reader = build_group_reader(settings)
    try:
        rules = read_rules([g async for g in reader.dynamic_groups()])
    except DirectoryError as exc:
        raise ConsoleError(f"cannot read the tenant's dynamic groups: {exc}") from exc
    finally:
        await reader.aclose()
    planned = plan_rows(prepared.accepted, settings.policy, rules)
    out.print(plan_table(planned))
    if rules.unreadable:
        err.print(unreadable_table(rules.unreadable))
    nowhere = sum(1 for row in planned if row.lands_nowhere)
    out.print(
        escape(
            f"{len(rules.groups)} dynamic group(s) read; {nowhere} row(s) land in no group; "
            f"{len(prepared.rejected)} row(s) rejected"
        )
    )
    return 1 if prepared.rejected or rules.unreadable else 0
