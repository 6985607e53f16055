"""Parsers of setting values: each turns one app setting's text into a typed value, or raises
:class:`SettingsError` naming the setting. :mod:`guest_onboarding.config` reads the settings and
calls these."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import TypeVar

from guest_onboarding.domain.addresses import DomainError, canonical_domain, check_address
from guest_onboarding.domain.invitation import AppRoleRef, is_guid
from guest_onboarding.domain.policy import AccessProfile
from guest_onboarding.domain.profile import ProfileField, profile_field
from guest_onboarding.domain.redirects import RedirectAllowList, RedirectError, parse_url
from guest_onboarding.domain.schedule import ExpiredGuestAction
from guest_onboarding.errors import InvalidMessage

E = TypeVar("E", bound=StrEnum)


class SettingsError(ValueError):
    """A setting is present but malformed; raised at start-up, naming the setting."""


def parse_csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_domains(name: str, get: Callable[[str], str]) -> frozenset[str]:
    try:
        return frozenset(canonical_domain(d) for d in parse_csv(get(name)))
    except DomainError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def parse_redirects(value: str, *, default: str) -> RedirectAllowList:
    try:
        allowed = RedirectAllowList.parse(parse_csv(value) or (default,))
    except RedirectError as exc:
        raise SettingsError(f"ALLOWED_REDIRECT_PREFIXES: {exc}") from None
    try:
        covered = allowed.allows(parse_url(default))
    except RedirectError as exc:
        raise SettingsError(f"INVITE_REDIRECT_URL: {exc}") from None
    if not covered:
        raise SettingsError(
            "INVITE_REDIRECT_URL is not under any of ALLOWED_REDIRECT_PREFIXES: every message "
            "without its own redirectUrl would be refused"
        )
    return allowed


def parse_guids(name: str, values: Iterable[str]) -> frozenset[str]:
    lowered = frozenset(v.lower() for v in values)
    bad = sorted(v for v in lowered if not is_guid(v))
    if bad:
        raise SettingsError(f"{name} must hold object ids (GUIDs), got {bad[0]!r}")
    return lowered


def parse_app_roles(value: str) -> frozenset[str]:
    roles = set()
    for entry in parse_csv(value):
        resource, _, role = entry.partition(":")
        parse_guids("ALLOWED_APP_ROLES", (resource, role))
        roles.add(f"{resource.lower()}:{role.lower()}")
    return frozenset(roles)


def parse_profile_fields(value: str) -> frozenset[str]:
    """``GUEST_PROFILE_FIELDS``: Graph's names of the profile attributes this deployment writes
    (comma-separated, any case); empty: none."""
    fields: set[str] = set()
    by_lower = {f.value.lower(): f for f in ProfileField}
    for name in parse_csv(value):
        field = profile_field(name) or by_lower.get(name.lower())
        if field is None:
            choices = ", ".join(f.value for f in ProfileField)
            raise SettingsError(f"GUEST_PROFILE_FIELDS: {name!r} is not one of {choices}")
        fields.add(field.value)
    return frozenset(fields)


def parse_int(name: str, value: str, *, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {number}")
    return number


def parse_rate(name: str, get: Callable[[str], str]) -> float:
    """A pacing rate: a finite number above 0."""
    value = get(name)
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not 0 < number < float("inf"):
        raise SettingsError(f"{name} must be above 0, got {value!r}")
    return number


def parse_bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def parse_expiry_days(value: str, reminder_days: tuple[int, ...]) -> int:
    days = parse_int("PENDING_EXPIRY_DAYS", value, minimum=0)
    if days and reminder_days and days <= reminder_days[-1]:
        raise SettingsError(
            f"PENDING_EXPIRY_DAYS ({days}) must come after the last of REMINDER_DAYS "
            f"({reminder_days[-1]}), or be 0 (never): nobody expires before their last reminder"
        )
    return days


def parse_expired_action(get: Callable[[str], str]) -> ExpiredGuestAction:
    value = get("EXPIRED_GUEST_ACTION").lower()
    try:
        action = ExpiredGuestAction(value)
    except ValueError:
        choices = ", ".join(a.value for a in ExpiredGuestAction)
        raise SettingsError(
            f"EXPIRED_GUEST_ACTION must be one of {choices}, got {value!r}"
        ) from None
    # DELETE_EXPIRED_GUESTS=true, the older switch, means EXPIRED_GUEST_ACTION=delete.
    if parse_bool("DELETE_EXPIRED_GUESTS", get("DELETE_EXPIRED_GUESTS")):
        if action not in (ExpiredGuestAction.NONE, ExpiredGuestAction.DELETE):
            raise SettingsError(
                "DELETE_EXPIRED_GUESTS=true contradicts EXPIRED_GUEST_ACTION="
                f"{action.value}: set only EXPIRED_GUEST_ACTION"
            )
        return ExpiredGuestAction.DELETE
    return action


def parse_choice(name: str, value: str, choices: type[E]) -> E:
    """One of an enum's values (``OFFBOARD_ACTION``, ``ACCESS_MODE``), in any case."""
    try:
        return choices(value.lower())
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        raise SettingsError(f"{name} must be one of {allowed}, got {value!r}") from None


def parse_reminder_days(value: str) -> tuple[int, ...]:
    days = tuple(parse_int("REMINDER_DAYS", part, minimum=1) for part in parse_csv(value))
    if list(days) != sorted(set(days)):
        raise SettingsError(f"REMINDER_DAYS must be strictly increasing, got {value!r}")
    return days


def _sponsor_ref(value: object) -> bool:
    """An object id, or a user principal name that is a valid address."""
    if not isinstance(value, str):
        return False
    if is_guid(value):
        return True
    try:
        check_address(value, field_name="sponsors")
    except InvalidMessage:
        return False
    return True


def parse_access_profiles(value: str) -> dict[str, AccessProfile]:
    try:
        raw = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"ACCESS_PROFILES is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError("ACCESS_PROFILES must be a JSON object of profiles")
    profiles: dict[str, AccessProfile] = {}
    for name, body in raw.items():
        where = f"ACCESS_PROFILES[{name!r}]"
        if not isinstance(body, dict) or set(body) - {"groups", "appRoles", "sponsors"}:
            raise SettingsError(
                f"{where} must be an object with 'groups', 'appRoles' and 'sponsors' only"
            )
        try:
            groups = [str(g).lower() for g in body.get("groups", [])]
            roles = [
                AppRoleRef(
                    resource_id=str(r["resourceId"]).lower(),
                    app_role_id=str(r["appRoleId"]).lower(),
                )
                for r in body.get("appRoles", [])
            ]
        except (KeyError, TypeError):
            raise SettingsError(f"{where}.appRoles entries need resourceId and appRoleId") from None
        parse_guids(f"{where}.groups", groups)
        parse_guids(f"{where}.appRoles", [i for r in roles for i in (r.resource_id, r.app_role_id)])
        sponsors = body.get("sponsors", [])
        if not isinstance(sponsors, list) or not all(_sponsor_ref(x) for x in sponsors):
            raise SettingsError(f"{where}.sponsors must be a list of object ids or UPNs")
        profiles[name] = AccessProfile(
            groups=tuple(groups), app_roles=tuple(roles), sponsors=tuple(sponsors)
        )
    return profiles
