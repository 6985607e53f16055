"""``python -m local_functions_host``: run a function app's queue and timer functions locally."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from local_functions_host.host import (
    DEFAULT_MESSAGE_LEASE,
    DEFAULT_SHUTDOWN_GRACE,
    LocalFunctionsHost,
)

logger = logging.getLogger("local_functions_host")


def configure_logging(level: str) -> None:
    """Log to stderr; the Storage SDKs' per-request lines are kept out unless they warn."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )
    logging.getLogger("azure").setLevel(logging.WARNING)


async def serve(host: LocalFunctionsHost) -> int:
    """Start ``host``, run until SIGINT/SIGTERM, then stop it cleanly."""
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)
    try:
        await host.start()
    except Exception as error:
        logger.error("Host failed to start: %s", error, exc_info=error)
        return 1
    await stop_requested.wait()
    logger.info("Stopping the host")
    await host.stop()
    return 0


cli = typer.Typer(
    add_completion=False,
    help="Run an Azure Functions (Python v2) app's queue and timer functions locally.",
)


@cli.command()
def main(
    app_dir: Annotated[Path, typer.Option(help="The function app's folder.")] = Path("."),
    settings: Annotated[
        Path | None, typer.Option(help="Default: <app-dir>/local.settings.json.")
    ] = None,
    admin_port: Annotated[int, typer.Option(help="0 picks a free port.")] = 7071,
    message_lease: Annotated[
        float,
        typer.Option(help="Seconds a received message stays invisible while processed (renewed)."),
    ] = DEFAULT_MESSAGE_LEASE.total_seconds(),
    shutdown_grace: Annotated[
        float, typer.Option(help="Seconds to let in-flight invocations finish on shutdown.")
    ] = DEFAULT_SHUTDOWN_GRACE.total_seconds(),
    log_level: Annotated[str, typer.Option(help="Python logging level.")] = "INFO",
) -> None:
    """Run the host until it is told to stop (SIGINT or SIGTERM)."""
    configure_logging(log_level)
    host = LocalFunctionsHost(
        app_dir,
        settings_file=settings,
        admin_port=admin_port,
        message_lease=timedelta(seconds=message_lease),
        shutdown_grace=timedelta(seconds=shutdown_grace),
    )
    raise typer.Exit(asyncio.run(serve(host)))


if __name__ == "__main__":
    cli()
