"""Command line: `python -m graph_emulator --port N [--tenant seed.json] [--host 127.0.0.1]`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from graph_emulator.server import DEFAULT_IDENTITY_HEADER, create_app

cli = typer.Typer(add_completion=False, help="Serve a local Microsoft Graph tenant.")


@cli.command()
def main(
    port: Annotated[int, typer.Option(help="Port to listen on.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    tenant: Annotated[
        Path | None, typer.Option(help="Seed JSON (see graph_emulator/README.md).")
    ] = None,
    identity_header: Annotated[
        str,
        typer.Option(
            help="The X-IDENTITY-HEADER value /msi/token requires (IDENTITY_HEADER for clients)."
        ),
    ] = DEFAULT_IDENTITY_HEADER,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    check_responses: Annotated[
        bool,
        typer.Option(
            "--check-responses/--no-check-responses",
            help="Check every answer against Graph's schema (a non-conforming one becomes a 500).",
        ),
    ] = True,
) -> None:
    """Build the tenant from the seed and serve it until interrupted."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    seed = json.loads(tenant.read_text(encoding="utf-8")) if tenant else None
    app = create_app(seed, identity_header=identity_header, check_responses=check_responses)
    print(f"graph emulator listening on http://{host}:{port}/v1.0", flush=True)
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
    )


if __name__ == "__main__":
    cli()
