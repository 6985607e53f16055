"""Start the pinned Azurite (from the repo's node_modules) for development and tests.

``python -m devstack.azurite`` starts it on the development ports (blob 10000, queue 10001,
table 10002) and waits until Ctrl-C; ``Azurite`` does the same from Python and is a context
manager. Data lives in a temporary ``--location`` folder rather than ``--inMemoryPersistence``
so that it survives restarts of the local Functions host (crash tests rely on that).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

DEV_ACCOUNT_NAME = "devstoreaccount1"
# The well-known, public development-storage key (the same in every Azurite and SDK).
DEV_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
LOCAL_HOST = "127.0.0.1"

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AzuritePorts:
    """The three service ports of one Azurite instance."""

    blob: int
    queue: int
    table: int


DEV_PORTS = AzuritePorts(blob=10000, queue=10001, table=10002)


class AzuriteError(RuntimeError):
    """Azurite could not be started or did not answer in time."""


def connection_string_for(
    blob_port: int, queue_port: int, table_port: int, *, host: str = LOCAL_HOST
) -> str:
    """Return a full connection string for the development account on the given ports.

    Every Storage SDK (queues, tables, blobs) accepts it, unlike ``UseDevelopmentStorage=true``,
    which only ever means the default ports.
    """
    base = f"http://{host}"
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={DEV_ACCOUNT_NAME};"
        f"AccountKey={DEV_ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{DEV_ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{DEV_ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{DEV_ACCOUNT_NAME};"
    )


def expand_development_storage(connection_string: str) -> str:
    """Return ``connection_string`` with the ``UseDevelopmentStorage=true`` shortcut expanded.

    The shortcut becomes the full development-account string on the default ports (or on the
    host named by ``DevelopmentStorageProxyUri``); any other connection string is returned
    unchanged. azure-storage-queue and azure-data-tables 12.7 understand the shortcut
    themselves, but other tools and older SDKs do not, and logs are clearer with endpoints.
    """
    parts = _parse_connection_string(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() != "true":
        return connection_string
    host = LOCAL_HOST
    proxy = parts.get("developmentstorageproxyuri")
    if proxy:
        host = proxy.split("://", 1)[-1].rstrip("/").split(":", 1)[0]
    return connection_string_for(DEV_PORTS.blob, DEV_PORTS.queue, DEV_PORTS.table, host=host)


def _parse_connection_string(connection_string: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for segment in connection_string.split(";"):
        if "=" in segment:
            key, value = segment.split("=", 1)
            parts[key.strip().lower()] = value.strip()
    return parts


def endpoint_answers(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """Return True when an HTTP server answers (any status) on ``host:port``."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", f"/{DEV_ACCOUNT_NAME}?comp=list")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((LOCAL_HOST, port)) == 0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCAL_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports() -> AzuritePorts:
    """Return three distinct free ports for blob, queue and table."""
    chosen: set[int] = set()
    while len(chosen) < 3:
        chosen.add(free_port())
    blob, queue, table = sorted(chosen)
    return AzuritePorts(blob=blob, queue=queue, table=table)


def azurite_entry_point(repo_root: Path = REPO_ROOT) -> Path:
    """Return the Azurite launcher installed by ``npm ci``; raise AzuriteError if it is missing."""
    launcher = repo_root / "node_modules" / ".bin" / "azurite"
    if not launcher.exists():
        raise AzuriteError(
            f"Azurite is not installed ({launcher} is missing): run npm ci in {repo_root}"
        )
    return launcher


class Azurite:
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
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

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
        return self._process.pid if self._process is not None else None

    def start(self) -> Azurite:
        """Start Azurite and return once its queue and table endpoints answer.

        Raises AzuriteError if node_modules lacks Azurite, Node.js is missing, the process
        exits early (for instance a port in use) or the endpoints do not answer in time.
        """
        if self._process is not None:
            raise AzuriteError("Azurite is already started")
        launcher = azurite_entry_point(self._repo_root)
        node = shutil.which("node")
        if node is None:
            raise AzuriteError("Node.js (node) is not on PATH; it is needed to run Azurite")
        busy = [port for port in vars(self.ports).values() if _port_in_use(port)]
        if busy:
            # Otherwise another server's answers would pass for ours while ours fails to bind.
            raise AzuriteError(f"port(s) {busy} on {LOCAL_HOST} are already in use")
        if self._location is None:
            self._location = Path(tempfile.mkdtemp(prefix="azurite-"))
        self._location.mkdir(parents=True, exist_ok=True)
        log_path = self._log_path or self._location / "azurite.log"
        self._log_path = log_path
        self._log_file = log_path.open("ab")
        command = [
            node,
            str(launcher),
            "--location",
            str(self._location),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
            "--blobHost",
            LOCAL_HOST,
            "--queueHost",
            LOCAL_HOST,
            "--tableHost",
            LOCAL_HOST,
            "--blobPort",
            str(self.ports.blob),
            "--queuePort",
            str(self.ports.queue),
            "--tablePort",
            str(self.ports.table),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own session, so Ctrl-C in a terminal reaches us first and we stop it cleanly.
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                raise AzuriteError(
                    f"Azurite exited with code {returncode} before answering; "
                    f"log {self._log_path}:\n{self._log_tail()}"
                )
            if endpoint_answers(LOCAL_HOST, self.ports.queue) and endpoint_answers(
                LOCAL_HOST, self.ports.table
            ):
                return
            if time.monotonic() > deadline:
                raise AzuriteError(
                    f"Azurite did not answer on ports {self.ports} within "
                    f"{self._startup_timeout:.0f} s; log {self._log_path}:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def is_running(self) -> bool:
        """Return True while the Azurite process is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the process (TERM, then KILL after 10 s) and delete a temporary data folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._owns_location and self._location is not None:
            shutil.rmtree(self._location, ignore_errors=True)
            self._location = None

    def __enter__(self) -> Azurite:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run Azurite in the foreground until Ctrl-C or SIGTERM (used by ``make run``)."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.azurite", description="Run the pinned Azurite locally."
    )
    parser.add_argument("--blob-port", type=int, default=DEV_PORTS.blob)
    parser.add_argument("--queue-port", type=int, default=DEV_PORTS.queue)
    parser.add_argument("--table-port", type=int, default=DEV_PORTS.table)
    parser.add_argument(
        "--free-ports", action="store_true", help="pick free ports instead of the dev ports"
    )
    parser.add_argument(
        "--location",
        type=Path,
        default=None,
        help="data folder to keep (default: a temporary folder removed on exit)",
    )
    args = parser.parse_args(argv)
    ports = (
        free_ports()
        if args.free_ports
        else AzuritePorts(blob=args.blob_port, queue=args.queue_port, table=args.table_port)
    )
    if not args.free_ports and endpoint_answers(LOCAL_HOST, ports.queue):
        print(
            f"Something already answers on port {ports.queue}; is Azurite running?",
            file=sys.stderr,
        )
        return 1

    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    azurite = Azurite(ports=ports, location=args.location)
    try:
        azurite.start()
    except AzuriteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        print(
            f"Azurite is running (data in {azurite.location}); press Ctrl-C to stop.\n"
            f"AzureWebJobsStorage={azurite.connection_string}",
            flush=True,
        )
        while not stop_requested:
            if not azurite.is_running():
                print("Azurite exited unexpectedly.", file=sys.stderr)
                return 1
            time.sleep(0.2)
    finally:
        with contextlib.suppress(Exception):
            azurite.stop()
    print("Azurite stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
