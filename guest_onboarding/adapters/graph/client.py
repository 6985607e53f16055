"""The SDK client, built once per process, and the one way requests are sent through it."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import TYPE_CHECKING, Any, cast

from guest_onboarding.adapters.graph.pacer import GraphPacer, call_kind
from guest_onboarding.adapters.graph.pipeline import middleware, validated_host
from guest_onboarding.adapters.graph.responses import raise_transport_error, retry_after_seconds
from guest_onboarding.errors import DirectoryError, ServiceUnavailable
from guest_onboarding.telemetry import record_graph_throttled

if TYPE_CHECKING:
    import httpx

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
#: httpx's timeout for a Graph request, per phase (connect, write, each read). An invitation is
#: never retried in process (``GraphDirectory.invite``), so this bounds how long its answer takes.
GRAPH_TIMEOUT_SECONDS = 30.0
#: A token fetch (the managed identity endpoint) is given up after this long: azure-identity's
#: own transport would wait up to 300 s a read. The ledger's claim (``domain.ledger.CLAIM_LEASE``)
#: must outlast the pacer's waits, a token fetch and an invitation's answer together
#: (tests/unit/test_claim_lease.py reads these settings from here).
TOKEN_FETCH_TIMEOUT_SECONDS = 20.0


class _TokenDeadline:
    """The credential, with each token fetch given up after ``timeout`` seconds (as azure-core's
    ``ClientAuthenticationError``, which the adapter maps to a transient "no token")."""

    def __init__(self, credential: Any, timeout: float) -> None:
        self._credential = credential
        self.timeout = timeout

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            async with asyncio.timeout(self.timeout):
                token = self._credential.get_token(*scopes, **kwargs)
                return await token if inspect.isawaitable(token) else token
        except TimeoutError:
            message = f"no Graph token within {self.timeout:.0f} s"
            raise ClientAuthenticationError(message=message) from None

    async def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


class GraphClient:
    """msgraph-sdk's request adapter, auth provider and middleware, with responses handed back
    as the raw ``httpx.Response``. Build it with :meth:`create`."""

    def __init__(
        self,
        *,
        client: Any,
        http_client: httpx.AsyncClient,
        credential: Any,
        pacer: GraphPacer,
    ) -> None:
        # Private: `create` builds the SDK objects; tests and the composition root call `create`.
        self._client = client
        self._http_client = http_client
        self._credential = credential
        # Paces calls against the budget every instance shares; after a 429 it holds back the
        # calls of that bucket, in every instance, until Retry-After has passed.
        self._pacer = pacer
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from kiota_abstractions.method import Method
        from kiota_abstractions.native_response_handler import NativeResponseHandler
        from kiota_abstractions.request_information import RequestInformation
        from kiota_http.middleware.options import ResponseHandlerOption

        self._request_configuration = RequestConfiguration
        self._request_information = RequestInformation
        self._post = Method.POST
        self._patch = Method.PATCH
        # Stateless, so one instance serves every request.
        self._native = ResponseHandlerOption(NativeResponseHandler())

    @classmethod
    def create(
        cls,
        *,
        base_url: str,
        pacer: GraphPacer,
        client_id: str | None = None,
        credential: object | None = None,
        timeout_seconds: float = GRAPH_TIMEOUT_SECONDS,
        token_timeout_seconds: float = TOKEN_FETCH_TIMEOUT_SECONDS,
        http_client: httpx.AsyncClient | None = None,
        transient_retries: int = 2,
    ) -> GraphClient:
        """Build the SDK client once (the caller caches the result for the process).

        ``base_url`` is the Graph root including the version (``https://graph.microsoft.com/v1.0``
        or a local emulator on ``http://localhost``/``127.0.0.1``). Without ``credential`` it uses
        ``DefaultAzureCredential(managed_identity_client_id=client_id)``; either way a token fetch
        is given up after ``token_timeout_seconds``. ``http_client`` is the
        injectable HTTP seam (its transport ends the SDK's middleware pipeline).
        ``transient_retries`` bounds the quick in-process retries of 5xx; 429 is never retried
        here but raised as :class:`Throttled` so the queue waits instead of the function.
        ``pacer`` paces every call against the Graph budget shared by all instances.
        Raises ``ValueError`` for a base URL the SDK's auth provider would never send a token to.
        """
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        host = validated_host(base_url)
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential(managed_identity_client_id=client_id)
        credential = _TokenDeadline(credential, token_timeout_seconds)
        if http_client is None:
            http_client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), http2=True)
        http_client = GraphClientFactory.create_with_custom_middleware(
            middleware(transient_retries), client=http_client
        )
        auth = AzureIdentityAuthenticationProvider(
            cast(Any, credential), scopes=[GRAPH_SCOPE], allowed_hosts=[host]
        )
        adapter = GraphRequestAdapter(auth, client=http_client)
        # The SDK falls back to https://graph.microsoft.com/v1.0 only when this is empty.
        adapter.base_url = base_url.rstrip("/")
        client = GraphServiceClient(request_adapter=adapter)
        return cls(client=client, http_client=http_client, credential=credential, pacer=pacer)

    async def aclose(self) -> None:
        """Close the HTTP connections and the credential (end of process or of a test)."""
        await self._http_client.aclose()
        await self._pacer.aclose()
        close = getattr(self._credential, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result

    @property
    def sdk(self) -> Any:
        """The ``GraphServiceClient``: its request builders make every URL."""
        return self._client

    def config(self, query: object | None = None) -> Any:
        """A request configuration that hands back the raw ``httpx.Response``."""
        return self._request_configuration(query_parameters=query, options=[self._native])

    def json_post(self, builder: Any, body: dict[str, Any], *, patch: bool = False) -> Any:
        """A POST (or, ``patch``, a PATCH) to ``builder``'s URL (template and path parameters)
        with ``body`` as JSON.

        The SDK's ``to_post_request_information`` needs a typed model, and serializing one
        (backing store, serialization writer) costs more CPU than the write-cost budget leaves;
        the body shapes are pinned by tests instead.
        """
        request = self._request_information(
            self._patch if patch else self._post, builder.url_template, builder.path_parameters
        )
        request.configure(self.config())
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(json.dumps(body).encode(), "application/json")
        return request

    async def send(self, request: Any, *, turn: str | None = None) -> httpx.Response:
        """Send a request built by an SDK request builder through the SDK's request adapter
        (auth provider, middleware), translating transport and credential failures; paced by the
        shared Graph budget, which may raise :class:`Throttled` before anything is sent.
        ``turn`` names an invitation's place in the invitation line (the guest's address)."""
        kind = call_kind(request.http_method.value, request.url_template or "")
        # Waits out a short pause after a 429 (this instance's or another's) like a slot.
        await self._pacer.before(kind, turn=turn)
        adapter = self._client.request_adapter
        # Expand the URI template once: the auth provider and the adapter read `request.url`
        # three times per call, and each expansion costs about 0.05 ms of CPU.
        # The request shares its builder's path-parameter dict, which setting `url` clears:
        # give it its own copy first so the builder stays usable (the probe reuses it).
        request.path_parameters = {**request.path_parameters, "baseurl": adapter.base_url}
        request.url = request.url
        try:
            # With the native response handler the adapter returns the httpx.Response as is;
            # the model type and error map are never used.
            response: httpx.Response | None = await adapter.send_async(request, None, None)
        except DirectoryError:
            raise
        except Exception as exc:
            raise_transport_error(exc)
        if response is None:  # the adapter answers None only when no handler ran
            raise ServiceUnavailable("Graph returned no response", code="NoResponse")
        if response.status_code == 429:
            retry_after = retry_after_seconds(response)
            record_graph_throttled(retry_after)
            # The bucket of this call pauses, for every instance (others go on).
            await self._pacer.throttled(kind, retry_after)
        return response
