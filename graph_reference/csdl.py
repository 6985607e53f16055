"""Graph's ``$metadata`` (OData CSDL XML, version 4.0) read into a small model.

Only what the project asks of the schema is modelled: entity and complex types with their
structural and navigation properties (type, collection, nullability), base types, open and
abstract flags; enum types; entity sets and singletons; bound actions with their parameters; and
the properties annotated read-only (``Org.OData.Core.V1.Computed`` or
``Org.OData.Core.V1.Permissions`` = ``Read``). Type names are kept fully qualified
(``microsoft.graph.user``, ``Edm.String``): the CSDL writes them through namespace aliases
(``graph.user``), which :meth:`Schema.parse` resolves.

The format is OASIS's "OData Common Schema Definition Language (CSDL) XML Representation
Version 4.01" (elements ``Schema``, ``EntityType``, ``ComplexType``, ``EnumType``, ``Property``,
``NavigationProperty``, ``Action``, ``EntityContainer``, ``Annotations``); Microsoft publishes
Graph's in microsoftgraph/msgraph-metadata ``schemas/v1.0-Prod.csdl``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"
GRAPH_NAMESPACE = "microsoft.graph"

COMPUTED_TERM = "Org.OData.Core.V1.Computed"
PERMISSIONS_TERM = "Org.OData.Core.V1.Permissions"
READ_ONLY_PERMISSION = "Org.OData.Core.V1.Permission/Read"

#: Resolves an aliased type name (``graph.user``) to its qualified name.
Qualify = Callable[[str], str]


def edm(tag: str) -> str:
    """The qualified XML tag of a CSDL element."""
    return f"{{{EDM_NS}}}{tag}"


@dataclass(frozen=True)
class TypeRef:
    """A property's, parameter's or navigation property's type."""

    name: str
    collection: bool = False
    nullable: bool = True

    @property
    def is_primitive(self) -> bool:
        return self.name.startswith("Edm.")

    def describe(self) -> str:
        """The type as OData writes it: ``Edm.String`` or ``Collection(Edm.String)``."""
        return f"Collection({self.name})" if self.collection else self.name


@dataclass(frozen=True)
class Property:
    name: str
    type: TypeRef


@dataclass(frozen=True)
class NavigationProperty:
    name: str
    type: TypeRef
    contains_target: bool = False


@dataclass
class StructuredType:
    """An entity or complex type with the properties it declares itself (not inherited)."""

    name: str
    kind: str  # "entity" or "complex"
    base: str | None = None
    abstract: bool = False
    open: bool = False
    properties: dict[str, Property] = field(default_factory=dict)
    navigation: dict[str, NavigationProperty] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class EnumType:
    name: str
    members: tuple[str, ...]
    flags: bool = False


@dataclass(frozen=True)
class Action:
    """A bound action: ``POST /<binding>/<name>`` with its parameters as the JSON body."""

    name: str
    binding: TypeRef
    parameters: dict[str, TypeRef]
    returns: TypeRef | None = None


class Schema:
    """Graph's types as the CSDL declares them, with lookups that follow base types."""

    def __init__(
        self,
        *,
        structured: dict[str, StructuredType],
        enums: dict[str, EnumType],
        entity_sets: dict[str, str],
        singletons: dict[str, str],
        actions: list[Action],
        read_only: frozenset[str],
    ) -> None:
        self.structured = structured
        self.enums = enums
        self.entity_sets = entity_sets
        self.singletons = singletons
        self.actions = actions
        #: ``"<qualified type>/<property>"`` for every property annotated read-only.
        self.read_only = read_only
        self._derived: dict[str, list[str]] = {}
        for item in structured.values():
            if item.base is not None:
                self._derived.setdefault(item.base, []).append(item.name)

    # ---- parsing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, document: bytes) -> Schema:
        """The schema in a CSDL XML document (Microsoft's whole file or an extract of it)."""
        root = ET.fromstring(document)
        aliases = namespace_aliases(root)
        structured: dict[str, StructuredType] = {}
        enums: dict[str, EnumType] = {}
        entity_sets: dict[str, str] = {}
        singletons: dict[str, str] = {}
        actions: list[Action] = []
        read_only: set[str] = set()

        def qualify(name: str) -> str:
            return qualified_name(name, aliases)

        for schema in root.iter(edm("Schema")):
            namespace = schema.get("Namespace", "")
            for element in schema:
                if element.tag in (edm("EntityType"), edm("ComplexType")):
                    item = _structured_type(element, namespace, qualify)
                    structured[item.name] = item
                    read_only |= {
                        f"{item.name}/{p.get('Name')}"
                        for p in element
                        if p.tag == edm("Property") and _is_read_only(p)
                    }
                elif element.tag == edm("EnumType"):
                    members = tuple(m.get("Name", "") for m in element if m.tag == edm("Member"))
                    name = f"{namespace}.{element.get('Name')}"
                    enums[name] = EnumType(name, members, element.get("IsFlags") == "true")
                elif element.tag == edm("Action") and element.get("IsBound") == "true":
                    action = _action(element, qualify)
                    if action is not None:
                        actions.append(action)
                elif element.tag == edm("EntityContainer"):
                    for member in element:
                        if member.tag == edm("EntitySet"):
                            entity_sets[member.get("Name", "")] = qualify(
                                member.get("EntityType", "")
                            )
                        elif member.tag == edm("Singleton"):
                            singletons[member.get("Name", "")] = qualify(member.get("Type", ""))
                elif element.tag == edm("Annotations") and _is_read_only(element):
                    target = element.get("Target", "")
                    if "/" in target:
                        type_name, _, prop = target.partition("/")
                        read_only.add(f"{qualify(type_name)}/{prop}")
        return cls(
            structured=structured,
            enums=enums,
            entity_sets=entity_sets,
            singletons=singletons,
            actions=actions,
            read_only=frozenset(read_only),
        )

    # ---- lookups -------------------------------------------------------------------------------

    def type(self, name: str) -> StructuredType:
        """The entity or complex type ``name`` (qualified); KeyError if the schema lacks it."""
        return self.structured[name]

    def lineage(self, name: str) -> Iterator[StructuredType]:
        """The type, then its base type, and so on up to the root."""
        current: str | None = name
        while current is not None and current in self.structured:
            item = self.structured[current]
            yield item
            current = item.base

    def property(self, type_name: str, name: str) -> Property | None:
        """A structural property the type declares or inherits."""
        for item in self.lineage(type_name):
            if name in item.properties:
                return item.properties[name]
        return None

    def navigation(self, type_name: str, name: str) -> NavigationProperty | None:
        """A navigation property the type declares or inherits."""
        for item in self.lineage(type_name):
            if name in item.navigation:
                return item.navigation[name]
        return None

    def properties(self, type_name: str) -> dict[str, Property]:
        """Every structural property of the type, inherited ones included."""
        found: dict[str, Property] = {}
        for item in reversed(list(self.lineage(type_name))):
            found.update(item.properties)
        return found

    def is_open(self, type_name: str) -> bool:
        """An open type, or one derived from an open type, accepts dynamic properties."""
        return any(item.open for item in self.lineage(type_name))

    def derives_from(self, name: str, base: str) -> bool:
        """``name`` is ``base`` or a type derived from it."""
        return any(item.name == base for item in self.lineage(name))

    def derived(self, name: str) -> list[str]:
        """The types directly derived from ``name``."""
        return list(self._derived.get(name, ()))

    def is_read_only(self, type_name: str, name: str) -> bool:
        """The schema annotates the property as computed or read-only."""
        return any(f"{item.name}/{name}" in self.read_only for item in self.lineage(type_name))

    def bound_action(self, type_name: str, name: str) -> Action | None:
        """The action ``name`` bound to the type (or one of its base types)."""
        lineage = {item.name for item in self.lineage(type_name)}
        for action in self.actions:
            binding = action.binding
            if action.name == name and not binding.collection and binding.name in lineage:
                return action
        return None


def namespace_aliases(root: ET.Element) -> dict[str, str]:
    """Alias -> namespace for every ``Schema`` of the document (namespaces map to themselves)."""
    aliases: dict[str, str] = {}
    for schema in root.iter(edm("Schema")):
        namespace = schema.get("Namespace", "")
        aliases[namespace] = namespace
        alias = schema.get("Alias")
        if alias:
            aliases[alias] = namespace
    return aliases


def qualified_name(name: str, aliases: dict[str, str]) -> str:
    """``graph.user`` -> ``microsoft.graph.user``; ``Edm.*`` and unknown prefixes unchanged."""
    if name.startswith("Collection(") and name.endswith(")"):
        return f"Collection({qualified_name(name[len('Collection(') : -1], aliases)})"
    prefix, dot, local = name.rpartition(".")
    if not dot or prefix == "Edm":
        return name
    return f"{aliases.get(prefix, prefix)}.{local}"


def type_ref(type_text: str, nullable: str | None, qualify: Qualify) -> TypeRef:
    """A TypeRef from a ``Type`` attribute (``Collection(...)`` or not) and ``Nullable``."""
    collection = type_text.startswith("Collection(") and type_text.endswith(")")
    inner = type_text[len("Collection(") : -1] if collection else type_text
    return TypeRef(qualify(inner), collection, nullable != "false")


def _structured_type(element: ET.Element, namespace: str, qualify: Qualify) -> StructuredType:
    kind = "entity" if element.tag == edm("EntityType") else "complex"
    base = element.get("BaseType")
    item = StructuredType(
        name=f"{namespace}.{element.get('Name')}",
        kind=kind,
        base=qualify(base) if base else None,
        abstract=element.get("Abstract") == "true",
        open=element.get("OpenType") == "true",
    )
    for child in element:
        name = child.get("Name", "")
        if child.tag == edm("Property"):
            item.properties[name] = Property(
                name, type_ref(child.get("Type", ""), child.get("Nullable"), qualify)
            )
        elif child.tag == edm("NavigationProperty"):
            item.navigation[name] = NavigationProperty(
                name,
                type_ref(child.get("Type", ""), child.get("Nullable"), qualify),
                child.get("ContainsTarget") == "true",
            )
    return item


def _action(element: ET.Element, qualify: Qualify) -> Action | None:
    parameters = [p for p in element if p.tag == edm("Parameter")]
    if not parameters:
        return None
    binding = type_ref(parameters[0].get("Type", ""), parameters[0].get("Nullable"), qualify)
    returns = next((r for r in element if r.tag == edm("ReturnType")), None)
    return Action(
        name=element.get("Name", ""),
        binding=binding,
        parameters={
            p.get("Name", ""): type_ref(p.get("Type", ""), p.get("Nullable"), qualify)
            for p in parameters[1:]
        },
        returns=type_ref(returns.get("Type", ""), returns.get("Nullable"), qualify)
        if returns is not None
        else None,
    )


def _is_read_only(element: ET.Element) -> bool:
    """The element carries a Computed annotation, or Permissions = Read."""
    for annotation in element.iter(edm("Annotation")):
        term = annotation.get("Term")
        if term == COMPUTED_TERM and annotation.get("Bool", "true") == "true":
            return True
        if term == PERMISSIONS_TERM:
            value = annotation.get("EnumMember") or "".join(
                (m.text or "") for m in annotation.iter(edm("EnumMember"))
            )
            if value.strip() == READ_ONLY_PERMISSION:
                return True
    return False
