"""Run the local host as a subprocess (tests, the demo): start, wait until ready, stop or kill."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from devstack.azurite import free_port

_REPO_ROOT = Path(__file__).resolve().parent.parent


class HostProcessError(RuntimeError):
    """The host process exited, or did not become ready, before the deadline."""


def _read_status(port: int) -> dict[str, object] | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/admin/host/status")
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        status: dict[str, object] = json.loads(body)
        return status
    except (OSError, ValueError):
        return None
    finally:
        connection.close()


@dataclass
class RunningHost:
    """A host subprocess that answered ``/admin/host/status`` with state Running."""

    process: subprocess.Popen[bytes]
    admin_port: int
    log_path: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def admin_url(self) -> str:
        """Base URL of the admin endpoint, e.g. ``http://127.0.0.1:7071``."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        """The host's process id."""
        return self.process.pid

    def is_running(self) -> bool:
        """True while the process has not exited."""
        return self.process.poll() is None

    def log_text(self) -> str:
        """Everything the host has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """Send SIGTERM (a clean shutdown), wait, SIGKILL if it hangs; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the host at once (a crash): in-flight messages are abandoned mid-invocation."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> RunningHost:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_host_process(
    app_dir: Path,
    env: Mapping[str, str] | None,
    log_path: Path,
    *,
    admin_port: int | None = None,
    settings_path: Path | None = None,
    message_lease: float | None = None,
    shutdown_grace: float | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> RunningHost:
    """Start ``python -m local_functions_host`` for ``app_dir`` and wait until it is Running.

    ``env`` is added to this process's environment (it wins over local.settings.json, as
    exported variables do). Output goes to ``log_path``. Raises HostProcessError, with the
    log's tail, if the process exits or is not ready within ``startup_timeout`` seconds.
    """
    port = admin_port if admin_port is not None else free_port()
    command = [
        sys.executable,
        "-m",
        "local_functions_host",
        "--app-dir",
        str(app_dir),
        "--admin-port",
        str(port),
    ]
    if settings_path is not None:
        command += ["--settings", str(settings_path)]
    if message_lease is not None:
        command += ["--message-lease", str(message_lease)]
    if shutdown_grace is not None:
        command += ["--shutdown-grace", str(shutdown_grace)]
    command += list(extra_args)
    environment = dict(os.environ)
    environment.update(env or {})
    python_path = [str(_REPO_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    environment["PYTHONPATH"] = os.pathsep.join(python_path)
    environment["PYTHONUNBUFFERED"] = "1"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        command,
        cwd=str(app_dir),
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    host = RunningHost(process=process, admin_port=port, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            host._close_log()
            raise HostProcessError(
                f"the host exited with code {process.returncode} before it was ready; "
                f"log {log_path}:\n{_tail(log_path)}"
            )
        status = _read_status(port)
        if status is not None and status.get("state") == "Running":
            return host
        if time.monotonic() > deadline:
            host.kill()
            raise HostProcessError(
                f"the host was not ready within {startup_timeout:.0f} s; "
                f"log {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
