"""Start the emulator as a child process and wait until it serves requests."""

from __future__ import annotations

import os
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
from graph_emulator.control import EmulatorControl

DEFAULT_IDENTITY_HEADER = "local-development-only"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class EmulatorStartError(StartError):
    """The emulator exited or did not become healthy before the deadline."""


class RunningEmulator(StopsOnExit):
    """A started emulator process: its URLs, the identity settings, a control client, stop()."""

    def __init__(self, process: ChildProcess, port: int, identity_header: str) -> None:
        self.process = process
        self.port = port
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/v1.0"
        self.identity_endpoint = f"{self.root_url}/msi/token"
        self.identity_header = identity_header
        self.control = EmulatorControl(self.root_url)

    def identity_environment(self) -> dict[str, str]:
        """The variables that point azure-identity's managed identity at this emulator."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process (kill after `timeout`) and close the control client."""
        self.control.close()
        self.process.stop(timeout)


def start_emulator(
    port: int | None = None,
    seed_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    *,
    identity_header: str = DEFAULT_IDENTITY_HEADER,
    startup_timeout: float = 15.0,
    access_log: bool = False,
    check_responses: bool = True,
) -> RunningEmulator:
    """Start `python -m graph_emulator` with this interpreter on `port` (default: a free one).

    ``check_responses`` (default on): every answer is checked against Graph's schema and one
    that would not conform becomes a 500. Returns once `/_control/health` answers. Raises
    EmulatorStartError if the process exits first or the deadline passes (the process is
    stopped and the log tail included).
    """
    chosen = port or free_port()
    args = ["--port", str(chosen), "--identity-header", identity_header]
    if seed_path is not None:
        args += ["--tenant", str(seed_path)]
    if access_log:
        args.append("--access-log")
    if not check_responses:
        args.append("--no-check-responses")

    def healthy() -> bool:
        answer = http_get(chosen, "/_control/health")
        return answer is not None and answer[0] == 200

    try:
        child = start_child(
            python_command("graph_emulator", *args),
            name="graph emulator",
            ready=healthy,
            log_path=Path(log_path) if log_path is not None else None,
            cwd=PROJECT_ROOT,
            env=python_environment(PROJECT_ROOT),
            startup_timeout=startup_timeout,
        )
    except StartError as error:
        raise EmulatorStartError(str(error)) from error
    return RunningEmulator(child, chosen, identity_header)
