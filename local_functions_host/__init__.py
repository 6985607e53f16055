"""A small local Functions host: runs a Python v2-model app's queue and timer functions.

It stands in for Azure Functions Core Tools where those cannot be installed, with the same
meaning of function_app.py, host.json and local.settings.json (``func start`` keeps working).
"""

from __future__ import annotations

from local_functions_host.host import HostStartError, LocalFunctionsHost
from local_functions_host.host_config import HostConfig, QueueOptions, load_host_config
from local_functions_host.process import HostProcessError, RunningHost, start_host_process

__all__ = [
    "HostConfig",
    "HostProcessError",
    "HostStartError",
    "LocalFunctionsHost",
    "QueueOptions",
    "RunningHost",
    "load_host_config",
    "start_host_process",
]
