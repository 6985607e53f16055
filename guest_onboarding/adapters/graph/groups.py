"""The operator console's read of the tenant's dynamic groups (``plan``): the directory adapter
plus ``GET /groups`` filtered on ``groupTypes``. The app never calls it (its permission row is the
console's, ``infra/checks/graph_permissions.py`` ``LIST_GROUPS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from guest_onboarding.adapters.graph.directory import _PAGE_SIZE, GraphDirectory
from guest_onboarding.adapters.graph.payloads import GROUP_FIELDS, directory_group
from guest_onboarding.adapters.graph.responses import json_object
from guest_onboarding.errors import ServiceUnavailable
from guest_onboarding.ports import DYNAMIC_MEMBERSHIP, DirectoryGroup


class GraphGroupReader(GraphDirectory):
    """``ports.GroupReader`` on Graph, paging and throttling as the sweep's listing does."""

    async def dynamic_groups(self) -> AsyncIterator[DirectoryGroup]:
        """Every dynamic group of the tenant with its rule (``GET /groups``, ``$filter`` on
        ``groupTypes``), one page at a time: the console's ``plan`` (GroupMember.Read.All, the
        operator's identity), never the app."""
        from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder

        query = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
            filter=f"groupTypes/any(c:c eq '{DYNAMIC_MEMBERSHIP}')",
            select=list(GROUP_FIELDS),
            top=_PAGE_SIZE,
        )
        groups = self._client.groups
        response = await self._page(groups.to_get_request_information(self._config(query)))
        seen: set[str] = set()
        while True:
            page = json_object(response)
            for raw in page.get("value") or ():
                yield directory_group(raw)
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            if next_link in seen:
                raise ServiceUnavailable(
                    "Graph returned the same @odata.nextLink twice", code="PagingLoop"
                )
            seen.add(next_link)
            page_builder = groups.with_url(next_link)
            response = await self._page(page_builder.to_get_request_information(self._config()))
