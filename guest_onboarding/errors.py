"""The exceptions the onboarding code raises and handles.

    OnboardingError
    ├── InvalidMessage              rejected input: poison at once, never retried, no Graph call
    └── DirectoryError              anything Graph said (code, message, status, request id)
        ├── AlreadyDone             "already a member" / "assignment already exists": success
        ├── TransientDirectoryError retried with back-off
        │   ├── Paused              wait ``retry_after`` seconds; never counts, never poisons
        │   │   ├── Throttled           429
        │   │   └── InvitationsStopped  the tenant refuses every invitation
        │   ├── NotYetReplicated    a new user not visible yet to group / app role calls
        │   └── ServiceUnavailable  5xx, timeouts, dropped connections
        └── PermanentDirectoryError poison with Graph's error
            ├── NotFound            unknown user, group or service principal
            ├── Refused             403: a permission or policy says no
            └── InvalidRequest      400: Graph refuses the request as made

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


class DirectoryError(OnboardingError):
    """Graph answered with an error (or could not be reached)."""

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
