"""Who the tenant lets guests be invited from: tenant-wide blocks and per-domain lists.

Graph refuses an invitation when the directory is blocked (for suspicious activity), when
external collaboration settings turn invitations off, when cross-tenant access settings block
the guest's organisation, or when the B2B allow/deny list refuses the guest's domain. Each
refusal is one entry of ``REFUSALS`` (status, code, message) so it is easy to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graph_emulator.errors import GraphError
from graph_emulator.model import lower

SUSPICIOUS_ACTIVITY = "suspiciousActivity"
EXTERNAL_COLLABORATION_DISABLED = "externalCollaborationDisabled"
CROSS_TENANT_ACCESS = "crossTenantAccess"

#: Tenant-wide refusals: status, code, message. Sources in graph_emulator/README.md.
REFUSALS: dict[str, tuple[int, str, str]] = {
    SUSPICIOUS_ACTIVITY: (
        403,
        "Forbidden",
        "Invitations are blocked for this directory due to suspicious activity. "
        "Please contact Microsoft support for help.",
    ),
    EXTERNAL_COLLABORATION_DISABLED: (
        403,
        "Forbidden",
        "Guest invitations not allowed for your company. "
        "Contact your company administrator for more details.",
    ),
    CROSS_TENANT_ACCESS: (
        403,
        "Forbidden",
        "This invitation is blocked by cross-tenant access settings.",
    ),
}


class PolicyError(ValueError):
    """A control-API invitation policy the emulator cannot apply."""


def _domains(values: Iterable[Any] | None, name: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(f"{name} must be a list of domain names")
    return frozenset(lower(v) for v in values)


@dataclass(frozen=True)
class InvitationPolicy:
    """The tenant's invitation settings; the default refuses nothing."""

    tenant_block: str | None = None
    denied_domains: frozenset[str] = frozenset()
    # None: every domain not denied is allowed; a set: only these domains are.
    allowed_domains: frozenset[str] | None = None
    cross_tenant_blocked_domains: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvitationPolicy:
        """Build the policy from its control-API JSON (see graph_emulator/README.md)."""
        block = data.get("tenantBlock")
        if block is not None and block not in REFUSALS:
            raise PolicyError(f"tenantBlock must be null or one of {sorted(REFUSALS)}")
        allowed = data.get("allowedDomains")
        if allowed is not None and data.get("deniedDomains"):
            raise PolicyError("use allowedDomains or deniedDomains, not both (as in Entra)")
        return cls(
            tenant_block=block,
            denied_domains=_domains(data.get("deniedDomains"), "deniedDomains"),
            allowed_domains=None if allowed is None else _domains(allowed, "allowedDomains"),
            cross_tenant_blocked_domains=_domains(
                data.get("crossTenantBlockedDomains"), "crossTenantBlockedDomains"
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The policy as the control API shows it."""
        return {
            "tenantBlock": self.tenant_block,
            "deniedDomains": sorted(self.denied_domains),
            "allowedDomains": (
                None if self.allowed_domains is None else sorted(self.allowed_domains)
            ),
            "crossTenantBlockedDomains": sorted(self.cross_tenant_blocked_domains),
        }

    def check(self, address: str) -> None:
        """Raise the GraphError Graph answers when this policy refuses inviting ``address``."""
        if self.tenant_block is not None:
            raise GraphError(*REFUSALS[self.tenant_block])
        domain = lower(address.rpartition("@")[2])
        if domain in self.cross_tenant_blocked_domains:
            raise GraphError(*REFUSALS[CROSS_TENANT_ACCESS])
        if domain in self.denied_domains:
            raise _domain_refused(address, f"domain '{domain}' is on the deny list")
        if self.allowed_domains is not None and domain not in self.allowed_domains:
            raise _domain_refused(address, f"domain '{domain}' is not on the allow list")


def _domain_refused(address: str, reason: str) -> GraphError:
    # Status and code unconfirmed (GRAPH_NOTES): 400 BadRequest naming the policy.
    return GraphError(
        400,
        "BadRequest",
        f"The invitation to '{address}' is blocked by the tenant's B2B collaboration policy "
        f"(external collaboration settings: {reason}).",
    )
