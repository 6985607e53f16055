"""Fixtures for the local host tests: an in-process host factory and a records file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from local_functions_host import LocalFunctionsHost

StartHost = Callable[..., Awaitable[LocalFunctionsHost]]


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    """Where the test apps append what they observed."""
    return tmp_path / "records.jsonl"


@pytest.fixture
async def start_host(tmp_path: Path) -> AsyncIterator[StartHost]:
    """Start LocalFunctionsHost instances in this process; all are stopped after the test."""
    started: list[LocalFunctionsHost] = []

    async def start(
        app_dir: Path,
        environ: Mapping[str, str],
        *,
        message_lease: float = 30.0,
        admin_port: int | None = None,
        settings_file: Path | None = None,
    ) -> LocalFunctionsHost:
        host = LocalFunctionsHost(
            app_dir,
            environ=environ,
            admin_port=admin_port,
            settings_file=settings_file or tmp_path / "no-local.settings.json",
            message_lease=timedelta(seconds=message_lease),
            shutdown_grace=timedelta(seconds=2),
        )
        await host.start()
        started.append(host)
        return host

    yield start
    for host in reversed(started):
        await host.stop()
