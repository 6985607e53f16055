"""Start and stop the development stack's child processes (Azurite, the Graph emulator, the
local Functions host) on free ports.

One way to do it for all three: spawn a command (``python_command`` runs a module with this
interpreter) with its output in a log file, wait on a readiness check with a deadline while
watching that the process has not died, and stop it with SIGTERM, then SIGKILL. This package
sits below everything else in the repository and imports only the standard library.
"""

from __future__ import annotations

from childproc.ports import LOCAL_HOST, free_port, free_ports, port_in_use
from childproc.supervisor import (
    ChildProcess,
    StartError,
    StopsOnExit,
    http_get,
    python_command,
    python_environment,
    start_child,
)

__all__ = [
    "LOCAL_HOST",
    "ChildProcess",
    "StartError",
    "StopsOnExit",
    "free_port",
    "free_ports",
    "http_get",
    "port_in_use",
    "python_command",
    "python_environment",
    "start_child",
]
