"""What the console's ``plan`` reads from Graph: the tenant's dynamic groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from guest_onboarding.ports import DirectoryGroup


class GroupReader(Protocol):
    """The tenant's dynamic groups (``guest_console.graph.adapters.build_group_reader``)."""

    def dynamic_groups(self) -> AsyncIterator[DirectoryGroup]:
        """Every group whose ``groupTypes`` holds ``DynamicMembership``, with its rule."""
        ...

    async def aclose(self) -> None: ...
