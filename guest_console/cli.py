"""``guest-onboarding``: the identity team's console (typer + rich).

Exit codes: 0 done; 1 done, but something needs a look (rows rejected, guests or poison
messages not found); 2 nothing could be done (a malformed setting or file, storage refused).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

from guest_console import plan as planning
from guest_console import poison as poison_view
from guest_console import release as releasing
from guest_console import status as status_view
from guest_console import submit as submitting
from guest_console.environment import describe_storage, load_settings
from guest_console.errors import ConsoleError
from guest_console.storage import build_ledger_reader, build_operator_queues
from guest_console.storage.ports import StorageError
from guest_onboarding.config import Settings, SettingsError
from guest_onboarding.domain.addresses import mask_address
from guest_onboarding.domain.brake import Decision

#: Wide enough for the tables when output is piped (CI logs), where rich would assume 80.
PIPED_WIDTH = 132

app = typer.Typer(
    name="guest-onboarding",
    add_completion=False,
    no_args_is_help=True,
    help="Submit guests in bulk, see where each stands, report, and replay what failed.",
)
poison_app = typer.Typer(
    no_args_is_help=True, help="Poison messages: list by code, show one, replay to their queue."
)
app.add_typer(poison_app, name="poison")


def consoles() -> tuple[Console, Console]:
    """stdout and stderr consoles, wide when piped."""
    width = None if Console().is_terminal else PIPED_WIDTH
    return Console(width=width), Console(stderr=True, width=width)


@dataclass(frozen=True)
class Options:
    settings_file: Path | None
    account_url: str | None

    def settings(self) -> Settings:
        return load_settings(
            os.environ, settings_file=self.settings_file, account_url=self.account_url
        )


def _run(ctx: typer.Context, work: Callable[[Settings], Coroutine[Any, Any, int]]) -> None:
    """Load the settings, run ``work`` and exit with its code; the operator's errors are
    printed as one clear line, exit code 2."""
    _, err = consoles()
    options: Options = ctx.ensure_object(Options)
    try:
        code = asyncio.run(work(options.settings()))
    except SettingsError as exc:
        err.print(f"[red]malformed setting:[/red] {escape(str(exc))}", highlight=False)
        code = 2
    except (ConsoleError, StorageError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        code = 2
    raise typer.Exit(code)


@app.callback()
def options(
    ctx: typer.Context,
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            dir_okay=False,
            help="A local.settings.json-style file; its values override the environment's.",
        ),
    ] = None,
    account_url: Annotated[
        str | None,
        typer.Option(
            "--account-url",
            help="A storage account endpoint (https://<account>.queue.core.windows.net): "
            "signs in with DefaultAzureCredential, never a key. Default: the settings' "
            "AzureWebJobsStorage, else Azurite.",
        ),
    ] = None,
) -> None:
    """Settings come from the environment and --settings, as the function app reads its own."""
    ctx.obj = Options(settings_file=settings, account_url=account_url)


@app.command()
def submit(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, help="JSON lines, or the portal's bulk-invite CSV."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; send nothing.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option(min=1, max=512, help="Messages in flight at once.")
    ] = submitting.DEFAULT_CONCURRENCY,
) -> None:
    """Validate every row, then send the accepted ones to the invitations queue.

    Rows are judged by the function app's own rules and settings; rejected rows are listed
    (file, line, column, code) and not sent."""
    out, err = consoles()

    async def work(settings: Settings) -> int:
        plan = submitting.prepare(files, settings.policy)
        if plan.rejected:
            err.print(submitting.rejections_table(plan.rejected))
        sent = 0
        if not dry_run and plan.accepted:
            where = f"queue '{settings.invitations_queue}' of {describe_storage(settings)}"
            out.print(escape(f"Sending to {where}"))
            queues = build_operator_queues(settings)
            columns = (*Progress.get_default_columns(), MofNCompleteColumn(), TimeElapsedColumn())
            try:
                with Progress(*columns, console=out) as progress:
                    task = progress.add_task("sending", total=len(plan.accepted))

                    def on_sent(n: int) -> None:
                        nonlocal sent
                        sent += n
                        progress.advance(task, n)

                    await submitting.send(
                        plan,
                        queues,
                        settings.invitations_queue,
                        concurrency=concurrency,
                        on_sent=on_sent,
                    )
            except StorageError as exc:
                raise StorageError(
                    f"{exc}\n{sent} of {len(plan.accepted)} sent before that; once fixed, "
                    "submitting the same file again is safe (nobody is invited twice)"
                ) from exc
            finally:
                await queues.close()
        submitting.print_summary(out, plan, sent=sent, dry_run=dry_run)
        return 1 if plan.rejected else 0

    _run(ctx, work)


@app.command()
def plan(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, help="JSON lines, or the portal's bulk-invite CSV."
        ),
    ],
) -> None:
    """Show the groups each row's guest will land in, sending nothing: the tenant's dynamic
    groups whose rule their profile satisfies, and the groups their access profiles grant.

    Reads the dynamic groups from Graph (GRAPH_BASE_URL, DefaultAzureCredential; needs
    GroupMember.Read.All). Rules the evaluator cannot read are listed."""
    out, err = consoles()

    async def work(settings: Settings) -> int:
        return await planning.plan_files(files, settings, out=out, err=err)

    _run(ctx, work)


@app.command()
def status(
    ctx: typer.Context,
    addresses: Annotated[
        list[str] | None, typer.Argument(help="Guests to show (default: every guest).")
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            "-s",
            help="Only guests in this state (repeatable): " + ", ".join(status_view.state_names()),
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Where each guest stands: state, steps, sends, reminders, sponsors, last error."""
    out, err = consoles()

    async def work(settings: Settings) -> int:
        states = status_view.states_of(state or [])
        ledger = build_ledger_reader(settings)
        try:
            entries, missing = await status_view.read_status(ledger, addresses or [], states)
        finally:
            await ledger.close()
        if as_json:
            typer.echo(json.dumps([status_view.record(e) for e in entries], indent=2))
        else:
            out.print(status_view.status_table(entries))
            if addresses:
                for entry in entries:
                    out.print(status_view.guest_detail(entry))
        for address in missing:
            err.print(f"[yellow]not in the ledger:[/yellow] {escape(address)}", highlight=False)
        return 1 if missing else 0

    _run(ctx, work)


@app.command()
def report(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Folder.")],
) -> None:
    """Write an HTML page and PNG charts: funnel, time to redeem, reminders, poison.

    The page is self-contained (charts embedded) and holds figures only, no addresses."""
    out, _ = consoles()

    async def work(settings: Settings) -> int:
        from guest_console.report import write_report

        ledger = build_ledger_reader(settings)
        try:
            entries = [entry async for entry in ledger.entries()]
        finally:
            await ledger.close()
        items = await _read_poison(settings)
        page = write_report(
            entries,
            items,
            out_dir,
            invitations_queue=settings.invitations_queue,
            source=describe_storage(settings),
            generated_at=datetime.now(UTC),
        )
        out.print(escape(f"Report written: {page.resolve().as_uri()}"))
        return 0

    _run(ctx, work)


@app.command()
def release(
    ctx: typer.Context,
    discard: Annotated[
        bool,
        typer.Option("--discard", help="Drop the held offboardings: nothing is removed."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what the brake holds; decide nothing.")
    ] = False,
) -> None:
    """Release (or --discard) the offboardings the brake holds (OFFBOARD_THRESHOLD).

    The decision covers every offboarding held until now and turns the brake off; later
    offboardings are counted afresh. Look at who is held first (--dry-run, or status)."""
    out, _ = consoles()

    async def work(settings: Settings) -> int:
        ledger = build_ledger_reader(settings)
        queues = build_operator_queues(settings)
        try:
            if dry_run:
                state = await ledger.brake()
                held = await releasing.held_offboardings(ledger)
                engaged = state.engaged_at.isoformat() if state.engaged_at else "off"
                out.print(escape(f"brake: {engaged}; {len(held)} offboarding(s) held"))
                for entry in held:
                    at = entry.offboard_held_at.isoformat() if entry.offboard_held_at else ""
                    out.print(escape(f"  {mask_address(entry.email)} held since {at}"))
                return 0
            decision = Decision.DISCARD if discard else Decision.RELEASE
            settled = await releasing.decide(
                ledger, queues, settings.invitations_queue, decision, now=datetime.now(UTC)
            )
        finally:
            await ledger.close()
            await queues.close()
        verb = "discarded" if discard else "released"
        out.print(escape(f"{verb} {settled.queued} held offboarding(s); the brake is off"))
        return 0

    _run(ctx, work)


def _work_queues(settings: Settings) -> list[str]:
    return [settings.invitations_queue, settings.assignments_queue]


async def _read_poison(settings: Settings) -> list[poison_view.PoisonItem]:
    queues = build_operator_queues(settings)
    try:
        return await poison_view.read_poison(queues, _work_queues(settings))
    finally:
        await queues.close()


@poison_app.command("list")
def poison_list(ctx: typer.Context) -> None:
    """Poison messages of both work queues, grouped by queue and code."""
    out, _ = consoles()

    async def work(settings: Settings) -> int:
        groups = poison_view.by_code(await _read_poison(settings))
        out.print(poison_view.groups_table(groups))
        return 0

    _run(ctx, work)


@poison_app.command("show")
def poison_show(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="The id (or its first 8+ characters).")],
    reveal: Annotated[bool, typer.Option("--reveal", help="Show addresses unmasked.")] = False,
) -> None:
    """One poison message whole: the reason and the original body."""
    out, _ = consoles()

    async def work(settings: Settings) -> int:
        items = await _read_poison(settings)
        item = poison_view.resolve(items, [message_id])[0]
        out.print(poison_view.item_detail(item, reveal=reveal))
        return 0

    _run(ctx, work)


@poison_app.command("replay")
def poison_replay(
    ctx: typer.Context,
    message_ids: Annotated[list[str] | None, typer.Argument(help="Ids (or prefixes).")] = None,
    code: Annotated[str | None, typer.Option(help="Every message with this code.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what; send nothing.")] = False,
) -> None:
    """Send poison messages' originals back to their work queue, unchanged.

    Do it once the cause is fixed. Each replayed message leaves the poison queue, so a second
    replay of the same id finds nothing. A message too large to keep whole (MessageTooLarge) is
    never replayed: it stays, and the command fails naming it."""
    out, err = consoles()
    if not message_ids and code is None:
        raise typer.BadParameter("name message ids, or --code CODE")

    async def work(settings: Settings) -> int:
        items = await _read_poison(settings)
        chosen = poison_view.resolve(items, message_ids or [])
        if code is not None:
            chosen += [i for i in items if i.code == code and i not in chosen]
        if not chosen:
            err.print(f"no poison message with code {escape(repr(code))}", highlight=False)
            return 1
        if dry_run:
            for item in chosen:
                out.print(escape(f"would replay {item.id} ({item.code}) to {item.queue}"))
            return 0
        queues = build_operator_queues(settings)
        missing: list[str] = []
        not_kept: list[str] = []
        try:
            for queue in dict.fromkeys(i.queue for i in chosen):
                ids = [i.id for i in chosen if i.queue == queue]
                outcome = await queues.replay(queue, ids)
                for replayed in outcome.replayed:
                    out.print(escape(f"replayed {replayed} to {queue}"))
                missing += outcome.not_found
                not_kept += outcome.not_kept
        finally:
            await queues.close()
        for message_id in missing:
            err.print(f"[yellow]not on the poison queue any more:[/yellow] {escape(message_id)}")
        for message_id in not_kept:
            err.print(
                f"[red]not replayed:[/red] {escape(message_id)}: its original was too large to"
                " keep whole (MessageTooLarge), and replay sends exactly what was received or"
                " nothing; it stays on the poison queue: ask its sender to send it again, smaller",
                highlight=False,
            )
        return 1 if missing or not_kept else 0

    _run(ctx, work)


def main() -> int:
    """The ``guest-onboarding`` entry point."""
    app(prog_name="guest-onboarding")
    return 0
