"""Does a JSON value fit the schema? Request bodies, response bodies and ``@odata.context``.

Follows OData JSON Format 4.01 as Graph applies it with ``odata.metadata=minimal``: an object's
properties are the structural and navigation properties its type declares or inherits (dynamic
properties only on open types, and Graph's directory accepts only directory extension properties
``extension_<app id without dashes>_<name>`` there); ``@odata.type`` names the type when it is
not the declared one (``#microsoft.graph.user`` in a ``directoryObject`` collection); a
collection response is ``{"@odata.context", ["@odata.nextLink"], ["@odata.count"], "value"}``;
an entity response carries its ``@odata.context``; primitive values follow their Edm type's JSON
representation (Guid and DateTimeOffset as strings, Int32 as a number...); a property declared
``Nullable="false"`` is never null.

Every check yields :class:`Problem`s instead of raising, so the emulator can pick the first one
and answer Graph's 400 for it, and a test can list all of them for a response.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

from graph_reference.csdl import NavigationProperty, Property, Schema, TypeRef

GRAPH_METADATA = "https://graph.microsoft.com/v1.0/$metadata#"
#: Directory extension properties, which open directory types accept (Graph's "Add custom data
#: to users using directory extensions": ``extension_{appId without dashes}_{name}``).
EXTENSION_PROPERTY = re.compile(r"^extension_[0-9a-fA-F]{32}_\w+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?(Z|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_OF_DAY = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?$")
_DURATION = re.compile(r"^-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_BINARY = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_INTEGERS = {"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64"}
_NUMBERS = {"Edm.Single", "Edm.Double", "Edm.Decimal"}
#: Top-level keys of a collection response besides ``value``.
_COLLECTION_ANNOTATIONS = {"@odata.context", "@odata.nextLink", "@odata.count", "@odata.deltaLink"}


@dataclass(frozen=True)
class Problem:
    """One way a value does not fit the schema.

    ``kind``: ``unknown-property`` (``owner`` is the type that lacks it), ``wrong-type``
    (``expected`` is the Edm or schema type), ``null`` (``expected`` is the non-nullable type),
    ``navigation`` (a navigation property where the caller allows none), ``unknown-type`` (an
    ``@odata.type`` the schema lacks or that does not derive from ``owner``), ``not-selected``
    (a property outside ``$select``), ``context`` (a missing or unresolvable
    ``@odata.context``), ``shape`` (a collection or entity body that is not one).
    """

    kind: str
    path: str
    property: str | None = None
    owner: str | None = None
    expected: str | None = None
    value: Any = None

    def __str__(self) -> str:
        where = self.path or "(body)"
        if self.kind == "unknown-property":
            return f"{where}: {self.owner} has no property {self.property!r}"
        if self.kind == "wrong-type":
            return f"{where}: {self.value!r} is not a {self.expected}"
        if self.kind == "null":
            return f"{where}: null where {self.expected} is not nullable"
        if self.kind == "navigation":
            return f"{where}: navigation property {self.property!r} of {self.owner}"
        if self.kind == "unknown-type":
            return f"{where}: @odata.type {self.value!r} is not {self.owner} or derived from it"
        if self.kind == "not-selected":
            return f"{where}: {self.property!r} was not in $select ({self.expected})"
        return f"{where}: {self.kind}: {self.value!r}"


#: Decides whether a navigation property may appear in an object: (type, property, bound) ->
#: bool; ``bound`` is True for ``property@odata.bind`` (references), False for an inline value.
NavigationPolicy = Callable[[str, str, bool], bool]


def allow_all_navigation(type_name: str, name: str, bound: bool) -> bool:
    """Responses: an expanded (or inline) navigation property is part of the entity."""
    return True


@dataclass(frozen=True)
class Target:
    """What a body is: one value of ``type`` or a collection of them (``select``: the
    ``$select``ed properties the context names, None when it names none)."""

    type: TypeRef
    select: tuple[str, ...] | None = None


class Conformance:
    """Checks JSON values against one :class:`Schema`."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        # (type, name) -> the property or navigation property: a page of 999 users asks the
        # same few thousand times, and each lookup walks the base types.
        self._members: dict[tuple[str, str], Property | NavigationProperty | None] = {}

    def member(self, type_name: str, name: str) -> Property | NavigationProperty | None:
        """The structural or navigation property ``name`` of the type (inherited ones too)."""
        key = (type_name, name)
        if key not in self._members:
            found = self.schema.property(type_name, name)
            self._members[key] = (
                found if found is not None else self.schema.navigation(type_name, name)
            )
        return self._members[key]

    # ---- values --------------------------------------------------------------------------------

    def check_value(
        self,
        ref: TypeRef,
        value: Any,
        path: str,
        navigation: NavigationPolicy = allow_all_navigation,
    ) -> Iterator[Problem]:
        """Problems of ``value`` as a value of ``ref`` (collection, nullability included)."""
        if value is None:
            if not ref.nullable:
                yield Problem("null", path, expected=ref.describe(), value=None)
            return
        if ref.collection:
            if not isinstance(value, list):
                yield Problem("wrong-type", path, expected=ref.describe(), value=value)
                return
            item = TypeRef(ref.name, collection=False, nullable=ref.nullable)
            for index, element in enumerate(value):
                yield from self.check_value(item, element, f"{path}[{index}]", navigation)
            return
        if ref.is_primitive:
            if not primitive_fits(ref.name, value):
                yield Problem("wrong-type", path, expected=ref.name, value=value)
            return
        if ref.name in self.schema.enums:
            if not self._enum_fits(ref.name, value):
                yield Problem("wrong-type", path, expected=ref.name, value=value)
            return
        if not isinstance(value, dict):
            yield Problem("wrong-type", path, expected=ref.name, value=value)
            return
        yield from self.check_object(ref.name, value, path, navigation)

    def check_object(
        self,
        type_name: str,
        value: dict[str, Any],
        path: str = "",
        navigation: NavigationPolicy = allow_all_navigation,
        select: tuple[str, ...] | None = None,
    ) -> Iterator[Problem]:
        """Problems of ``value`` as an object of ``type_name`` (or of its ``@odata.type``)."""
        declared = type_name
        odata_type = value.get("@odata.type")
        if odata_type is not None:
            resolved = self.resolve_odata_type(odata_type)
            if resolved is None or not self.schema.derives_from(resolved, declared):
                yield Problem(
                    "unknown-type", _join(path, "@odata.type"), owner=declared, value=odata_type
                )
                return
            type_name = resolved
        for key, item in value.items():
            if key[:1] == "@":
                continue  # instance annotations: @odata.type (above), @odata.id, @odata.etag...
            found = self.member(type_name, key)
            if isinstance(found, Property):
                if select is not None and key not in select:
                    yield Problem(
                        "not-selected", _join(path, key), property=key, expected=",".join(select)
                    )
                ref = found.type
                fits = _SCALAR_FITS.get(ref.name) if not ref.collection else None
                if fits is not None and item is not None:
                    # The common case, inline: a page of 999 users holds thousands of these.
                    if not fits(item):
                        yield Problem("wrong-type", _join(path, key), expected=ref.name, value=item)
                    continue
                yield from self.check_value(ref, item, _join(path, key), navigation)
                continue
            where = _join(path, key)
            if found is not None:
                if not navigation(type_name, key, False):
                    yield Problem("navigation", where, property=key, owner=type_name)
                    continue
                yield from self.check_value(found.type, item, where, navigation)
                continue
            name, at, annotation = key.partition("@")
            if at:
                # A property annotation: name@odata.bind (a reference) and the like.
                if self.member(type_name, name) is None:
                    yield self._unknown(type_name, name, where)
                elif annotation == "odata.bind" and not navigation(type_name, name, True):
                    yield Problem("navigation", where, property=name, owner=type_name)
                continue
            if self.schema.is_open(type_name) and EXTENSION_PROPERTY.match(key):
                continue
            yield self._unknown(type_name, key, where)

    def _unknown(self, type_name: str, name: str, path: str) -> Problem:
        return Problem("unknown-property", path, property=name, owner=type_name)

    def resolve_odata_type(self, value: Any) -> str | None:
        """``#microsoft.graph.user`` (or ``#graph.user``) -> ``microsoft.graph.user``."""
        if not isinstance(value, str) or not value.startswith("#"):
            return None
        name = value[1:]
        if name.startswith("graph."):
            name = "microsoft." + name
        return name if name in self.schema.structured else None

    def _enum_fits(self, enum_name: str, value: Any) -> bool:
        enum = self.schema.enums[enum_name]
        if not isinstance(value, str):
            return False
        members = [part.strip() for part in value.split(",")] if enum.flags else [value]
        return all(member in enum.members for member in members)

    # ---- responses -----------------------------------------------------------------------------

    def resolve_context(self, context: Any) -> Target | None:
        """The type an ``@odata.context`` URL names, or None when the schema cannot say.

        Handles the forms Graph sends for these APIs: ``$metadata#users``,
        ``$metadata#users/$entity``, ``$metadata#users(id,mail)``,
        ``$metadata#servicePrincipals('<id>')/appRoleAssignedTo[/$entity]``,
        ``$metadata#directoryObjects``, ``$metadata#Edm.Boolean``.
        """
        if not isinstance(context, str) or not context.startswith(GRAPH_METADATA):
            return None
        fragment = unquote(context[len(GRAPH_METADATA) :])
        entity = fragment.endswith("/$entity")
        if entity:
            fragment = fragment[: -len("/$entity")]
        if fragment.startswith("Edm.") or fragment.startswith("Collection(Edm."):
            collection = fragment.startswith("Collection(")
            name = fragment[len("Collection(") : -1] if collection else fragment
            return Target(TypeRef(name, collection=collection))
        select: tuple[str, ...] | None = None
        segments = _split_segments(fragment)
        if not segments:
            return None
        first, _, rest = segments[0].partition("(")
        type_name = self.schema.entity_sets.get(first) or self.schema.singletons.get(first)
        if type_name is None:
            return None
        collection = first in self.schema.entity_sets
        if rest:
            inside = rest[:-1]
            if inside.startswith("'") or _GUID.match(inside):
                collection = False  # a key: one entity of the set
            elif len(segments) == 1:
                select = tuple(part.strip() for part in inside.split(",") if part.strip())
        for segment in segments[1:]:
            name, _, rest = segment.partition("(")
            nav = self.schema.navigation(type_name, name)
            if nav is None:
                return None
            type_name, collection = nav.type.name, nav.type.collection
            if rest:
                inside = rest[:-1]
                if inside.startswith("'") or _GUID.match(inside):
                    collection = False
                else:
                    select = tuple(part.strip() for part in inside.split(",") if part.strip())
        return Target(TypeRef(type_name, collection=collection and not entity), select)

    def check_response(self, body: Any) -> list[Problem]:
        """Every problem of a success response body against its own ``@odata.context``."""
        if not isinstance(body, dict):
            return [Problem("shape", "", value=body)]
        target = self.resolve_context(body.get("@odata.context"))
        if target is None:
            return [Problem("context", "@odata.context", value=body.get("@odata.context"))]
        problems: list[Problem] = []
        if target.type.collection:
            for key in body:
                if key != "value" and key not in _COLLECTION_ANNOTATIONS:
                    problems.append(Problem("shape", key, value=body[key]))
            next_link = body.get("@odata.nextLink")
            if next_link is not None and not _is_absolute_url(next_link):
                problems.append(
                    Problem("wrong-type", "@odata.nextLink", expected="URL", value=next_link)
                )
            count = body.get("@odata.count")
            if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
                problems.append(
                    Problem("wrong-type", "@odata.count", expected="Edm.Int64", value=count)
                )
            values = body.get("value")
            if not isinstance(values, list):
                return [*problems, Problem("shape", "value", value=values)]
            item_type = TypeRef(target.type.name)
            for index, item in enumerate(values):
                where = f"value[{index}]"
                if item_type.is_primitive or not isinstance(item, dict):
                    problems.extend(self.check_value(item_type, item, where))
                else:
                    problems.extend(
                        self.check_object(item_type.name, item, where, select=target.select)
                    )
            return problems
        if target.type.is_primitive:
            return list(self.check_value(target.type, body.get("value"), "value"))
        return list(self.check_object(target.type.name, body, "", select=target.select))


def primitive_fits(type_name: str, value: Any) -> bool:
    """Whether a JSON value is a valid representation of an Edm primitive type."""
    if type_name == "Edm.String":
        return isinstance(value, str)
    if type_name == "Edm.Boolean":
        return isinstance(value, bool)
    if type_name in _INTEGERS:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name in _NUMBERS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if not isinstance(value, str):
        return type_name == "Edm.Untyped"
    if type_name == "Edm.Guid":
        return bool(_GUID.match(value))
    if type_name == "Edm.DateTimeOffset":
        return bool(_DATE_TIME_OFFSET.match(value))
    if type_name == "Edm.Date":
        return bool(_DATE.match(value))
    if type_name == "Edm.TimeOfDay":
        return bool(_TIME_OF_DAY.match(value))
    if type_name == "Edm.Duration":
        return bool(_DURATION.match(value))
    if type_name == "Edm.Binary":
        return bool(_BINARY.match(value))
    return True  # Edm.Stream, Edm.Untyped, geography...: not used by these APIs


#: Each scalar primitive type's test, looked up once per property of an object instead of
#: walking primitive_fits' branches (a page of 999 users checks thousands of values).
_SCALAR_FITS: dict[str, Callable[[Any], bool]] = {
    name: partial(primitive_fits, name)
    for name in (
        "Edm.Guid",
        "Edm.DateTimeOffset",
        "Edm.Date",
        "Edm.TimeOfDay",
        "Edm.Duration",
        "Edm.Binary",
        "Edm.Single",
        "Edm.Double",
        "Edm.Decimal",
        *sorted(_INTEGERS),
    )
}
_SCALAR_FITS["Edm.String"] = lambda value: isinstance(value, str)
_SCALAR_FITS["Edm.Boolean"] = lambda value: isinstance(value, bool)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _split_segments(fragment: str) -> list[str]:
    """Split on ``/`` outside parentheses (keys and select lists may hold anything)."""
    segments: list[str] = []
    depth = 0
    current = ""
    for char in fragment:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "/" and depth == 0:
            segments.append(current)
            current = ""
        else:
            current += char
    if current:
        segments.append(current)
    return segments


def _is_absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
