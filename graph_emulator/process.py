"""Start the emulator as a child process and wait until it serves requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from graph_emulator.control import EmulatorControl

DEFAULT_IDENTITY_HEADER = "local-development-only"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class EmulatorStartError(RuntimeError):
    """The emulator exited or did not become healthy before the deadline."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningEmulator:
    """A started emulator process: its URLs, the identity settings, a control client, stop()."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        identity_header: str,
        log_file: IO[bytes] | None,
    ) -> None:
        self.process = process
        self.port = port
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/v1.0"
        self.identity_endpoint = f"{self.root_url}/msi/token"
        self.identity_header = identity_header
        self.control = EmulatorControl(self.root_url)
        self._log_file = log_file

    def identity_environment(self) -> dict[str, str]:
        """The variables that point azure-identity's managed identity at this emulator."""
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process (kill after `timeout`) and close the control client."""
        self.control.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulator(
    port: int | None = None,
    seed_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    *,
    identity_header: str = DEFAULT_IDENTITY_HEADER,
    startup_timeout: float = 15.0,
    access_log: bool = False,
) -> RunningEmulator:
    """Start `python -m graph_emulator` with this interpreter on `port` (default: a free one).

    Returns once `/_control/health` answers. Raises EmulatorStartError if the process exits
    first or the deadline passes (the process is stopped and the log tail included).
    """
    chosen = port or free_port()
    command = [sys.executable, "-m", "graph_emulator", "--port", str(chosen)]
    command += ["--identity-header", identity_header]
    if seed_path is not None:
        command += ["--tenant", str(seed_path)]
    if access_log:
        command.append("--access-log")
    log_file: IO[bytes] | None = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        command,
        stdout=log_file if log_file is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log_file is not None else subprocess.DEVNULL,
        cwd=str(PROJECT_ROOT),
        env=env,
    )
    emulator = RunningEmulator(process, chosen, identity_header, log_file)
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            emulator.stop()
            raise EmulatorStartError(
                f"graph emulator exited with {process.returncode} before becoming healthy"
                + _log_tail(log_path)
            )
        try:
            if httpx.get(f"{emulator.root_url}/_control/health", timeout=1.0).status_code == 200:
                return emulator
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            emulator.stop()
            raise EmulatorStartError(
                f"graph emulator not healthy after {startup_timeout} s" + _log_tail(log_path)
            )
        time.sleep(0.05)


def _log_tail(log_path: str | os.PathLike[str] | None) -> str:
    if log_path is None:
        return ""
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n--- emulator log (tail) ---\n" + text[-2000:]
