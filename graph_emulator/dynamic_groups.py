"""Dynamic groups: members that come and go with a rule over user properties, after a delay.

What Entra does, from "Manage rules for dynamic membership groups in Microsoft Entra ID"
(MicrosoftDocs/entra-docs docs/identity/users/groups-dynamic-membership.md at 11d44a5c9fbb,
section "Considerations for dynamic membership groups"): "When the attributes of a user or a
device change, the system evaluates all rules for dynamic membership groups in a directory ...
If users or devices satisfy a rule on a group, they're added as members of that group. If they
no longer satisfy the rule, they're removed. You can't manually add or remove a member of a
dynamic membership group." And from "Troubleshoot and resolve groups issues"
(docs/identity/users/groups-troubleshooting.md): evaluation "is done periodically in an
asynchronous background process"; small directories "see the dynamic membership group changes
in less than a few minutes".

So here: a user created (invited, restored) or changed (`PATCH /users/{id}`) is queued; once the
processing delay has passed on the emulator's clock (`POST /_control/faults`
`{"dynamicMembershipLag": {"seconds": n}}`, default 0; `POST /_control/clock` moves the clock),
the next request evaluates the user's current properties against every dynamic group whose
`membershipRuleProcessingState` is "On", and adds or removes the user. A "Paused" group keeps
its members. Rules are evaluated by `membership_rules` (Entra's rule language).

Adding a member through `POST /groups/{id}/members/$ref` is refused with 403
`Authorization_RequestDenied` "Insufficient privileges to complete the operation.": Microsoft's
"Troubleshoot 403 error when adding a user to a group by using Microsoft Graph API"
(https://learn.microsoft.com/troubleshoot/entra/entra-id/users-groups-entra-apis/
authorization-requestdenied-403-error-add-user-group, read 2026-12-06) gives that answer for
groups whose membership Graph cannot manage and names dynamic groups among them; that a
dynamic group gets exactly this body is not stated (unconfirmed).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from typing import Any

from graph_emulator.errors import GraphError, forbidden
from graph_emulator.model import Group, User
from graph_emulator.serializers import USER_PROPERTIES
from graph_emulator.tenant import Tenant
from membership_rules import Rule, RuleSyntaxError, parse

DYNAMIC_MEMBERSHIP = "DynamicMembership"
PROCESSING_STATES = ("On", "Paused")


def seeded_rule(entry: Mapping[str, Any]) -> tuple[tuple[str, ...], Rule | None, str | None]:
    """A seeded group's ``groupTypes``, parsed ``membershipRule`` and processing state;
    ValueError for what Graph would not have created (a rule it cannot parse, members listed
    for a dynamic group, a dynamic role-assignable group) or the emulator cannot evaluate (a
    rule reading a user property its users do not have)."""
    name = entry.get("displayName", entry.get("id"))
    group_types = tuple(entry.get("groupTypes", ()))
    text = entry.get("membershipRule")
    state = entry.get("membershipRuleProcessingState")
    if DYNAMIC_MEMBERSHIP not in group_types:
        if text is not None or state is not None:
            raise ValueError(f"group {name!r}: a membershipRule needs groupTypes DynamicMembership")
        return group_types, None, None
    if not isinstance(text, str):
        raise ValueError(f"group {name!r}: a DynamicMembership group needs a membershipRule")
    if entry.get("members"):
        raise ValueError(f"group {name!r}: a dynamic group's members come from its rule")
    if entry.get("isAssignableToRole"):
        # Graph's "Create group": a role-assignable group cannot be of dynamic membership type.
        raise ValueError(f"group {name!r}: a role-assignable group cannot be dynamic")
    state = "On" if state is None else state
    if state not in PROCESSING_STATES:
        raise ValueError(f"group {name!r}: membershipRuleProcessingState must be On or Paused")
    try:
        rule = parse(text)
    except RuleSyntaxError as exc:
        raise ValueError(f"group {name!r}: membershipRule: {exc}") from None
    unknown = sorted(rule.graph_properties - set(USER_PROPERTIES))
    if unknown:
        raise ValueError(
            f"group {name!r}: the rule reads {', '.join(unknown)}, which the emulator's users "
            "do not have"
        )
    return group_types, rule, state


def refuse_member_changes(group: Group) -> None:
    """403 for a `$ref` write to a dynamic group (see the module docstring)."""
    if group.is_dynamic:
        raise dynamic_group_refusal()


def dynamic_group_refusal() -> GraphError:
    """What Graph answers for a manual change to a dynamic group's members (unconfirmed)."""
    return forbidden()


class DynamicMembership:
    """One tenant's dynamic groups kept up to date: users queued when they change, processed
    once the delay has passed on the tenant's clock."""

    def __init__(self, tenant: Tenant, *, delay_seconds: float = 0.0) -> None:
        self.tenant = tenant
        self.delay_seconds = delay_seconds
        # (due time on the tenant clock, arrival order, user id)
        self._queue: list[tuple[float, int, str]] = []
        self._arrivals = itertools.count()
        tenant.on_user_changed = self.user_changed
        groups = self._processed_groups()
        if groups:
            for user in tenant.user_order:
                if user is not None:
                    self._evaluate(user, groups)

    def user_changed(self, user: User) -> None:
        """Queue the user for processing after the delay."""
        due = self.tenant.clock.now() + self.delay_seconds
        heapq.heappush(self._queue, (due, next(self._arrivals), user.id))

    def pending(self) -> int:
        """Users queued and not processed yet."""
        return len(self._queue)

    def process_due(self) -> None:
        """Evaluate every queued user whose delay has passed, with its properties as they are
        now, against every group being processed."""
        if not self._queue:
            return
        now = self.tenant.clock.now()
        groups = self._processed_groups()
        while self._queue and self._queue[0][0] <= now:
            _, _, user_id = heapq.heappop(self._queue)
            user = self.tenant.users.get(user_id)
            if user is not None:
                self._evaluate(user, groups)

    def _processed_groups(self) -> list[tuple[Group, Rule]]:
        return [
            (group, group.rule)
            for group in self.tenant.groups.values()
            if group.rule is not None and group.membership_rule_processing_state == "On"
        ]

    def _evaluate(self, user: User, groups: list[tuple[Group, Rule]]) -> None:
        for group, rule in groups:
            seen = {name: USER_PROPERTIES[name](user) for name in rule.graph_properties}
            if rule.matches(seen):
                group.members[user.id] = None
            else:
                group.members.pop(user.id, None)
