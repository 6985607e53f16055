"""Spawn a child process, wait until it is ready, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from childproc.ports import LOCAL_HOST

DEFAULT_STOP_TIMEOUT = 10.0


class StartError(RuntimeError):
    """The child exited, or was not ready, before the deadline (the message has its log tail)."""


class StopsOnExit:
    """``with thing:`` stops the thing (``stop()``) when the block ends, however it ends."""

    def stop(self) -> object:
        """Stop what was started."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ChildProcess(StopsOnExit):
    """A started child process and its log file.

    ``stop()`` asks it to end (SIGTERM) and kills it (SIGKILL) if it has not ended in time;
    ``kill()`` kills it at once, as a crash would. Both close the log file and may be called
    more than once. Usable as a context manager (``stop()`` on exit).
    """

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        name: str,
        log_path: Path | None,
        log_file: IO[bytes] | None,
    ) -> None:
        self._popen = popen
        self.name = name
        self.log_path = log_path
        self._log_file = log_file

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has ended (negative: the signal that ended it)."""
        return self._popen.poll()

    def is_running(self) -> bool:
        """True while the child has not exited."""
        return self._popen.poll() is None

    def log_text(self) -> str:
        """Everything the child has written to its log so far ("" without a log)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit code."""
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            try:
                self._popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait(timeout=DEFAULT_STOP_TIMEOUT)
        self._close_log()
        return self._popen.returncode

    def kill(self) -> int:
        """SIGKILL at once (a crash); return the exit code."""
        if self._popen.poll() is None:
            self._popen.kill()
        self._popen.wait(timeout=DEFAULT_STOP_TIMEOUT)
        self._close_log()
        return self._popen.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def python_command(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with the interpreter running this code."""
    return [sys.executable, "-m", module, *args]


def python_environment(import_root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``extra``, with ``import_root`` first on PYTHONPATH and
    unbuffered output (so the log shows what happened before a crash)."""
    environment = dict(os.environ)
    environment.update(extra or {})
    path = [str(import_root), *filter(None, [environment.get("PYTHONPATH")])]
    environment["PYTHONPATH"] = os.pathsep.join(path)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def http_get(
    port: int, path: str, *, host: str = LOCAL_HOST, timeout: float = 1.0
) -> tuple[int, bytes] | None:
    """GET ``http://host:port/path``: the status and body, or None when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return None
    finally:
        connection.close()


def start_child(
    command: Sequence[str],
    *,
    name: str,
    ready: Callable[[], bool],
    log_path: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    poll_interval: float = 0.05,
    new_session: bool = False,
) -> ChildProcess:
    """Start ``command`` and return once ``ready()`` is true.

    Output (stdout and stderr) is appended to ``log_path`` (discarded without one). Raises
    StartError, with the log's tail, when the child exits first or ``startup_timeout``
    seconds pass (the child is killed then). ``new_session`` puts the child in its own
    session, so a Ctrl-C in the terminal reaches only this process, which then stops it.
    """
    log_file: IO[bytes] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = log_path.open("ab")
    output: IO[bytes] | int = log_file if log_file is not None else subprocess.DEVNULL
    popen = subprocess.Popen(
        list(command),
        cwd=str(cwd) if cwd is not None else None,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )
    child = ChildProcess(popen, name=name, log_path=log_path, log_file=log_file)
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            if not child.is_running():
                raise StartError(
                    f"{name} exited with code {child.returncode} before it was ready; "
                    f"log {log_path}:\n{child.log_tail()}"
                )
            if ready():
                return child
            if time.monotonic() > deadline:
                raise StartError(
                    f"{name} was not ready within {startup_timeout:.0f} s; "
                    f"log {log_path}:\n{child.log_tail()}"
                )
            time.sleep(poll_interval)
    except BaseException:
        child.kill()
        raise
