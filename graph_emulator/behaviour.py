"""Behaviour models layered over the directory: latency, injected faults, replication,
look-up and dynamic membership lag, and Graph's identity-and-access throttling. All are off
until set through the control API.
"""

from __future__ import annotations

import fnmatch
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Graph's error codes for the server-side failures the emulator injects.
FAULT_ERRORS: dict[int, tuple[str, str]] = {
    500: ("generalException", "An unspecified error has occurred."),
    502: ("badGateway", "The server received an invalid response from an upstream server."),
    503: (
        "serviceNotAvailable",
        "The service is temporarily unavailable. You may repeat the request after a delay.",
    ),
    504: ("timeout", "The operation timed out before it could be completed."),
}
FAULT_KINDS = ("status", "reset", "slow")


class ConfigError(ValueError):
    """A control-API configuration the emulator cannot apply."""


@dataclass
class FaultRule:
    """Fail requests whose endpoint key matches `endpoint` (a glob) with probability `rate`."""

    endpoint: str
    rate: float
    kind: str
    status: int
    delay_ms: int
    after_apply: bool
    retry_after: int | None
    remaining: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build a rule from its control-API JSON, refusing unknown kinds and statuses."""
        kind = data.get("kind", "status")
        if kind not in FAULT_KINDS:
            raise ConfigError(f"fault kind must be one of {FAULT_KINDS}, not {kind!r}")
        status = int(data.get("status", 503))
        if kind == "status" and status not in FAULT_ERRORS:
            raise ConfigError(f"fault status must be one of {sorted(FAULT_ERRORS)}")
        rate = float(data.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ConfigError("fault rate must be between 0 and 1")
        count = data.get("count")
        return cls(
            endpoint=str(data.get("endpoint", "*")),
            rate=rate,
            kind=kind,
            status=status,
            delay_ms=int(data.get("delayMs", 0)),
            after_apply=bool(data.get("afterApply", False)),
            retry_after=int(data["retryAfter"]) if "retryAfter" in data else None,
            remaining=int(count) if count is not None else None,
        )


class Faults:
    """Latency, fault rules and lags, with a seeded RNG so runs repeat exactly."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        config = config or {}
        self.config = dict(config)
        self.latency_ms = int(config.get("latencyMs", 0))
        self.jitter_ms = int(config.get("jitterMs", 0))
        self.rng = random.Random(config.get("seed", 0))
        self.rules = [FaultRule.from_json(rule) for rule in config.get("errors", [])]
        lag = config.get("replicationLag", {})
        self.replication_lag_ms = int(lag.get("ms", 0))
        self.replication_lag_status = int(lag.get("status", 404))
        if self.replication_lag_status not in (400, 404):
            raise ConfigError("replicationLag.status must be 400 or 404")
        self.lookup_lag_seconds = float(config.get("lookupLag", {}).get("seconds", 0))
        if self.lookup_lag_seconds < 0:
            raise ConfigError("lookupLag.seconds must not be negative")
        # How long dynamic groups take to process a user change (graph_emulator.dynamic_groups).
        self.dynamic_membership_lag_seconds = float(
            config.get("dynamicMembershipLag", {}).get("seconds", 0)
        )
        if self.dynamic_membership_lag_seconds < 0:
            raise ConfigError("dynamicMembershipLag.seconds must not be negative")

    def latency_seconds(self) -> float:
        """How long to hold the next request before handling it."""
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        jitter = self.rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0.0
        return (self.latency_ms + jitter) / 1000

    def pick(self, endpoint_key: str) -> FaultRule | None:
        """The first matching rule that fires for this request, consuming its count."""
        for rule in self.rules:
            if rule.remaining is not None and rule.remaining <= 0:
                continue
            if not fnmatch.fnmatchcase(endpoint_key, rule.endpoint):
                continue
            if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return rule
        return None


class TokenBucket:
    """`capacity` tokens refilled evenly over `window_seconds`."""

    def __init__(self, capacity: float, window_seconds: float) -> None:
        self.capacity = capacity
        self.refill_per_second = capacity / window_seconds
        self.tokens = capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(
            self.capacity, self.tokens + (now - self.updated) * self.refill_per_second
        )
        self.updated = now

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` tokens are available (0 when they are now)."""
        self._refill(now)
        missing = min(cost, self.capacity) - self.tokens
        return 0.0 if missing <= 0 else missing / self.refill_per_second

    def take(self, cost: float) -> None:
        """Spend tokens already known to be available."""
        self.tokens -= min(cost, self.capacity)


# Graph's resource units per 10 s by tenant size (users): under 50, 50-500, over 500.
RESOURCE_UNIT_TIERS = ((50, 3500), (501, 5000), (math.inf, 8000))
WRITES_PER_WINDOW = 3000
WRITE_WINDOW_SECONDS = 150.0
TENANT_WRITES_PER_WINDOW = 18000
TENANT_WRITE_WINDOW_SECONDS = 300.0
RESOURCE_UNIT_WINDOW_SECONDS = 10.0


class AppBuckets:
    """One app's buckets in the tenant: resource units and writes."""

    def __init__(self, writes: TokenBucket) -> None:
        self.writes = writes
        self.resource_units: TokenBucket | None = None
        self.writes_admitted = 0


class Throttle:
    """Graph's identity-and-access token buckets: per app and tenant (the app is the token's
    `appid`, however many processes or clients share it), under a tenant-wide write bucket
    that every app draws from."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        config = dict(config or {})
        self.config = config
        self.enabled = bool(config.get("enabled", False))
        self.scale = float(config.get("scale", 1.0))
        if self.scale <= 0:
            raise ConfigError("throttling.scale must be positive")
        self.writes_per_window = float(
            config.get("writesPerWindow", max(1.0, WRITES_PER_WINDOW * self.scale))
        )
        self.write_window_seconds = float(config.get("windowSeconds", WRITE_WINDOW_SECONDS))
        self.tenant_writes_per_window = float(
            config.get("tenantWritesPerWindow", max(1.0, TENANT_WRITES_PER_WINDOW * self.scale))
        )
        self.tenant_write_window_seconds = float(
            config.get("tenantWindowSeconds", TENANT_WRITE_WINDOW_SECONDS)
        )
        self.ru_override = config.get("resourceUnitsPerWindow")
        self.ru_window_seconds = float(
            config.get("resourceUnitWindowSeconds", RESOURCE_UNIT_WINDOW_SECONDS)
        )
        if self.writes_per_window < 1 or self.write_window_seconds <= 0:
            raise ConfigError("writesPerWindow must be >= 1 and windowSeconds > 0")
        if self.tenant_writes_per_window < 1 or self.tenant_write_window_seconds <= 0:
            raise ConfigError("tenantWritesPerWindow must be >= 1 and tenantWindowSeconds > 0")
        self.tenant_writes = TokenBucket(
            self.tenant_writes_per_window, self.tenant_write_window_seconds
        )
        self.apps: dict[str, AppBuckets] = {}
        self.writes_admitted = 0
        self.first_write_at: float | None = None
        self.last_write_at: float | None = None

    def resource_units_capacity(self, tenant_users: int) -> float:
        """Resource units per window for a tenant of this size, after scaling."""
        if self.ru_override is not None:
            return float(self.ru_override)
        base = next(units for bound, units in RESOURCE_UNIT_TIERS if tenant_users < bound)
        return max(1.0, base * self.scale)

    def _app(self, app_id: str) -> AppBuckets:
        app = self.apps.get(app_id)
        if app is None:
            app = AppBuckets(TokenBucket(self.writes_per_window, self.write_window_seconds))
            self.apps[app_id] = app
        return app

    def admit(self, cost: int, is_write: bool, tenant_users: int, *, app_id: str) -> int | None:
        """Spend the request's cost from ``app_id``'s buckets (and a write from the tenant's),
        or return the Retry-After seconds when a bucket is short; a refusal spends nothing."""
        app = self._app(app_id)
        if not self.enabled:
            if is_write:
                self._count_write(app)
            return None
        now = time.monotonic()
        capacity = self.resource_units_capacity(tenant_users)
        if app.resource_units is None or app.resource_units.capacity != capacity:
            app.resource_units = TokenBucket(capacity, self.ru_window_seconds)
        wait = app.resource_units.wait_for(cost, now)
        if is_write:
            wait = max(wait, app.writes.wait_for(1, now), self.tenant_writes.wait_for(1, now))
        if wait > 0:
            return max(1, math.ceil(wait))
        app.resource_units.take(cost)
        if is_write:
            app.writes.take(1)
            self.tenant_writes.take(1)
            self._count_write(app)
        return None

    def _count_write(self, app: AppBuckets) -> None:
        now = time.monotonic()
        self.writes_admitted += 1
        app.writes_admitted += 1
        if self.first_write_at is None:
            self.first_write_at = now
        self.last_write_at = now

    def stats(self) -> dict[str, Any]:
        """What the write buckets allowed, so tests can check admitted writes against them."""
        span = (
            self.last_write_at - self.first_write_at
            if self.first_write_at is not None and self.last_write_at is not None
            else 0.0
        )
        return {
            "enabled": self.enabled,
            "writesAdmitted": self.writes_admitted,
            "writeBucketCapacity": self.writes_per_window,
            "writeRefillPerSecond": self.writes_per_window / self.write_window_seconds,
            "writeSpanSeconds": span,
            "tenantWriteBucketCapacity": self.tenant_writes_per_window,
            "tenantWriteRefillPerSecond": (
                self.tenant_writes_per_window / self.tenant_write_window_seconds
            ),
            "writesAdmittedByApp": {k: v.writes_admitted for k, v in sorted(self.apps.items())},
        }
