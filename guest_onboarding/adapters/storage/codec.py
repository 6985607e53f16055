"""Ledger rows as Table entities, and typed changes as the properties they write.

One generic mapping, so a field added to ``LedgerEntry``, to a ``Change`` or to ``Invitation``
is stored and read back with no edit here: the invitation's fields are columns of their own
(a reminder re-sends them), step statuses are columns named by their step key (and Graph's id
of a grant by ``gid_`` and its step key), ``None`` is written as an empty string (a MERGE
cannot remove a property) and read back as ``None``, tuples are stored as JSON arrays, mappings
(the guest's profile) as JSON objects and dates (not times) as ISO text (``2027-03-31``, which
sorts and compares as the date does).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from guest_onboarding.domain.changes import Change, Transition, changed_fields, history_line
from guest_onboarding.domain.invitation import Invitation, is_step_key
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus

_INVITATION_FIELDS = tuple(f.name for f in dataclasses.fields(Invitation))


def _holds_tuple(annotation: object) -> bool:
    if get_origin(annotation) is tuple:
        return True
    return get_origin(annotation) in (Union, UnionType) and any(
        get_origin(arg) is tuple for arg in get_args(annotation)
    )


def _tuple_fields(cls: type) -> frozenset[str]:
    """The fields of a dataclass stored as JSON arrays."""
    return frozenset(name for name, hint in get_type_hints(cls).items() if _holds_tuple(hint))


def _date_fields(cls: type) -> frozenset[str]:
    """The fields of a dataclass that hold a calendar date (stored as ISO text)."""
    return frozenset(
        name for name, hint in get_type_hints(cls).items() if date in get_args(hint) or hint is date
    )


def _holds_mapping(annotation: object) -> bool:
    if get_origin(annotation) in (dict, Mapping):
        return True
    return get_origin(annotation) in (Union, UnionType) and any(
        get_origin(arg) in (dict, Mapping) for arg in get_args(annotation)
    )


def _mapping_fields(cls: type) -> frozenset[str]:
    """The fields of a dataclass stored as JSON objects (``steps`` has columns of its own)."""
    hints = get_type_hints(cls).items()
    return frozenset(name for name, hint in hints if _holds_mapping(hint)) - {"steps"}


_INVITATION_TUPLES = _tuple_fields(Invitation)
_ENTRY_TUPLES = _tuple_fields(LedgerEntry)
_ENTRY_DATES = _date_fields(LedgerEntry)
_ENTRY_MAPPINGS = _mapping_fields(LedgerEntry)
_ENTRY_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(LedgerEntry)
    if f.name not in {"email", "steps", "grant_ids", "etag", "invitation"}
)
_CLEARED = ""
#: Column prefix of Graph's id of a grant (``gid_`` + the grant's step key).
GRANT_ID_PREFIX = "gid_"


#: Partition of retired rows (their key is a hash, not an address).
RETIRED_PARTITION = "retired"


def partition_of(email: str) -> str:
    """One partition per domain spreads load while keeping a company's guests together."""
    return email.rsplit("@", 1)[-1] if "@" in email else RETIRED_PARTITION


def keys(email: str) -> dict[str, str]:
    return {"PartitionKey": partition_of(email), "RowKey": email}


def _encode(value: object) -> object:
    if value is None:
        return _CLEARED
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return json.dumps(list(value))
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return json.dumps(dict(value), ensure_ascii=False, sort_keys=True)
    return value


def _properties(fields: Mapping[str, object]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "steps":
            assert isinstance(value, Mapping)
            properties.update({key: _encode(status) for key, status in value.items()})
        elif name == "grant_ids":
            assert isinstance(value, Mapping)
            properties.update({GRANT_ID_PREFIX + key: str(id_) for key, id_ in value.items()})
        elif name == "invitation":
            if isinstance(value, Invitation):
                properties.update({n: _encode(getattr(value, n)) for n in _INVITATION_FIELDS})
        else:
            properties[name] = _encode(value)
    return properties


def entity_of_entry(entry: LedgerEntry) -> dict[str, Any]:
    """The whole row (an insert or a replace)."""
    fields = {f.name: getattr(entry, f.name) for f in dataclasses.fields(LedgerEntry)}
    for name in ("email", "etag"):
        fields.pop(name)
    return keys(entry.email) | _properties(fields)


def entity_of_change(
    email: str,
    change: Change,
    *,
    updated_at: datetime,
    history: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The properties ``change`` writes (a MERGE); a transition also writes the row's history
    with this change appended to ``history`` (the row's history as read)."""
    fields = {**changed_fields(change), "updated_at": updated_at}
    if isinstance(change, Transition):
        status = fields["status"]
        assert isinstance(status, GuestStatus)
        fields["history"] = (*(history or ()), history_line(status, change.at))
    return keys(email) | _properties(fields)


def utc(value: object) -> datetime:
    """A datetime read from a Table as a plain UTC ``datetime``: the SDK's carry their own tz
    type (``TablesEntityDatetime``), which compares and prints unlike the domain's."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime property, got {type(value).__name__}")
    return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def _decode(value: object) -> object:
    if value == _CLEARED:
        return None
    if isinstance(value, datetime):
        return utc(value)
    return value


def entry_of_entity(entity: Mapping[str, Any], etag: str | None) -> LedgerEntry:
    """The row as a ``LedgerEntry`` (columns a projection left out keep their defaults)."""
    data = {name: _decode(value) for name, value in entity.items()}
    invitation = None
    if data.get("redirect_url"):
        values: dict[str, Any] = {n: data[n] for n in _INVITATION_FIELDS if n in data}
        for name in _INVITATION_TUPLES & values.keys():
            if isinstance(values[name], str):
                values[name] = tuple(json.loads(values[name]))
        invitation = Invitation(**values)
    fields: dict[str, Any] = {n: data[n] for n in _ENTRY_FIELDS if data.get(n) is not None}
    for name in _ENTRY_TUPLES & fields.keys():
        if isinstance(fields[name], str):
            fields[name] = tuple(json.loads(fields[name]))
    for name in _ENTRY_DATES & fields.keys():
        if isinstance(fields[name], str):
            fields[name] = date.fromisoformat(fields[name])
    for name in _ENTRY_MAPPINGS & fields.keys():
        if isinstance(fields[name], str):
            fields[name] = dict(json.loads(fields[name]))
    fields["status"] = GuestStatus(str(data.get("status") or GuestStatus.INVITING))
    return LedgerEntry(
        email=str(entity["RowKey"]),
        invitation=invitation,
        steps={k: StepStatus(str(v)) for k, v in data.items() if is_step_key(k)},
        grant_ids={
            k.removeprefix(GRANT_ID_PREFIX): str(v)
            for k, v in data.items()
            if k.startswith(GRANT_ID_PREFIX) and v
        },
        etag=etag,
        **fields,
    )
