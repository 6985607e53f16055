"""A synchronous client for the emulator's control API (`/_control/...`), for tests and tools."""

from __future__ import annotations

from typing import Any

import httpx


class EmulatorControl:
    """Drive a running emulator: reset it, read its state and mailbox, move its clock, inject
    faults and limits, read counters. `base_url` is the emulator root or its `/v1.0` URL."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/v1.0")
        self.root_url = root
        self._http = httpx.Client(base_url=f"{root}/_control", timeout=timeout)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        """`{"status": "ok", ...}` once the emulator serves requests."""
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self, seed: dict[str, Any] | None = None) -> None:
        """Rebuild the tenant from `seed` (None: the startup seed); clears everything else too."""
        if seed is None:
            self._call("POST", "/reset", content=b"")
        else:
            self._call("POST", "/reset", json=seed)

    def state(self) -> dict[str, Any]:
        """Tenant, users, groups (with member ids), service principals (with assignments)."""
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def mailbox(self, to: str | None = None) -> list[dict[str, Any]]:
        """Invitation emails recorded so far, optionally only those sent to `to`."""
        params = {"to": to} if to is not None else None
        messages: list[dict[str, Any]] = self._call("GET", "/mailbox", params=params)["messages"]
        return messages

    def redeem(self, *, email: str | None = None, user_id: str | None = None) -> dict[str, Any]:
        """Accept a guest's invitation (state Accepted at emulator now); returns the user."""
        if (email is None) == (user_id is None):
            raise ValueError("pass exactly one of email or user_id")
        body = {"email": email} if email is not None else {"userId": user_id}
        result: dict[str, Any] = self._call("POST", "/redeem", json=body)
        return result

    def now(self) -> str:
        """The emulator's current time, ISO 8601 with `Z`."""
        now: str = self._call("GET", "/clock")["now"]
        return now

    def advance_clock(self, seconds: float) -> str:
        """Move the emulator clock forward; returns the new time."""
        now: str = self._call("POST", "/clock", json={"advanceSeconds": seconds})["now"]
        return now

    def set_faults(
        self,
        *,
        latency_ms: int = 0,
        jitter_ms: int = 0,
        errors: list[dict[str, Any]] | None = None,
        replication_lag_ms: int = 0,
        replication_lag_status: int = 404,
        lookup_lag_seconds: float = 0.0,
        dynamic_membership_lag_seconds: float = 0.0,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Replace the fault model (all off by default). `errors` items:
        `{"endpoint": "POST /invitations", "rate": 0.5, "kind": "status"|"reset"|"slow",
        "status": 503, "delayMs": 0, "afterApply": false, "retryAfter": n, "count": n}`.
        `lookup_lag_seconds`: for that long (emulator clock) after `POST /invitations` creates
        a user, `GET /users` and `GET /users/{id}` do not see it.
        `dynamic_membership_lag_seconds`: how long (emulator clock) dynamic groups take to
        process a user created or changed from now on."""
        config = {
            "latencyMs": latency_ms,
            "jitterMs": jitter_ms,
            "errors": errors or [],
            "replicationLag": {"ms": replication_lag_ms, "status": replication_lag_status},
            "lookupLag": {"seconds": lookup_lag_seconds},
            "dynamicMembershipLag": {"seconds": dynamic_membership_lag_seconds},
            "seed": seed,
        }
        result: dict[str, Any] = self._call("POST", "/faults", json=config)
        return result

    def set_limits(
        self,
        *,
        throttling: bool = True,
        scale: float = 1.0,
        writes_per_window: int | None = None,
        window_seconds: float | None = None,
        resource_units_per_window: int | None = None,
        tenant_writes_per_window: int | None = None,
        tenant_window_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Replace the throttling model; buckets start full. The per-app buckets (resource
        units, `writes_per_window` per `window_seconds`) are keyed by the token's client id;
        `tenant_writes_per_window` per `tenant_window_seconds` is shared by every app."""
        config: dict[str, Any] = {"enabled": throttling, "scale": scale}
        if tenant_writes_per_window is not None:
            config["tenantWritesPerWindow"] = tenant_writes_per_window
        if tenant_window_seconds is not None:
            config["tenantWindowSeconds"] = tenant_window_seconds
        if writes_per_window is not None:
            config["writesPerWindow"] = writes_per_window
        if window_seconds is not None:
            config["windowSeconds"] = window_seconds
        if resource_units_per_window is not None:
            config["resourceUnitsPerWindow"] = resource_units_per_window
        result: dict[str, Any] = self._call("POST", "/limits", json={"throttling": config})
        return result

    def set_invitation_policy(
        self,
        *,
        tenant_block: str | None = None,
        denied_domains: list[str] | None = None,
        allowed_domains: list[str] | None = None,
        cross_tenant_blocked_domains: list[str] | None = None,
    ) -> dict[str, Any]:
        """Replace the tenant's invitation policy (nothing refused by default; reset restores
        the seed's `blockedDomains` as the deny list). `tenant_block`: None,
        "suspiciousActivity", "externalCollaborationDisabled" or "crossTenantAccess" refuses
        every invitation; `denied_domains` / `allowed_domains` (one or the other) are the B2B
        allow/deny list; `cross_tenant_blocked_domains` are refused by cross-tenant access."""
        body = {
            "tenantBlock": tenant_block,
            "deniedDomains": denied_domains or [],
            "allowedDomains": allowed_domains,
            "crossTenantBlockedDomains": cross_tenant_blocked_domains or [],
        }
        result: dict[str, Any] = self._call("POST", "/invitation-policy", json=body)
        return result

    def invitation_policy(self) -> dict[str, Any]:
        """The tenant's invitation policy as `set_invitation_policy` takes it (JSON names)."""
        result: dict[str, Any] = self._call("GET", "/invitation-policy")
        return result

    def user(self, id_or_address: str) -> dict[str, Any]:
        """One user of `state()` by id or address (mail or UPN, any case); KeyError if none."""
        wanted = id_or_address.lower()
        for user in self.state()["users"]:
            names = {user["id"], (user["mail"] or "").lower(), user["userPrincipalName"].lower()}
            if wanted in names:
                found: dict[str, Any] = user
                return found
        raise KeyError(id_or_address)

    def counters(self) -> dict[str, Any]:
        """`{"requests": {"POST /invitations": n, ...}, "total", "throttled", "writes", ...}`."""
        result: dict[str, Any] = self._call("GET", "/counters")
        return result
