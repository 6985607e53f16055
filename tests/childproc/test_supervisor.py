"""childproc: start a child on a free port, wait until it is ready, stop it (TERM, then KILL)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from childproc import (
    StartError,
    free_port,
    free_ports,
    http_get,
    port_in_use,
    python_command,
    python_environment,
    start_child,
)

# A child that logs, then waits; on SIGTERM it logs and exits 0 unless told to ignore it.
SLEEPER = """
import os, signal, sys, time
print("started", os.getpid(), flush=True)
if sys.argv[1] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *a: (print("got SIGTERM", flush=True), sys.exit(0)))
time.sleep(60)
"""


def sleeper(mode: str) -> list[str]:
    return [sys.executable, "-c", SLEEPER, mode]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in [*ports, free_port()]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_http_server_child_is_ready_when_it_answers_then_stops(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    child = start_child(
        python_command("http.server", str(port), "--bind", "127.0.0.1"),
        name="http.server",
        ready=lambda: http_get(port, "/") is not None,
        log_path=log,
        cwd=tmp_path,
    )
    with child:
        answer = http_get(port, "/")
        assert answer is not None and answer[0] == 200
    assert child.returncode is not None
    assert http_get(port, "/") is None


def test_stop_sends_sigterm_first(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = start_child(
        sleeper("exit-on-term"),
        name="sleeper",
        ready=lambda: "started" in log.read_text(),
        log_path=log,
    )
    assert child.is_running()
    assert child.stop(timeout=10) == 0
    assert "got SIGTERM" in child.log_text()


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = start_child(
        sleeper("ignore-term"),
        name="stubborn",
        ready=lambda: "started" in log.read_text(),
        log_path=log,
    )
    started = time.monotonic()
    assert child.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_kill_is_immediate(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    child = start_child(
        sleeper("exit-on-term"),
        name="sleeper",
        ready=lambda: "started" in log.read_text(),
        log_path=log,
    )
    assert child.kill() == -signal.SIGKILL
    assert "got SIGTERM" not in child.log_text()


def test_a_child_that_dies_before_ready_raises_with_its_log(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('cannot bind'); raise SystemExit(3)"]
    with pytest.raises(StartError, match=r"(?s)exited with code 3.*cannot bind"):
        start_child(command, name="doomed", ready=lambda: False, log_path=tmp_path / "x.log")


def test_a_child_never_ready_is_killed_at_the_deadline(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    started = time.monotonic()
    with pytest.raises(StartError, match="not ready within"):
        start_child(
            sleeper("ignore-term"),
            name="slow",
            ready=lambda: False,
            log_path=log,
            startup_timeout=1,
        )
    assert time.monotonic() - started < 10
    pid = int(log.read_text().split()[1])
    assert not alive(pid)


def test_python_environment_puts_the_root_first(tmp_path: Path) -> None:
    env = python_environment(tmp_path, {"EXTRA": "1", "PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/elsewhere"]
    assert env["EXTRA"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_output_is_discarded_without_a_log() -> None:
    child = start_child(sleeper("exit-on-term"), name="quiet", ready=lambda: True)
    try:
        assert child.log_text() == ""
        assert alive(child.pid)
    finally:
        child.stop()
    assert not alive(child.pid)
