"""Graph's error vocabulary: the exception handlers raise, and the body Graph answers with.

Every refusal the emulator makes goes through `GraphError`, so status, code, message and the
`{"error": {"code", "message", "innerError": {...}}}` shape stay in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NOT_FOUND_MESSAGE = (
    "Resource '{id}' does not exist or one of its queried "
    "reference-property objects are not present."
)
INSUFFICIENT_PRIVILEGES = "Insufficient privileges to complete the operation."
REFERENCES_EXIST_MESSAGE = (
    "One or more added object references already exist for the following modified properties: "
    "'{property}'."
)
REFERENCED_OBJECT_MISSING = (
    "The source resource object or one of the objects being referenced do not exist."
)
ASSIGNMENT_EXISTS_MESSAGE = "Permission being assigned already exists on the object"


class GraphError(Exception):
    """A refusal with Graph's status, error code and message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(object_id: str) -> GraphError:
    """404 Request_ResourceNotFound for an unknown (or not yet replicated) object."""
    return GraphError(404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE.format(id=object_id))


def references_exist(property_name: str) -> GraphError:
    """400 Request_BadRequest for a `$ref` naming an object already in the relationship."""
    return GraphError(
        400, "Request_BadRequest", REFERENCES_EXIST_MESSAGE.format(property=property_name)
    )


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    """400 with Graph's generic code unless the caller names Graph's directory code."""
    return GraphError(400, code, message)


def forbidden() -> GraphError:
    """403 Authorization_RequestDenied, what Graph answers for a missing application permission."""
    return GraphError(403, "Authorization_RequestDenied", INSUFFICIENT_PRIVILEGES)


def error_body(code: str, message: str, request_id: str, client_request_id: str) -> dict[str, Any]:
    """The JSON body Graph sends with every error response."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
