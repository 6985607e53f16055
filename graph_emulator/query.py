"""Query options and paging shared by the list endpoints: `$top`, skip tokens and
`@odata.nextLink`, `$count`, `ConsistencyLevel` and `$filter` parsing."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from graph_emulator.calls import GraphRequest
from graph_emulator.errors import GraphError, bad_request
from graph_emulator.odata_filter import FilterSyntaxError, Node, parse_filter

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
METADATA = f"{GRAPH_ROOT}/$metadata"
MAX_PAGE_SIZE = 999
DEFAULT_PAGE_SIZE = 100


def context_url(path: str, select: tuple[str, ...] | None = None, *, entity: bool = False) -> str:
    """``@odata.context`` as Graph writes it: ``$metadata#users(id,mail)/$entity``."""
    selected = f"({','.join(select)})" if select else ""
    return f"{METADATA}#{path}{selected}" + ("/$entity" if entity else "")


def parse_top(request: GraphRequest) -> int:
    """`$top` in 1..999 (Graph's exact 400 otherwise), default 100."""
    raw = request.param("top")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        top = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value '{raw}' for query option '$top'.") from None
    if not 1 <= top <= MAX_PAGE_SIZE:
        raise bad_request(
            f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
            code="Request_BadRequest",
        )
    return top


def _encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{position}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        prefix, _, position = base64.urlsafe_b64decode(padded).decode().partition(":")
        if prefix != "emu":
            raise ValueError(token)
        return int(position)
    except ValueError:
        raise bad_request(f"Invalid skip token '{token}'.", code="Request_BadRequest") from None


def start_position(request: GraphRequest) -> int:
    """Where this page starts: 0, or the position a previous `@odata.nextLink` carried."""
    token = request.param("skiptoken")
    return 0 if token is None else _decode_token(token)


def next_link(request: GraphRequest, position: int) -> str:
    """An absolute nextLink on the emulator's own host keeping the query, minus `$count`."""
    kept = {
        k: v
        for k, v in request.query.items()
        if k.lstrip("$").lower() not in ("skiptoken", "count")
    }
    kept["$skiptoken"] = _encode_token(position)
    return f"{request.origin}/v1.0{request.path}?{urlencode(kept, quote_via=quote, safe='$')}"


def is_advanced(request: GraphRequest) -> bool:
    """The request carries `ConsistencyLevel: eventual`."""
    level = next((v for k, v in request.headers.items() if k.lower() == "consistencylevel"), "")
    return level.lower() == "eventual"


def wants_count(request: GraphRequest) -> bool:
    """`$count=true`, which Graph serves on directory objects only as an advanced query."""
    raw = request.param("count")
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() != "true":
        raise bad_request(f"Invalid value '{raw}' for query option '$count'.")
    if not is_advanced(request):
        raise bad_request("$count is not currently supported.", code="Request_BadRequest")
    return True


def parse_filter_option(request: GraphRequest) -> Node | None:
    """The parsed `$filter`, or 400 with Graph's wording for a syntax error."""
    raw = request.param("filter")
    if raw is None:
        return None
    try:
        return parse_filter(raw)
    except FilterSyntaxError as exc:
        raise bad_request(f"Invalid filter clause: {exc}") from None


def unsupported_query(message: str) -> GraphError:
    """400 Request_UnsupportedQuery, Graph's answer to filters it cannot serve."""
    return bad_request(message, code="Request_UnsupportedQuery")


def unsupported_property(property_name: str, resource: str) -> GraphError:
    """400 Request_UnsupportedQuery naming the property a filter cannot use."""
    return unsupported_query(
        f"Unsupported or invalid query filter clause specified for property "
        f"'{property_name}' of resource '{resource}'."
    )
