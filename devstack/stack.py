"""The whole local stack in one place: Azurite, the Graph emulator and the local Functions host,
wired with the app settings of ``local.settings.example.json``. Used by the demo, ``make run``,
the end-to-end tests, the benchmarks and the chaos run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient, QueueServiceClient

from devstack.azurite import DEV_PORTS, Azurite, AzuritePorts
from devstack.provision import provision_storage
from devstack.seeds import SAMPLE_TENANT_PATH
from graph_emulator.process import RunningEmulator, start_emulator
from guest_console.storage.ports import read_envelope
from guest_onboarding.bootstrap import build_ledger
from guest_onboarding.config import Settings
from guest_onboarding.domain.ledger import LedgerEntry
from local_functions_host.process import RunningHost, start_host_process
from local_functions_host.settings import load_local_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SETTINGS = REPO_ROOT / "local.settings.example.json"


def app_settings(
    connection_string: str, emulator: RunningEmulator, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The example settings pointed at this Azurite and this emulator."""
    values = load_local_settings(EXAMPLE_SETTINGS)
    values |= {
        "AzureWebJobsStorage": connection_string,
        "GRAPH_BASE_URL": emulator.base_url,
        **emulator.identity_environment(),
    }
    return values | dict(overrides or {})


@dataclass
class LocalStack:
    """A running stack; the host can be stopped, killed and restarted on its own."""

    azurite: Azurite
    emulator: RunningEmulator
    settings: dict[str, str]
    workdir: Path
    admin_port: int | None = None
    message_lease: float | None = None
    host: RunningHost | None = None
    host_starts: int = 0
    #: Hosts started by :meth:`start_hosts` (scale-out runs), besides ``host``.
    hosts: list[RunningHost] = field(default_factory=list)
    _queues: QueueServiceClient | None = field(default=None, repr=False)

    @property
    def queues(self) -> QueueServiceClient:
        if self._queues is None:
            self._queues = QueueServiceClient.from_connection_string(self.azurite.connection_string)
        return self._queues

    def queue(self, name: str) -> QueueClient:
        """A client of one queue (provisioned when the stack started)."""
        return self.queues.get_queue_client(name)

    @property
    def invitations_queue(self) -> str:
        return self.settings["INVITATIONS_QUEUE"]

    @property
    def assignments_queue(self) -> str:
        return self.settings["ASSIGNMENTS_QUEUE"]

    def start_host(self) -> RunningHost:
        """Start (or restart) the local Functions host on this repository's function app."""
        self.host_starts += 1
        self.host = start_host_process(
            REPO_ROOT,
            self.settings,
            self.workdir / f"host-{self.host_starts}.log",
            admin_port=self.admin_port,
            settings_path=self.workdir / "no-local-settings.json",
            message_lease=self.message_lease,
        )
        return self.host

    def stop_host(self) -> None:
        if self.host is not None:
            self.host.stop()
            self.host = None

    def start_hosts(self, count: int) -> list[RunningHost]:
        """Start ``count`` more hosts at once on the same settings, queues and emulator, as
        instances of one app scaled out: each its own process, log and admin port."""

        def start(index: int) -> RunningHost:
            return start_host_process(
                REPO_ROOT,
                self.settings,
                self.workdir / f"host-scaled-{index}.log",
                settings_path=self.workdir / "no-local-settings.json",
                message_lease=self.message_lease,
            )

        first = len(self.hosts)
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(start, i) for i in range(first, first + count)]
        # Track every host that did start (so the stack stops it), then report a failure.
        started = [f.result() for f in futures if f.exception() is None]
        self.hosts += started
        failed = [error for f in futures if (error := f.exception()) is not None]
        if failed:
            raise failed[0]
        return started

    def stop_hosts(self) -> None:
        """Stop every host :meth:`start_hosts` started."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.hosts))) as pool:
            list(pool.map(lambda host: host.stop(), self.hosts))
        self.hosts = []

    def kill_host(self) -> None:
        """SIGKILL the host, as a crash would: in-flight messages reappear after their lease."""
        if self.host is not None:
            self.host.kill()
            self.host = None

    def send(self, body: str) -> None:
        self.queue(self.invitations_queue).send_message(body)

    def pending_messages(self) -> int:
        """Messages left on the work queues, invisible (in-flight or delayed) ones included."""
        total = 0
        for name in (self.invitations_queue, self.assignments_queue):
            total += self.queue(name).get_queue_properties().approximate_message_count or 0
        return total

    def wait_until_drained(self, timeout: float, *, settle: int = 3) -> bool:
        """True once both work queues stay empty for ``settle`` polls in a row."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            if self.host is not None and not self.host.is_running():
                raise RuntimeError("the local host died:\n" + self.host.log_text()[-3000:])
            quiet = quiet + 1 if self.pending_messages() == 0 else 0
            if quiet >= settle:
                return True
            time.sleep(0.5)
        return False

    def poison(self, queue: str) -> list[dict[str, Any]]:
        """Every message on ``<queue>-poison`` (read without removing it)."""
        client = self.queue(f"{queue}-poison")
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        # peek shows at most 32; receive with a short lease to see them all, then let them go
        while True:
            batch = list(client.receive_messages(max_messages=32, visibility_timeout=5))
            fresh = [m for m in batch if m.id not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message.id)
                found.append(read_envelope(message.content).envelope())
        return found

    def resolve_poison(
        self, queue: str, *, code: str, decide: Callable[[dict[str, Any]], str]
    ) -> dict[str, list[dict[str, Any]]]:
        """What an operator does after looking at the ``<queue>-poison`` messages with this
        error ``code``: ``decide(envelope)`` says ``"replay"`` (the original goes back on
        ``queue``, unchanged), ``"discard"`` (resolved otherwise) or ``"keep"``. The envelopes
        replayed and discarded."""
        poison = self.queue(f"{queue}-poison")
        done: dict[str, list[dict[str, Any]]] = {"replay": [], "discard": []}
        kept = []
        # Every message is taken once (kept invisible while the scan goes on), so one that stays
        # is not seen again; those kept are made visible at the end.
        for message in poison.receive_messages(messages_per_page=32, visibility_timeout=60):
            rejection = read_envelope(message.content)
            envelope = rejection.envelope()
            action = decide(envelope) if rejection.code == code else "keep"
            if action == "keep":
                kept.append(message)
                continue
            if action == "replay":
                self.queue(queue).send_message(rejection.original)
            poison.delete_message(message)
            done[action].append(envelope)
        for message in kept:
            poison.update_message(message, visibility_timeout=0)
        return done

    def ledger_entries(self) -> list[LedgerEntry]:
        """Every ledger row, read through the app's own ledger (its read side)."""

        async def read() -> list[LedgerEntry]:
            ledger = build_ledger(Settings.from_env(self.settings))
            try:
                return [entry async for entry in ledger.entries()]
            finally:
                await ledger.close()

        return asyncio.run(read())

    def close(self) -> None:
        if self._queues is not None:
            self._queues.close()


@contextmanager
def local_stack(
    *,
    workdir: Path,
    tenant_path: Path | None = SAMPLE_TENANT_PATH,
    overrides: Mapping[str, str] | None = None,
    development_ports: bool = False,
    emulator_port: int | None = None,
    admin_port: int | None = None,
    message_lease: float | None = None,
    start_host: bool = True,
) -> Iterator[LocalStack]:
    """Start Azurite, the emulator and (unless told not to) the host; stop all of them after.

    The queues and the ledger table are provisioned before the host starts, as Bicep does.

    ``development_ports`` puts Azurite on 10000-10002 (``UseDevelopmentStorage=true``), for
    ``make run``; otherwise free ports keep it clear of anything else running."""
    with ExitStack() as stack:
        azurite = Azurite(
            ports=DEV_PORTS if development_ports else AzuritePorts.free(),
            location=workdir / "azurite",
            log_path=workdir / "azurite.log",
        )
        stack.enter_context(azurite.start())
        emulator = stack.enter_context(
            start_emulator(
                port=emulator_port, seed_path=tenant_path, log_path=workdir / "graph-emulator.log"
            )
        )
        settings = app_settings(azurite.connection_string, emulator, overrides)
        provision_storage(azurite.connection_string, settings)
        running = LocalStack(
            azurite=azurite,
            emulator=emulator,
            settings=settings,
            workdir=workdir,
            admin_port=admin_port,
            message_lease=message_lease,
        )
        stack.callback(running.close)
        stack.callback(running.stop_hosts)
        stack.callback(running.stop_host)
        if start_host:
            running.start_host()
        yield running
