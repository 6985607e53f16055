"""A guest's profile as HR describes it: the Graph ``user`` attributes dynamic membership rules
read, which fields a deployment writes (``GUEST_PROFILE_FIELDS``), what a value may say, and
what HR's latest word makes of the profile recorded before. No I/O.

- **Fields**: :class:`ProfileField`, Graph's property names. A message naming one the
  deployment does not write is refused (``ProfileFieldNotAllowed``); a name that is none of them
  is an ``UnknownField``.
- **Values**: a string, or ``null`` to clear the attribute. Each is held to the content rules
  of ``displayName`` (:func:`guest_onboarding.domain.content.check_profile_value`: no control,
  format, bidi, zero-width or line-break character, no link outside the redirect allow-list),
  since Graph shows these attributes to everyone in the tenant (people cards, the address list).
  Lengths are Graph's, counted in UTF-16 code units as Graph counts: Microsoft's ``user``
  resource page (microsoftgraph/microsoft-graph-docs-contrib
  ``api-reference/v1.0/resources/user.md`` at ``fef668e772bf``) gives companyName 64,
  department 64, employeeId 16, jobTitle 128, city 128, country 128; it gives none for
  employeeType and officeLocation, which are capped at 256 here (displayName's limit: the
  project's choice). The vendored schema (graph_reference/data/graph-v1.0.csdl) types every one
  as ``Edm.String`` with no length or format. ``usageLocation`` is "a two letter country code
  (ISO standard 3166)" (the same page): an ISO 3166-1 alpha-2 code (the ``iso3166`` package's
  table), written in upper case.
- **HR's latest word is the profile** (:func:`profile_after`): a message's ``profile`` states the
  whole profile. The fields it names are set (``null`` clears one this app set); a field this
  app set before and the new profile leaves out is cleared; a field this app never set is left
  as it is, even when HR names it null. A message without ``profile`` changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from iso3166 import countries_by_alpha2

from guest_onboarding.domain.content import check_profile_value
from guest_onboarding.domain.ledger import LedgerEntry, created_here
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage


class ProfileField(StrEnum):
    """The profile attributes an HR message may carry (Graph's ``user`` property names)."""

    COMPANY_NAME = "companyName"
    DEPARTMENT = "department"
    JOB_TITLE = "jobTitle"
    EMPLOYEE_TYPE = "employeeType"
    EMPLOYEE_ID = "employeeId"
    OFFICE_LOCATION = "officeLocation"
    USAGE_LOCATION = "usageLocation"
    CITY = "city"
    COUNTRY = "country"


#: Maximum lengths in UTF-16 code units (see the module docstring for the sources).
MAX_LENGTH: Mapping[ProfileField, int] = {
    ProfileField.COMPANY_NAME: 64,
    ProfileField.DEPARTMENT: 64,
    ProfileField.JOB_TITLE: 128,
    ProfileField.EMPLOYEE_TYPE: 256,
    ProfileField.EMPLOYEE_ID: 16,
    ProfileField.OFFICE_LOCATION: 256,
    ProfileField.USAGE_LOCATION: 2,
    ProfileField.CITY: 128,
    ProfileField.COUNTRY: 128,
}

#: A profile: Graph property name -> value (None: cleared).
Profile = Mapping[str, str | None]


def profile_field(name: str) -> ProfileField | None:
    """The field ``name`` names (Graph's spelling, exactly), or None."""
    try:
        return ProfileField(name)
    except ValueError:
        return None


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_value(field: ProfileField, value: str, policy: Policy) -> str:
    """``value`` as it is written to ``field``, or ``InvalidMessage`` (``UnsafeCharacter``,
    ``LinkNotAllowed``, ``FieldTooLong``, ``InvalidField``)."""
    where = f"profile.{field.value}"
    if not value.strip():
        raise InvalidMessage("InvalidField", f"'{where}' is empty (null clears it)")
    if field is ProfileField.USAGE_LOCATION:
        code = value.strip().upper()
        if len(code) != 2 or code not in countries_by_alpha2:
            raise InvalidMessage(
                "InvalidField",
                f"'{where}' must be a two-letter ISO 3166 country code (US, GB, JP...)",
            )
        return code
    value = check_profile_value(value, where, policy)
    limit, units = MAX_LENGTH[field], _units(value)
    if units > limit:
        raise InvalidMessage(
            "FieldTooLong", f"'{where}' is too long: at most {limit} UTF-16 code units, got {units}"
        )
    return value


def check_profile(stated: Mapping[str, str | None], policy: Policy) -> dict[str, str | None]:
    """An HR message's ``profile`` checked against ``policy`` (``GUEST_PROFILE_FIELDS`` and the
    content rules): the values as they are written, in the fields' order."""
    checked: dict[ProfileField, str | None] = {}
    for name, value in stated.items():
        field = profile_field(name)
        if field is None:
            raise InvalidMessage(
                "UnknownField",
                f"unknown field 'profile.{name}' (the profile takes "
                f"{', '.join(f.value for f in ProfileField)})",
            )
        if field not in policy.profile_fields:
            allowed = ", ".join(sorted(policy.profile_fields)) or "none"
            raise InvalidMessage(
                "ProfileFieldNotAllowed",
                f"profile.{field.value} is not written by this deployment "
                f"(GUEST_PROFILE_FIELDS: {allowed})",
            )
        checked[field] = None if value is None else check_value(field, value, policy)
    return {f.value: checked[f] for f in ProfileField if f in checked}


def profile_after(recorded: Profile | None, stated: Profile) -> dict[str, str | None]:
    """The profile once HR's latest word ``stated`` replaces ``recorded`` (the ledger's): what it
    names as it says, and every field this app set before (a value recorded) that it leaves out
    or names null cleared (None). A null for a field this app never set is dropped: an
    attribute someone else set is theirs."""
    before = recorded or {}
    ours = {name for name, value in before.items() if value is not None}
    cleared = {name: None for name in ours if name not in stated}
    named = {name: value for name, value in stated.items() if value is not None or name in ours}
    merged: dict[str, str | None] = {**cleared, **named}
    return {f.value: merged[f.value] for f in ProfileField if f.value in merged}


def profile_carried(
    replacing: LedgerEntry | None, stated: Profile | None
) -> dict[str, str | None] | None:
    """What a new lifecycle's row records: the profile of the row it replaces as HR's
    ``stated`` replaces it (:func:`profile_after`), or as it was when none is stated."""
    recorded = replacing.profile if replacing else None
    if stated is None:
        return None if recorded is None else dict(recorded)
    return profile_after(recorded, stated)


def writable_now(recorded: Profile | None, policy: Policy) -> dict[str, str | None]:
    """What the profile step writes of the recorded profile today: the fields
    ``GUEST_PROFILE_FIELDS`` still lists, each value judged again by today's rules (a value
    they refuse now, or a field no longer listed, is left as it is on the user)."""
    writable: dict[str, str | None] = {}
    for name, value in (recorded or {}).items():
        field = profile_field(name)
        if field is None or field not in policy.profile_fields:
            continue
        if value is None:
            writable[name] = None
            continue
        try:
            writable[name] = check_value(field, value, policy)
        except InvalidMessage:
            continue
    return writable


def profile_to_clear(entry: LedgerEntry) -> dict[str, str | None]:
    """What offboarding clears on the user (the profile write's values, all None) so dynamic
    groups drop them: every attribute this app set (a value the row records), only on a guest
    this app invited (``created_here``); nothing for anyone else, whose attributes are theirs."""
    if not created_here(entry):
        return {}
    recorded = entry.profile or {}
    return {f.value: None for f in ProfileField if recorded.get(f.value) is not None}
