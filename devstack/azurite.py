"""Start the pinned Azurite (from the repo's node_modules) for development and tests.

``python -m devstack.azurite`` starts it on the development ports (blob 10000, queue 10001,
table 10002) and waits until Ctrl-C; ``Azurite`` does the same from Python and is a context
manager. Data lives in a temporary ``--location`` folder rather than ``--inMemoryPersistence``
so that it survives restarts of the local Functions host (crash tests rely on that).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from childproc import (
    ChildProcess,
    StartError,
    StopsOnExit,
    free_ports,
    http_get,
    port_in_use,
    start_child,
)
from local_functions_host.storage import (
    DEV_ACCOUNT_NAME,
    DEV_BLOB_PORT,
    DEV_HOST,
    DEV_QUEUE_PORT,
    DEV_TABLE_PORT,
    connection_string_for,
)

LOCAL_HOST = DEV_HOST
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AzuritePorts:
    """The three service ports of one Azurite instance."""

    blob: int
    queue: int
    table: int

    @classmethod
    def free(cls) -> AzuritePorts:
        """Three distinct ports that were free a moment ago."""
        blob, queue, table = free_ports(3)
        return cls(blob=blob, queue=queue, table=table)


DEV_PORTS = AzuritePorts(blob=DEV_BLOB_PORT, queue=DEV_QUEUE_PORT, table=DEV_TABLE_PORT)


class AzuriteError(RuntimeError):
    """Azurite could not be started or did not answer in time."""


def endpoint_answers(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """Return True when an HTTP server answers (any status) on ``host:port``."""
    return http_get(port, f"/{DEV_ACCOUNT_NAME}?comp=list", host=host, timeout=timeout) is not None


def azurite_entry_point(repo_root: Path = REPO_ROOT) -> Path:
    """Return the Azurite launcher installed by ``npm ci``; raise AzuriteError if it is missing."""
    launcher = repo_root / "node_modules" / ".bin" / "azurite"
    if not launcher.exists():
        raise AzuriteError(
            f"Azurite is not installed ({launcher} is missing): run npm ci in {repo_root}"
        )
    return launcher


class Azurite(StopsOnExit):
    """One Azurite process, started from the repo's node_modules.

    Construct, then ``start()`` (or use ``with``); ``connection_string`` names its endpoints;
    ``stop()`` ends it and removes the temporary data folder it created.
    """

    def __init__(
        self,
        *,
        ports: AzuritePorts | None = None,
        location: Path | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 30.0,
        repo_root: Path = REPO_ROOT,
    ) -> None:
        self.ports = ports if ports is not None else DEV_PORTS
        self._location = location
        self._owns_location = location is None
        self._log_path = log_path
        self._startup_timeout = startup_timeout
        self._repo_root = repo_root
        self._child: ChildProcess | None = None

    @property
    def connection_string(self) -> str:
        """The full connection string of this instance's development account."""
        return connection_string_for(self.ports.blob, self.ports.queue, self.ports.table)

    @property
    def location(self) -> Path | None:
        """The data folder, once started."""
        return self._location

    @property
    def pid(self) -> int | None:
        """The Azurite process id while running."""
        return self._child.pid if self._child is not None else None

    def start(self) -> Azurite:
        """Start Azurite and return once its queue and table endpoints answer.

        Raises AzuriteError if node_modules lacks Azurite, Node.js is missing, the process
        exits early (for instance a port in use) or the endpoints do not answer in time.
        """
        if self._child is not None:
            raise AzuriteError("Azurite is already started")
        launcher = azurite_entry_point(self._repo_root)
        node = shutil.which("node")
        if node is None:
            raise AzuriteError("Node.js (node) is not on PATH; it is needed to run Azurite")
        busy = [port for port in vars(self.ports).values() if port_in_use(port)]
        if busy:
            # Otherwise another server's answers would pass for ours while ours fails to bind.
            raise AzuriteError(f"port(s) {busy} on {LOCAL_HOST} are already in use")
        if self._location is None:
            self._location = Path(tempfile.mkdtemp(prefix="azurite-"))
        self._location.mkdir(parents=True, exist_ok=True)
        self._log_path = self._log_path or self._location / "azurite.log"
        command = [node, str(launcher), "--location", str(self._location)]
        command += ["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]
        for service in ("blob", "queue", "table"):
            command += [f"--{service}Host", LOCAL_HOST]
            command += [f"--{service}Port", str(getattr(self.ports, service))]
        try:
            self._child = start_child(
                command,
                name="Azurite",
                ready=self._answers,
                log_path=self._log_path,
                startup_timeout=self._startup_timeout,
                # Its own session, so Ctrl-C in a terminal reaches us first and we stop it cleanly.
                new_session=True,
            )
        except StartError as error:
            self.stop()
            raise AzuriteError(str(error)) from error
        return self

    def _answers(self) -> bool:
        return endpoint_answers(LOCAL_HOST, self.ports.queue) and endpoint_answers(
            LOCAL_HOST, self.ports.table
        )

    def is_running(self) -> bool:
        """Return True while the Azurite process is alive."""
        return self._child is not None and self._child.is_running()

    def stop(self) -> None:
        """Stop the process (TERM, then KILL after 10 s) and delete a temporary data folder."""
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        if self._owns_location and self._location is not None:
            shutil.rmtree(self._location, ignore_errors=True)
            self._location = None

    def __enter__(self) -> Azurite:
        if self._child is None:
            self.start()
        return self


cli = typer.Typer(add_completion=False, help="Run the pinned Azurite locally.")


@cli.command()
def main(
    blob_port: Annotated[int, typer.Option(help="Blob service port.")] = DEV_PORTS.blob,
    queue_port: Annotated[int, typer.Option(help="Queue service port.")] = DEV_PORTS.queue,
    table_port: Annotated[int, typer.Option(help="Table service port.")] = DEV_PORTS.table,
    use_free_ports: Annotated[
        bool, typer.Option("--free-ports", help="Pick free ports instead of the dev ports.")
    ] = False,
    location: Annotated[
        Path | None,
        typer.Option(help="Data folder to keep (default: a temporary folder removed on exit)."),
    ] = None,
) -> None:
    """Run Azurite in the foreground until Ctrl-C or SIGTERM (used by ``make run``)."""
    ports = (
        AzuritePorts.free()
        if use_free_ports
        else AzuritePorts(blob=blob_port, queue=queue_port, table=table_port)
    )
    if not use_free_ports and endpoint_answers(LOCAL_HOST, ports.queue):
        typer.echo(f"Something answers on port {ports.queue}; is Azurite running?", err=True)
        raise typer.Exit(1)
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    azurite = Azurite(ports=ports, location=location)
    try:
        azurite.start()
    except AzuriteError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    try:
        typer.echo(
            f"Azurite is running (data in {azurite.location}); press Ctrl-C to stop.\n"
            f"AzureWebJobsStorage={azurite.connection_string}"
        )
        while not stop_requested:
            if not azurite.is_running():
                typer.echo("Azurite exited unexpectedly.", err=True)
                raise typer.Exit(1)
            time.sleep(0.2)
    finally:
        azurite.stop()
    typer.echo("Azurite stopped.")


if __name__ == "__main__":
    cli()
