"""What an invitation says, the validated command that carries it, and the steps it fans out to.

:class:`Invitation` is the one shape of an invitation's content: the HR message is parsed into
it, the ledger row stores it (a reminder re-sends exactly what the first invitation said), and
the Graph adapter maps it to ``POST /invitations``. Adding an HR field means adding it here, to
the schema and to the adapter's mapping (docs/extending.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from guest_onboarding.errors import InvalidMessage

#: An object id (a GUID) as Graph writes it, in any case: the one check of an id, for the
#: message schemas, the settings and the Graph adapter alike.
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_GUID = re.compile(GUID_PATTERN)


def is_guid(value: str) -> bool:
    """True when ``value`` is an object id (hyphenated, 36 characters, any case)."""
    return _GUID.fullmatch(value) is not None


#: Graph's limit of sponsors per guest (``invitedUserSponsors``: "at most 5"; GRAPH_NOTES.md,
#: "Lifecycle, sponsors and refusals"): a message names at most this many, and a guest's row
#: records (and the fan-out links) at most this many in all, whatever later messages add.
MOST_SPONSORS = 5


def sponsors_joined(known: tuple[str, ...], asked: tuple[str, ...]) -> tuple[str, ...]:
    """The sponsors a guest has once a message's ``asked`` are added to the ``known`` ones (in
    that order, each once). More than :data:`MOST_SPONSORS` in all is refused whole
    (``TooManySponsors``): message after message cannot grow a guest's sponsors (a ledger column
    and a Graph link each) without bound, and none of the message is granted."""
    joined = (*known, *(s for s in dict.fromkeys(asked) if s not in known))
    if len(joined) > MOST_SPONSORS:
        raise InvalidMessage(
            "TooManySponsors",
            f"the guest would have {len(joined)} sponsors, at most {MOST_SPONSORS}",
        )
    return joined


@dataclass(frozen=True, kw_only=True, slots=True)
class Invitation:
    """The content of one invitation email (and of every reminder that re-sends it)."""

    redirect_url: str
    display_name: str | None = None
    send_message: bool = True
    message_body: str | None = None
    message_language: str | None = None
    cc_recipient: str | None = None
    #: Object ids of the guest's sponsors (``invitedUserSponsors``), resolved and checked.
    sponsors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AppRoleRef:
    """An app role on a resource service principal (``app_role_id`` may be the all-zero
    default-access id)."""

    resource_id: str
    app_role_id: str

    def key(self) -> str:
        """The allow-list form: ``resourceId:appRoleId``, lower case."""
        return f"{self.resource_id.lower()}:{self.app_role_id.lower()}"


class AccessMode(StrEnum):
    """What an onboarding message's groups and app roles mean (``accessMode``, else the
    deployment's ``ACCESS_MODE``)."""

    ADD = "add"  # access to add: what the guest has already stays (partial messages)
    EXACT = "exact"  # all of it: what this app granted earlier and the message omits is removed


@dataclass(frozen=True, kw_only=True, slots=True)
class InvitationCommand:
    """A validated HR message: profiles expanded, defaults applied, every allow-list checked."""

    email: str
    invitation: Invitation
    groups: tuple[str, ...] = ()
    app_roles: tuple[AppRoleRef, ...] = ()
    external_id: str | None = None
    #: Sponsors as the message named them (object ids or UPNs), before they are resolved.
    sponsor_refs: tuple[str, ...] = ()
    #: The guest's profile as HR states it (``domain.profile``: Graph names, None clears), or
    #: None when the message carries none (the profile is left as it is).
    profile: Mapping[str, str | None] | None = None
    #: The day access ends, when the message said (``ends_on_given``; None: no end date).
    access_ends_on: date | None = None
    ends_on_given: bool = False
    #: The message carried groups, access profiles or app roles (only then can ``exact`` remove).
    access_given: bool = False
    #: The message's ``accessMode`` (None: the deployment's ``ACCESS_MODE``).
    access_mode: AccessMode | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OffboardCommand:
    """A validated offboarding message (``"action": "offboard"``): the address, nothing else
    (what is removed is what the ledger records this app granted)."""

    email: str
    external_id: str | None = None


# -- step keys: the ledger's name for each fan-out step, derived here and nowhere else ----------

#: Table property names cannot hold hyphens; each step kind has its own prefix.
GROUP_STEP_PREFIX = "g_"
APP_ROLE_STEP_PREFIX = "r_"
SPONSOR_STEP_PREFIX = "s_"
#: Steps on the guest's account itself (revoke sessions, disable or enable sign-in, the leave
#: date): one fixed key each (``domain.offboarding``).
ACCOUNT_STEP_PREFIX = "o_"
PROFILE_STEP_PREFIX = "p_"
STEP_KEY_PREFIXES = (
    GROUP_STEP_PREFIX,
    APP_ROLE_STEP_PREFIX,
    SPONSOR_STEP_PREFIX,
    ACCOUNT_STEP_PREFIX,
    PROFILE_STEP_PREFIX,
)
#: Steps that grant access (what offboarding and a mover's message remove).
GRANT_STEP_PREFIXES = (GROUP_STEP_PREFIX, APP_ROLE_STEP_PREFIX)
#: The one profile step of a guest: it brings the user in line with the profile the ledger
#: records (queued again, as ``queued``, whenever HR's profile changes).
PROFILE_STEP_KEY = PROFILE_STEP_PREFIX + "profile"


def _compact(guid: str) -> str:
    return guid.lower().replace("-", "")


def group_step_key(group_id: str) -> str:
    """Ledger key of the step that adds the guest to ``group_id``."""
    return GROUP_STEP_PREFIX + _compact(group_id)


def app_role_step_key(resource_id: str, app_role_id: str) -> str:
    """Ledger key of the step that assigns ``app_role_id`` on ``resource_id``."""
    return APP_ROLE_STEP_PREFIX + _compact(resource_id) + "_" + _compact(app_role_id)


def sponsor_step_key(sponsor_id: str) -> str:
    """Ledger key of the step that adds ``sponsor_id`` to an existing user's sponsors."""
    return SPONSOR_STEP_PREFIX + _compact(sponsor_id)


def is_step_key(name: str) -> bool:
    """True for a ledger column that holds a step's status."""
    return name.startswith(STEP_KEY_PREFIXES)


def is_grant_key(key: str) -> bool:
    """True for the step of a group membership or an app role assignment."""
    return key.startswith(GRANT_STEP_PREFIXES)


def _hyphenated(compact: str) -> str:
    c = compact
    return f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}"


def grant_of_key(key: str) -> str | AppRoleRef:
    """What a grant step's key names: a group id, or an app role (ids as Graph writes them)."""
    if key.startswith(GROUP_STEP_PREFIX):
        return _hyphenated(key[len(GROUP_STEP_PREFIX) :])
    if key.startswith(APP_ROLE_STEP_PREFIX):
        resource, _, role = key[len(APP_ROLE_STEP_PREFIX) :].partition("_")
        return AppRoleRef(resource_id=_hyphenated(resource), app_role_id=_hyphenated(role))
    raise ValueError(f"not a grant step key: {key!r}")
