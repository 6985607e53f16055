"""Run the local host as a subprocess (tests, the demo): start, wait until ready, stop or kill."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from childproc import (
    ChildProcess,
    StartError,
    StopsOnExit,
    free_port,
    http_get,
    python_command,
    python_environment,
    start_child,
)

_REPO_ROOT = Path(__file__).resolve().parent.parent


class HostProcessError(StartError):
    """The host process exited, or did not become ready, before the deadline."""


def _is_running(port: int) -> bool:
    answer = http_get(port, "/admin/host/status", timeout=2.0)
    if answer is None or answer[0] != 200:
        return False
    try:
        status = json.loads(answer[1])
    except ValueError:
        return False
    return isinstance(status, dict) and status.get("state") == "Running"


@dataclass
class RunningHost(StopsOnExit):
    """A host subprocess that answered ``/admin/host/status`` with state Running."""

    process: ChildProcess
    admin_port: int

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
        return self.process.is_running()

    def log_text(self) -> str:
        """Everything the host has logged so far."""
        return self.process.log_text()

    def stop(self, timeout: float = 30.0) -> int:
        """Send SIGTERM (a clean shutdown), wait, SIGKILL if it hangs; return the exit code."""
        return self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the host at once (a crash): in-flight messages are abandoned mid-invocation."""
        self.process.kill()


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
    args = ["--app-dir", str(app_dir), "--admin-port", str(port)]
    if settings_path is not None:
        args += ["--settings", str(settings_path)]
    if message_lease is not None:
        args += ["--message-lease", str(message_lease)]
    if shutdown_grace is not None:
        args += ["--shutdown-grace", str(shutdown_grace)]
    args += list(extra_args)
    try:
        child = start_child(
            python_command("local_functions_host", *args),
            name="the local Functions host",
            ready=lambda: _is_running(port),
            log_path=log_path,
            cwd=app_dir,
            env=python_environment(_REPO_ROOT, env),
            startup_timeout=startup_timeout,
            poll_interval=0.1,
        )
    except StartError as error:
        raise HostProcessError(str(error)) from error
    return RunningHost(process=child, admin_port=port)
