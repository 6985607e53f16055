"""Microsoft Graph behind the ``Directory`` port, through the real msgraph-sdk.

Requests are built from the SDK's request builders (URL templates, query parameters) and sent
through its request adapter: auth provider, then the Graph middleware pipeline (retry, redirect,
user agent, telemetry). Responses come back as the raw ``httpx.Response`` (kiota's
``NativeResponseHandler``) and only the fields the handlers read are taken from the JSON. The
SDK's typed models are not used at all: reading one costs milliseconds of CPU per object
(``Entity.get_field_deserializers`` builds a map of thousands of subtypes every time), and even
writing one costs more than the write-cost budget (1.5x a plain httpx call) leaves, so the few
request bodies are written as JSON (their shapes are pinned by tests). ``bench/graph_cost.py``
measures this.

Because the native handler bypasses the SDK's ``ODataError`` path, this module maps every status,
Graph error body and transport failure into ``guest_onboarding.errors`` itself.

msgraph, kiota and azure.identity are imported only inside :meth:`GraphClient.create` and the
call paths: importing the SDK pulls hundreds of modules, and this module must stay cheap to import
(the composition root creates one ``GraphDirectory`` per process and reuses it).
"""

from guest_onboarding.adapters.graph.client import GRAPH_SCOPE, GraphClient
from guest_onboarding.adapters.graph.directory import GraphDirectory
from guest_onboarding.adapters.graph.responses import DEFAULT_RETRY_AFTER_SECONDS

__all__ = ["DEFAULT_RETRY_AFTER_SECONDS", "GRAPH_SCOPE", "GraphClient", "GraphDirectory"]
