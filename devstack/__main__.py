"""``python -m devstack``: the local stack's command line (demo, run, enqueue)."""

from devstack.cli import app

app()
