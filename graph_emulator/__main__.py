"""Command line: `python -m graph_emulator --port N [--tenant seed.json] [--host 127.0.0.1]`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from aiohttp import web

from graph_emulator.server import DEFAULT_IDENTITY_HEADER, create_app


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the tenant and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m graph_emulator", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tenant", type=Path, help="seed JSON (see graph_emulator/README.md)")
    parser.add_argument(
        "--identity-header",
        default=DEFAULT_IDENTITY_HEADER,
        help="the X-IDENTITY-HEADER value /msi/token requires (IDENTITY_HEADER for clients)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    seed = json.loads(args.tenant.read_text(encoding="utf-8")) if args.tenant else None
    app = create_app(seed, identity_header=args.identity_header)
    print(f"graph emulator listening on http://{args.host}:{args.port}/v1.0", flush=True)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
