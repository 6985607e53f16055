"""The local stack's commands: ``demo``, ``run`` and ``enqueue``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devstack.enqueue import enqueue_messages, local_setting, read_messages
from devstack.provision import STORAGE_SETTING_DEFAULTS, provision_storage
from devstack.seeds import SAMPLE_MESSAGES_PATH, SAMPLE_PORTAL_CSV_PATH, SAMPLE_TENANT_PATH

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Run the guest onboarding functions locally."
)


@app.command()
def enqueue(
    message: Annotated[str | None, typer.Argument(help="One HR message as a JSON string.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            exists=True,
            dir_okay=False,
            help="A file of JSON lines, one message each.",
        ),
    ] = None,
    as_base64: Annotated[bool, typer.Option("--base64", help="Send base64-encoded.")] = False,
    queue: Annotated[str | None, typer.Option(help="Queue (default INVITATIONS_QUEUE).")] = None,
    connection: Annotated[
        str | None, typer.Option(help="Storage connection string (default AzureWebJobsStorage).")
    ] = None,
) -> None:
    """Put HR messages on the invitations queue, plain or base64."""
    if (message is None) == (file is None):
        raise typer.BadParameter("give either a JSON string or --file, not both")
    connection_string = connection or local_setting(
        "AzureWebJobsStorage", "UseDevelopmentStorage=true"
    )
    settings = {name: local_setting(name, "") for name in STORAGE_SETTING_DEFAULTS}
    if queue:
        settings["INVITATIONS_QUEUE"] = queue
    # What Bicep provisions in Azure, so the queue exists whether or not the host ran yet.
    names = provision_storage(connection_string, settings)
    sent = enqueue_messages(
        read_messages(text=message, file=file),
        connection_string=connection_string,
        queue_name=names.invitations_queue,
        as_base64=as_base64,
    )
    typer.echo(f"queued {sent} message(s)")


@app.command()
def demo(
    messages: Annotated[Path, typer.Option(help="HR messages to onboard.")] = SAMPLE_MESSAGES_PATH,
    portal: Annotated[
        Path, typer.Option(help="The portal's bulk-invite CSV to onboard too.")
    ] = SAMPLE_PORTAL_CSV_PATH,
    tenant: Annotated[Path, typer.Option(help="The emulated tenant's seed.")] = SAMPLE_TENANT_PATH,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the queues to drain.")] = 180,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", help="Where the console writes its report.")
    ] = Path("demo-report"),
) -> None:
    """Start Azurite, the Graph emulator and the local host; submit the samples with the
    console, replay what failed, print each guest's status and write the report; stop
    everything. Exits 1 if anything went wrong."""
    from devstack.demo import run_demo

    raise typer.Exit(
        run_demo(
            messages_path=messages,
            tenant_path=tenant,
            timeout=timeout,
            portal_path=portal,
            report_dir=report_dir,
        )
    )


@app.command()
def run(
    tenant: Annotated[Path, typer.Option(help="The emulated tenant's seed.")] = SAMPLE_TENANT_PATH,
) -> None:
    """Start the whole stack and keep it running until Ctrl-C."""
    from devstack.demo import run_stack_forever

    run_stack_forever(tenant_path=tenant)
