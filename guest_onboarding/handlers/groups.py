"""Dynamic groups on the allow-lists, found once per process before any guest meets them.

A group whose ``groupTypes`` holds ``DynamicMembership`` takes its members from a rule: Graph
refuses every ``POST /groups/{id}/members/$ref`` to it, with the same 403 "Insufficient
privileges" it gives for a role-assignable group or a missing permission (Microsoft's
"Troubleshoot 403 error when adding a user to a group"; graph_emulator/dynamic_groups.py), so
the error alone cannot say why. So at the first delivery of a process (never at indexing: cold
start), :class:`DynamicGroupCheck` reads every group of ``ACCESS_PROFILES`` and
``ALLOWED_GROUP_IDS`` (``GET /groups/{id}``, concurrently, GroupMember.Read.All behind
``DETECT_DYNAMIC_GROUPS``), logs each dynamic one once, naming the group and the setting, and
folds it into the policy: a message naming it, directly or through an access profile, is refused
whole (``DynamicGroupNotAssignable``) before anything is done for the guest, as any group the
app may not grant is; a queued step for it is refused too, instead of meeting Graph's 403.

Why refused rather than skipped: skipping would onboard the guest without a group the setting
promised, and report success; whether they land in it depends on a rule the app does not
evaluate. Refused messages wait in poison, to replay once the setting is fixed (the dynamic
group taken out of the profile; HR's ``profile`` is what puts guests in it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import PermanentDirectoryError, ServiceError
from guest_onboarding.ports import Directory, DirectoryGroup

_log = logging.getLogger("guest_onboarding")

#: After a check that Graph could not answer (throttled, 5xx), the next delivery tries again
#: no sooner than this.
RETRY_AFTER = timedelta(seconds=60)


def refusal(group: DirectoryGroup, named_by: list[str]) -> str:
    """What a refusal (and the log line) says about a dynamic group."""
    name = f" ({group.display_name!r})" if group.display_name else ""
    rule = f", rule {group.membership_rule!r}" if group.membership_rule else ""
    return (
        f"group {group.id}{name} is a dynamic group (groupTypes DynamicMembership{rule}): it "
        f"cannot take members, and {' and '.join(named_by) or 'the allow-list'} names it; take "
        "it out of the setting (guests land in it by the profile HR sends) and replay"
    )


@dataclass(kw_only=True)
class DynamicGroupCheck:
    """A policy with the allow-listed dynamic groups folded in, checked once per process and
    policy (built once, in ``bootstrap.Runtime``)."""

    directory: Directory
    enabled: bool
    _policy: Policy | None = field(default=None, init=False)
    _checked: Policy | None = field(default=None, init=False)
    _retry_at: datetime | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def policy_now(self, policy: Policy, now: datetime) -> Policy:
        """``policy``, refusing the dynamic groups found (the first call reads the groups)."""
        if not self.enabled:
            return policy
        async with self._lock:
            if self._policy is not policy:  # settings other than the ones checked (tests)
                self._policy, self._checked, self._retry_at = policy, None, None
            if self._checked is None and (self._retry_at is None or now >= self._retry_at):
                await self._check(policy, now)
        return self._checked or policy

    async def _check(self, policy: Policy, now: datetime) -> None:
        groups = sorted(policy.group_allow_list)
        try:
            found = await asyncio.gather(*(self.directory.get_group(g) for g in groups))
        except PermanentDirectoryError as exc:
            _log.warning(
                "dynamic groups not checked: Graph refused to read the allow-listed groups (%s: "
                "GroupMember.Read.All is granted with DETECT_DYNAMIC_GROUPS); a dynamic group "
                "there fails at Graph for each guest",
                exc.code,
            )
            self._checked = policy
            return
        except ServiceError as exc:  # throttled, 5xx, no token, the budget table
            _log.warning("dynamic groups not checked yet (%s); trying again later", exc.code)
            self._retry_at = now + RETRY_AFTER
            return
        unassignable: dict[str, str] = {}
        for group_id, group in zip(groups, found, strict=True):
            named_by = policy.settings_naming(group_id)
            if group is None:
                _log.warning(
                    "group %s named by %s does not exist: its steps will fail",
                    group_id,
                    " and ".join(named_by),
                )
            elif group.is_dynamic:
                unassignable[group_id] = refusal(group, named_by)
                _log.error(
                    "DynamicGroupNotAssignable: %s; messages naming it are refused",
                    unassignable[group_id],
                )
        self._checked = dataclasses.replace(policy, unassignable_groups=unassignable)
