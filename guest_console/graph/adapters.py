"""The operator console's read of the tenant's dynamic groups (``plan``): the app's Graph
directory adapter plus ``GET /groups`` filtered on ``groupTypes``, built by
:func:`build_group_reader`. The app never calls it (its permission row is the console's,
``infra/checks/graph_permissions.py`` ``LIST_GROUPS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from guest_console.graph.ports import GroupReader
from guest_onboarding.adapters.graph import GraphClient
from guest_onboarding.adapters.graph.directory import _PAGE_SIZE, GraphDirectory
from guest_onboarding.adapters.graph.pacer import GraphPacer, bucket_rules
from guest_onboarding.adapters.graph.payloads import GROUP_FIELDS, directory_group
from guest_onboarding.adapters.graph.responses import json_object
from guest_onboarding.bootstrap import quiet_sdk_logging
from guest_onboarding.config import Settings
from guest_onboarding.errors import ServiceUnavailable
from guest_onboarding.ports import DYNAMIC_MEMBERSHIP, DirectoryGroup


class GraphGroupReader(GraphDirectory):
    """``guest_console.graph.ports.GroupReader`` on Graph, paging and throttling as the sweep's
    listing does."""

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


def build_group_reader(settings: Settings) -> GroupReader:
    """The tenant's dynamic groups through the app's Graph client (``GRAPH_BASE_URL``;
    ``DefaultAzureCredential``: the operator's sign-in in Azure, the emulator's identity
    endpoint locally), paced per process: the console reads with its own identity, outside the
    app's shared budget."""
    quiet_sdk_logging()
    buckets = bucket_rules(
        writes_per_second=settings.graph_writes_per_second,
        reads_per_second=settings.graph_reads_per_second,
        invitations_per_minute=settings.invitations_per_minute,
    )
    graph = GraphClient.create(
        base_url=settings.graph_base_url,
        client_id=settings.azure_client_id,
        pacer=GraphPacer(buckets, store=None),
    )
    return GraphGroupReader(graph)
