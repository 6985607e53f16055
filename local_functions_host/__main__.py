"""``python -m local_functions_host``: run a function app's queue and timer functions locally."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from local_functions_host.host import (
    DEFAULT_MESSAGE_LEASE,
    DEFAULT_SHUTDOWN_GRACE,
    LocalFunctionsHost,
)

logger = logging.getLogger("local_functions_host")


def configure_logging(level: str) -> None:
    """Log to stderr; the Storage SDKs' per-request lines are kept out unless they warn."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )
    logging.getLogger("azure").setLevel(logging.WARNING)


async def serve(host: LocalFunctionsHost) -> int:
    """Start ``host``, run until SIGINT/SIGTERM, then stop it cleanly."""
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_requested.set)
    try:
        await host.start()
    except Exception as error:
        logger.error("Host failed to start: %s", error, exc_info=error)
        return 1
    await stop_requested.wait()
    logger.info("Stopping the host")
    await host.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the host until it is told to stop."""
    parser = argparse.ArgumentParser(
        prog="python -m local_functions_host",
        description="Run an Azure Functions (Python v2) app's queue and timer functions locally.",
    )
    parser.add_argument("--app-dir", type=Path, default=Path("."))
    parser.add_argument(
        "--settings", type=Path, default=None, help="default: <app-dir>/local.settings.json"
    )
    parser.add_argument("--admin-port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument(
        "--message-lease",
        type=float,
        default=DEFAULT_MESSAGE_LEASE.total_seconds(),
        help="seconds a received message stays invisible while processed (renewed)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=float,
        default=DEFAULT_SHUTDOWN_GRACE.total_seconds(),
        help="seconds to let in-flight invocations finish on shutdown",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    host = LocalFunctionsHost(
        args.app_dir,
        settings_file=args.settings,
        admin_port=args.admin_port,
        message_lease=timedelta(seconds=args.message_lease),
        shutdown_grace=timedelta(seconds=args.shutdown_grace),
    )
    return asyncio.run(serve(host))


if __name__ == "__main__":
    raise SystemExit(main())
