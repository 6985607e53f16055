from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import LocalStack, local_stack


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalStack]:
    """Azurite, the Graph emulator (samples/tenant.json) and the local host running this app.

    A short message lease so a killed host's in-flight messages come back within seconds."""
    with local_stack(workdir=tmp_path, message_lease=4) as stack:
        yield stack
