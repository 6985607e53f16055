"""The exceptions the onboarding code raises and handles.

    OnboardingError
    ├── InvalidMessage              rejected input: poison at once, never retried, no Graph call
    │   └── OperatorNeeded          a bound reached (``ReinvitationLimit``): poison at once
    └── ServiceError                a service answered with an error or could not be reached
        │                           (code, message, status, request id)
        ├── DirectoryError          anything Graph said
        │   ├── AlreadyDone             "already a member" / "assignment already exists": success
        │   ├── TransientDirectoryError retried with back-off
        │   │   ├── Paused              wait ``retry_after`` seconds; never counts, never poisons
        │   │   │   ├── Throttled           429
        │   │   │   └── InvitationsStopped  the tenant refuses every invitation
        │   │   ├── NotYetReplicated    a new user not visible yet to group / app role calls
        │   │   └── ServiceUnavailable  5xx, timeouts, dropped connections
        │   └── PermanentDirectoryError poison with Graph's error
        │       ├── NotFound            unknown user, group or service principal
        │       ├── Refused             403: a permission or policy says no
        │       └── InvalidRequest      400: Graph refuses the request as made
        └── StoreError              anything Azure Storage said to the app (ledger, tenant
            │                       health, Graph budget on Tables; the outbox on Queues)
            ├── TransientStoreError     retried for as long as it lasts: never poisons a message
            │   ├── StoreUnavailable    5xx, throttled (503 ServerBusy, 429), timeouts, dropped
            │   │                       connections, no token
            │   ├── LedgerContention    a guest's ledger row kept changing under etag checks
            │   └── BudgetContention    a Graph budget row kept changing under etag checks
            └── PermanentStoreError     poison with Storage's error: 403 (a data role missing),
                                        404 (no such table or queue), 400 / 413 (refused)

Adapters translate vendor errors into these at their boundary (``raise Ours(...) from exc``);
nothing else in the package sees an SDK exception.
"""

from __future__ import annotations


class OnboardingError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidMessage(OnboardingError):
    """A queue message that can never succeed; ``code`` names the rule it broke."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    #: The message itself is refused (outcome ``rejected``), not a bound reached.
    rejected = True


class OperatorNeeded(InvalidMessage):
    """A valid message the app stops acting on because a bound was reached (``code`` names
    it): poisoned at once like rejected input, but its outcome is ``poisoned``, for an operator
    to decide."""

    rejected = False


class ServiceError(OnboardingError):
    """A service the app calls (Graph, Storage) answered with an error or could not be reached;
    ``code`` is the service's error code (or ours for no answer), never personal data."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code or type(self).__name__}: {message}")
        self.code = code or type(self).__name__
        self.message = message
        self.status = status
        self.request_id = request_id

    def as_reason(self) -> dict[str, str]:
        """The error as the poison envelope's ``error`` object."""
        reason = {"code": self.code, "message": self.message}
        if self.status is not None:
            reason["status"] = str(self.status)
        if self.request_id:
            reason["requestId"] = self.request_id
        return reason


class DirectoryError(ServiceError):
    """Graph answered with an error (or could not be reached)."""


class AlreadyDone(DirectoryError):
    """What was asked is already true (member already added, role already assigned)."""


class TransientDirectoryError(DirectoryError):
    """Worth retrying later."""


class Paused(TransientDirectoryError):
    """Graph did nothing and asked us to wait ``retry_after`` seconds: the message comes back
    then, and it never counts as a failure."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        code: str = "",
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status, request_id=request_id)
        self.retry_after = retry_after


class Throttled(Paused):
    """Graph answered 429; ``retry_after`` is how long it asked us to wait, in seconds."""


class InvitationsStopped(Paused):
    """Graph refuses invitations for the whole tenant (invitations blocked for the directory,
    external collaboration settings): not the message's fault. Invitations pause, messages wait
    ``retry_after`` seconds (the probe interval) and nothing is poisoned for it. ``recorded``:
    this delivery recorded the stop (once per stop and probe interval, for every instance), so
    its outcome is the one ``tenant_stop`` the alert counts."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        code: str = "",
        status: int | None = None,
        request_id: str | None = None,
        recorded: bool = False,
    ) -> None:
        super().__init__(
            message, retry_after=retry_after, code=code, status=status, request_id=request_id
        )
        self.recorded = recorded


class NotYetReplicated(TransientDirectoryError):
    """The user exists but a group or app role call cannot see it yet."""


class ServiceUnavailable(TransientDirectoryError):
    """5xx, a timeout or a dropped connection."""


class PermanentDirectoryError(DirectoryError):
    """Retrying will not help; the message goes to poison with this error."""


class NotFound(PermanentDirectoryError):
    """The user, group or service principal does not exist."""


class Refused(PermanentDirectoryError):
    """403: missing permission, role-assignable group, or a tenant policy."""


class InvalidRequest(PermanentDirectoryError):
    """400 that is not one of the known "already done" or "not yet replicated" cases."""


class StoreError(ServiceError):
    """Azure Storage failed one of the app's own calls (not the console's: ``StorageError``)."""


class TransientStoreError(StoreError):
    """Storage is down, busy or slow, or a row is contended: the message waits on its queue and
    is delivered again until Storage answers (:mod:`guest_onboarding.retry`); never poisoned for
    it."""


class StoreUnavailable(TransientStoreError):
    """5xx (503 ``ServerBusy`` is Storage throttling), 429, 408, a timeout, a dropped or refused
    connection, or no token for the managed identity."""


class LedgerContention(TransientStoreError):
    """A guest's ledger row changed under every etag-checked attempt: other deliveries keep
    writing it; this one tries again later."""


class BudgetContention(TransientStoreError):
    """A Graph budget row changed under every etag-checked attempt: too many instances for one
    row (the pacer paces per process meanwhile)."""


class PermanentStoreError(StoreError):
    """Storage refuses the call as made: the identity lacks a data role (403), the table or queue
    does not exist (404), the request is refused (400, 413). Retrying will not help until the
    deployment is fixed; the message goes to poison with Storage's error, to replay then."""


# -- what logs and telemetry may say of an error ------------------------------------------

#: The code of an error that has none of its own (not one of this tree's).
UNEXPECTED_ERROR = "Unexpected"


def logged_error(exc: BaseException) -> dict[str, str]:
    """What a log line or telemetry says of ``exc``: its code (:data:`UNEXPECTED_ERROR` if it
    has none), its type and the service's request id; never its text, which can quote an
    address or a message body (a Graph 5xx's message did)."""
    code = exc.code if isinstance(exc, InvalidMessage | ServiceError) else UNEXPECTED_ERROR
    fields = {"error": code, "exception": type(exc).__name__}
    if isinstance(exc, ServiceError) and exc.request_id:
        fields["request_id"] = exc.request_id
    return fields


def without_text(exc: Exception) -> Exception:
    """``exc`` (same type, attributes and traceback, so whatever catches it, the queue among
    them, acts as before) with its text replaced by :func:`logged_error`'s words: the Functions
    host logs what a function raises, message and all."""
    words = " ".join(f"{k}={v}" for k, v in logged_error(exc).items())
    clean = type(exc).__new__(type(exc))
    clean.__dict__.update(exc.__dict__)
    clean.args = (words,)
    if "message" in clean.__dict__:
        clean.__dict__["message"] = words
    return clean.with_traceback(exc.__traceback__)


def poison_reason(exc: BaseException) -> dict[str, str]:
    """The poison envelope's ``error`` for ``exc``: our rule, Graph's or Storage's error, else
    its type."""
    if isinstance(exc, InvalidMessage):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, ServiceError):
        return exc.as_reason()
    return {"code": "RetriesExhausted", "message": f"{type(exc).__name__}: {exc}"}
