"""The user properties a membership rule may name, and where each one lives on Graph's `user`.

Entra's rule language names some properties differently from Graph (`physicalDeliveryOfficeName`
is Graph's `officeLocation`, `objectId` is `id`, `mobile` is `mobilePhone`); `Rule.matches` reads
a user as Graph returns it, so each property here carries both names.

Source: Microsoft's "Manage rules for dynamic membership groups in Microsoft Entra ID",
https://learn.microsoft.com/entra/identity/users/groups-dynamic-membership (MicrosoftDocs/
entra-docs, docs/identity/users/groups-dynamic-membership.md at 11d44a5c9fbb, read 2026-12-06):
its tables "Properties of type Boolean / string / string collection", "Extension attributes and
custom extension properties" and "Multi-value properties". Graph's names are from
microsoftgraph/microsoft-graph-docs-contrib api-reference/v1.0/resources/user.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a property holds, which decides the operators and values it takes."""

    STRING = "string"
    BOOLEAN = "boolean"
    STRING_COLLECTION = "string collection"


@dataclass(frozen=True)
class UserProperty:
    """One property a rule reads: its name in the rule language and its place on Graph's user.

    ``graph_path`` is the key path in the user as Graph returns it: one key for most, two for
    the on-premises extension attributes (``onPremisesExtensionAttributes.extensionAttribute1``).
    """

    rule_name: str
    graph_path: tuple[str, ...]
    kind: Kind

    @property
    def graph_name(self) -> str:
        """The top-level Graph property to `$select` to read this one."""
        return self.graph_path[0]

    def read(self, user: Mapping[str, object]) -> str | bool | tuple[str, ...] | None:
        """This property's value in ``user`` (Graph's names; an absent key is null).

        TypeError when the value is not of the property's kind: a rule must never be
        evaluated against a misread user.
        """
        value: object = user
        for key in self.graph_path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        if value is None:
            return None
        if self.kind is Kind.STRING and isinstance(value, str):
            return value
        if self.kind is Kind.BOOLEAN and isinstance(value, bool):
            return value
        if (
            self.kind is Kind.STRING_COLLECTION
            and isinstance(value, list | tuple)
            and all(isinstance(item, str) for item in value)
        ):
            return tuple(value)
        raise TypeError(
            f"user property {'.'.join(self.graph_path)!r} must be a {self.kind.value} or null, "
            f"not {type(value).__name__}"
        )


def _string(rule_name: str, graph_name: str | None = None) -> UserProperty:
    return UserProperty(rule_name, (graph_name or rule_name,), Kind.STRING)


#: Every user property the evaluator reads, by its rule-language name.
_PROPERTIES: tuple[UserProperty, ...] = (
    UserProperty("accountEnabled", ("accountEnabled",), Kind.BOOLEAN),
    _string("city"),
    _string("country"),
    _string("companyName"),
    _string("department"),
    _string("displayName"),
    _string("employeeId"),
    # Not in Microsoft's table (read 2026-12-06) though Graph's user has it and HR writes it:
    # evaluated as a string property like employeeId (unconfirmed).
    _string("employeeType"),
    _string("facsimileTelephoneNumber", "faxNumber"),
    _string("givenName"),
    _string("jobTitle"),
    _string("mail"),
    _string("mailNickname"),
    _string("mobile", "mobilePhone"),
    _string("objectId", "id"),
    _string("onPremisesDistinguishedName"),
    _string("onPremisesSecurityIdentifier"),
    _string("passwordPolicies"),
    _string("physicalDeliveryOfficeName", "officeLocation"),
    _string("postalCode"),
    _string("preferredLanguage"),
    _string("state"),
    _string("streetAddress"),
    _string("surname"),
    _string("usageLocation"),
    _string("userPrincipalName"),
    _string("userType"),
    UserProperty("otherMails", ("otherMails",), Kind.STRING_COLLECTION),
    UserProperty("proxyAddresses", ("proxyAddresses",), Kind.STRING_COLLECTION),
    *(
        UserProperty(
            f"extensionAttribute{n}",
            ("onPremisesExtensionAttributes", f"extensionAttribute{n}"),
            Kind.STRING,
        )
        for n in range(1, 16)
    ),
)
USER_PROPERTIES: Mapping[str, UserProperty] = {p.rule_name.lower(): p for p in _PROPERTIES}

#: Properties Entra's reference lists that this evaluator does not evaluate, and why.
NOT_EVALUATED: Mapping[str, str] = {
    "dirsyncenabled": (
        "dirSyncEnabled is Graph's onPremisesSyncEnabled, null for cloud-only users, and how "
        "Entra compares that null with true or false is not documented"
    ),
    "employeehiredate": "date comparisons (employeeHireDate, system.now) are not evaluated",
    "memberof": "memberOf rules depend on other groups' members and are not evaluated",
    "assignedplans": "assignedPlans (licences) are not evaluated",
    "telephonenumber": (
        "telephoneNumber is one of Graph's businessPhones, a collection; which one Entra "
        "compares is not documented"
    ),
    "sipproxyaddress": "sipProxyAddress has no Graph v1.0 user property to read it from",
}

#: Graph names people write in rules where Entra's rule language uses another name.
GRAPH_NAME_HINTS: Mapping[str, str] = {
    "officelocation": "physicalDeliveryOfficeName",
    "id": "objectId",
    "mobilephone": "mobile",
    "faxnumber": "facsimileTelephoneNumber",
    "businessphones": "telephoneNumber",
}

#: A custom extension property: `extension_<app id without dashes>_<name>`, as Graph names it.
CUSTOM_EXTENSION_PREFIX = "extension_"


def custom_extension(rule_name: str) -> UserProperty | None:
    """The custom extension property `extension_<32 hex digits>_<name>`, or None if the name
    is not one (Graph returns such a property under the same name, at the top level)."""
    if not rule_name.lower().startswith(CUSTOM_EXTENSION_PREFIX):
        return None
    app_id, separator, name = rule_name[len(CUSTOM_EXTENSION_PREFIX) :].partition("_")
    hex_digits = set("0123456789abcdefABCDEF")
    if len(app_id) != 32 or not set(app_id) <= hex_digits or not separator or not name:
        return None
    return _string(rule_name)
