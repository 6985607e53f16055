"""The assignments-queue step the ledger's key for it names: a grant's removal or its add
again, an account step, or whichever of these the row records for a key now (offboarding, a
mover's message, a returning guest)."""

from __future__ import annotations

from datetime import date

from guest_onboarding.domain.invitation import (
    ACCOUNT_STEP_PREFIX,
    PROFILE_STEP_KEY,
    AppRoleRef,
    grant_of_key,
)
from guest_onboarding.internal_messages import (
    AccountStep,
    AppRoleAssignment,
    AppRoleRemoval,
    AssignmentStep,
    GrantStep,
    GroupMembership,
    GroupRemoval,
    ProfileUpdate,
    RemovalStep,
)


def removal_step(
    email: str, user_id: str, key: str, *, external_id: str | None = None
) -> RemovalStep:
    """The step that removes the grant ``key`` names."""
    grant, base = grant_of_key(key), {"email": email, "userId": user_id, "externalId": external_id}
    if isinstance(grant, AppRoleRef):
        role = {"resourceId": grant.resource_id, "appRoleId": grant.app_role_id}
        return AppRoleRemoval.model_validate({**base, **role})
    return GroupRemoval.model_validate({**base, "groupId": grant})


def grant_step(email: str, user_id: str, key: str, *, external_id: str | None = None) -> GrantStep:
    """The step that adds the grant ``key`` names again (a removal undid a later add); a copy
    that may follow one that reached Graph (``requeued``)."""
    grant, base = grant_of_key(key), {"email": email, "userId": user_id, "externalId": external_id}
    if isinstance(grant, AppRoleRef):
        role = {"resourceId": grant.resource_id, "appRoleId": grant.app_role_id}
        return AppRoleAssignment.model_validate({**base, **role, "requeued": True})
    return GroupMembership.model_validate({**base, "groupId": grant, "requeued": True})


def account_step(
    email: str,
    user_id: str,
    key: str,
    *,
    leave_date: date | None = None,
    external_id: str | None = None,
) -> AccountStep:
    """The account step ``key`` names (``domain.offboarding``'s keys)."""
    action = key.removeprefix(ACCOUNT_STEP_PREFIX)
    base = {"email": email, "userId": user_id, "externalId": external_id}
    return AccountStep.model_validate({**base, "action": action, "leaveDate": leave_date})


def step_for_key(
    email: str, user_id: str, key: str, *, leave_date: date | None, external_id: str | None
) -> AssignmentStep:
    """The step that carries out what the ledger records for ``key`` now (a removal for a
    ``removing`` grant, the account step for an account key, the profile step for its key)."""
    if key == PROFILE_STEP_KEY:
        return ProfileUpdate(email=email, userId=user_id, externalId=external_id)
    if key.startswith(ACCOUNT_STEP_PREFIX):
        return account_step(email, user_id, key, leave_date=leave_date, external_id=external_id)
    return removal_step(email, user_id, key, external_id=external_id)
