"""Every request checked against Graph's published schema (graph_reference), refused with the
400 Graph answers; and the emulator's own responses checked against the same schema.

The request URL says what the body is (``resolve_path``): ``POST /invitations`` creates an
``invitation``, ``PATCH /users/{id}`` updates a ``user``, ``POST .../$ref`` is an entity
reference, ``POST /servicePrincipals/{id}/appRoleAssignedTo`` creates an ``appRoleAssignment``,
``POST /directory/deletedItems/{id}/restore`` calls the bound action ``restore``. Routes added
later (dynamic groups, revokeSignInSessions) are checked the same way without registering
anything. ``$select`` and ``$filter`` of a GET are checked against the type the URL names.

Graph's wording, by the layer that answers:

* The OData reader (Microsoft.OData.Core, Graph's front end) for bodies of non-open types and for
  value types: OData/odata.net ``src/Microsoft.OData.Core/SRResources.resx`` at commit
  0abb025fb06e288f2facde3ebb6dcf46e00bf312: ``ValidationUtils_PropertyDoesNotExistOnType``,
  ``ReaderValidationUtils_CannotConvertPrimitiveValue``,
  ``ReaderValidationUtils_NullNamedValueForNonNullableType``,
  ``JsonReaderExtensions_UnexpectedNodeDetected``,
  ``ODataJsonResourceDeserializer_CannotReadCollectionNestedResource`` /
  ``_CannotReadSingletonNestedResource``, ``ValidationUtils_UnrecognizedTypeName``,
  ``ODataJsonEntityReferenceLinkDeserializer_*``, ``ODataParameterReaderCore_ParameterNameNotIn
  Metadata``, ``MetadataBinder_PropertyNotDeclared``, ``MetadataBinder_IncompatibleOperandsError``
  (seen from Graph as ``RequestBodyRead`` / ``BadRequest``: microsoftgraph/msgraph-sdk-dotnet#450).
* Microsoft Entra's directory for the open directory types (user, group, servicePrincipal,
  appRoleAssignment): "Property 'x' does not exist as a declared property or extension
  property." with ``Request_UnsupportedQuery`` for ``$select``/``$filter`` (a recorded Graph answer
  in a public client's tests: "Property 'a' does not exist as a declared property or extension
  property."; the MicrosoftSync client of instructure/canvas-lms handles the same answer for an
  extension property), and ``Request_BadRequest`` for a body **(unconfirmed code)**;
  "Property 'x' is read-only and cannot be set." with ``Request_BadRequest``
  (microsoftgraph/msgraph-beta-sdk-java#621 on ``PATCH /users/{id}``,
  Azure-Samples/active-directory-php-graphapi-web#12).
* A navigation property written in a ``PATCH`` body **(unconfirmed wording)**: Graph's reference
  writes relationships through their ``$ref`` only; see ``NAVIGATION_IN_BODY``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse
from graph_emulator.errors import GraphError, bad_request
from graph_emulator.odata_filter import AnyClause, BoolOp, Comparison, Node, Not
from graph_emulator.query import parse_filter_option
from graph_reference import graph_schema
from graph_reference.conformance import Conformance, Problem
from graph_reference.csdl import Action, TypeRef

logger = logging.getLogger("graph_emulator.schema")

SCHEMA = graph_schema()
CONFORMANCE = Conformance(SCHEMA)
DIRECTORY_OBJECT = "microsoft.graph.directoryObject"

# ---- Graph's wording -----------------------------------------------------------------------------

PROPERTY_NOT_ON_TYPE = (
    "The property '{name}' does not exist on type '{type}'. Make sure to only use property names "
    "that are defined by the type or mark the type as open type."
)
NOT_DECLARED_OR_EXTENSION = (
    "Property '{name}' does not exist as a declared property or extension property."
)
READ_ONLY = "Property '{name}' is read-only and cannot be set."
CANNOT_CONVERT = "Cannot convert the literal '{value}' to the expected type '{type}'."
NULL_NOT_ALLOWED = (
    "A null value was found for the property named '{name}', which has the expected type "
    "'{type}[Nullable=False]'. The expected type '{type}[Nullable=False]' does not allow null "
    "values."
)
UNEXPECTED_NODE = (
    "An unexpected '{found}' node was found when reading from the JSON reader. A "
    "'PrimitiveValue' node was expected."
)
COLLECTION_EXPECTED = (
    "A node of type '{found}' was read from the JSON reader when trying to read the contents of "
    "the property '{name}'; however, a 'StartArray' node was expected."
)
OBJECT_EXPECTED = (
    "A node of type '{found}' was read from the JSON reader when trying to read the contents of "
    "the property '{name}'; however, a 'StartObject' node or 'PrimitiveValue' node with null "
    "value was expected."
)
UNRECOGNIZED_TYPE = (
    "A type named '{name}' could not be resolved by the model. When a model is available, each "
    "type name must resolve to a valid type."
)
REFERENCE_PROPERTY = (
    "A property with name '{name}' was found when reading an entity reference link. No "
    "properties other than the entity reference link property with name 'odata.id' are allowed."
)
REFERENCE_ANNOTATION = (
    "An instance annotation with name '{name}' or a property annotation for the property with "
    "name '{name}' was found when reading an entity reference link. No OData property or "
    "instance annotations are allowed when reading entity reference links."
)
REFERENCE_MISSING = "The required property 'odata.id' for an entity reference link was not found."
REFERENCE_NULL = (
    "The 'odata.id' property of an entity reference link object cannot have a null value."
)
NOT_A_PARAMETER = (
    "The parameter '{name}' in the request payload is not a valid parameter for the operation "
    "'{operation}'."
)
SELECT_NOT_DECLARED = "Could not find a property named '{name}' on type '{type}'."
INCOMPATIBLE_OPERANDS = (
    "A binary operator with incompatible types was detected. Found operand types '{left}' and "
    "'{right}' for operator kind '{operator}'."
)
#: (unconfirmed) a relationship written inline in an update.
NAVIGATION_IN_BODY = (
    "Property '{name}' is a relationship: write it through '{name}/$ref', not in the request body."
)

#: Navigation properties Graph takes inline in a create body, as (type, property): the
#: invitation's ``invitedUser`` (``{"id": ...}`` with ``resetRedemption``) and
#: ``invitedUserSponsors`` (Graph's "Create invitation" reference page, request body table).
INLINE_NAVIGATION = frozenset(
    {
        ("microsoft.graph.invitation", "invitedUser"),
        ("microsoft.graph.invitation", "invitedUserSponsors"),
    }
)

#: Navigation properties Graph takes as ``<name>@odata.bind`` references in a create or update
#: body: a group's ``members`` and ``owners`` ("Create group": ``owners@odata.bind`` and
#: ``members@odata.bind``; "Add members": ``PATCH /groups/{id}`` with up to 20
#: ``members@odata.bind``).
BOUND_NAVIGATION = frozenset(
    {
        ("microsoft.graph.group", "members"),
        ("microsoft.graph.group", "owners"),
    }
)

#: Properties Graph documents as read-only, which a PATCH may not set (the CSDL does not annotate
#: them). "user resource type", microsoftgraph/microsoft-graph-docs-contrib
#: ``api-reference/v1.0/resources/user.md`` at 0061138f3b952955c2898131d3c6633a8b26c974: the
#: properties whose description says "Read-only" (without "for users synced from on-premises").
READ_ONLY_PROPERTIES: dict[str, frozenset[str]] = {
    "microsoft.graph.user": frozenset(
        {
            "id",
            "assignedPlans",
            "createdDateTime",
            "creationType",
            "imAddresses",
            "legalAgeGroupClassification",
            "licenseAssignmentStates",
            "onPremisesDistinguishedName",
            "onPremisesDomainName",
            "onPremisesLastSyncDateTime",
            "onPremisesSamAccountName",
            "onPremisesSecurityIdentifier",
            "onPremisesSyncEnabled",
            "onPremisesUserPrincipalName",
            "provisionedPlans",
            "proxyAddresses",
            "signInSessionsValidFromDateTime",
        }
    ),
}


def _directory(type_name: str) -> bool:
    """Entra's directory answers for directoryObject and the types derived from it."""
    return SCHEMA.derives_from(type_name, DIRECTORY_OBJECT)


# ---- what the URL names --------------------------------------------------------------------------


@dataclass(frozen=True)
class PathTarget:
    """What a request path addresses: a collection (``set``), one ``entity``, an entity
    ``reference`` (``$ref``) or a bound ``action``, and the type it is of."""

    kind: str
    type: str
    action: Action | None = None


_SETS = {name.lower(): name for name in SCHEMA.entity_sets}
_SINGLETONS = {name.lower(): name for name in SCHEMA.singletons}


def resolve_path(path: str) -> PathTarget | None:
    """The target of a ``/v1.0`` path (segments compared case-insensitively, as Graph does), or
    None when the path leaves what the vendored schema describes."""
    segments = [s for s in path.split("?")[0].strip("/").split("/") if s]
    if not segments:
        return None
    first = segments[0].lower()
    if first in _SETS:
        target = PathTarget("set", SCHEMA.entity_sets[_SETS[first]])
    elif first in _SINGLETONS:
        target = PathTarget("entity", SCHEMA.singletons[_SINGLETONS[first]])
    else:
        return None
    for segment in segments[1:]:
        if target.kind == "reference" or target.kind == "action":
            return None
        if segment == "$ref":
            target = PathTarget("reference", target.type)
        elif target.kind == "set":
            target = PathTarget("entity", target.type)  # a key
        else:
            found = _member(target.type, segment)
            if found is None:
                return None
            target = found
    return target


def _member(type_name: str, segment: str) -> PathTarget | None:
    lowered = segment.lower()
    for item in SCHEMA.lineage(type_name):
        for name, nav in item.navigation.items():
            if name.lower() == lowered:
                return PathTarget("set" if nav.type.collection else "entity", nav.type.name)
    for action in SCHEMA.actions:
        if action.name.lower() == lowered and SCHEMA.derives_from(type_name, action.binding.name):
            return PathTarget("action", type_name, action)
    return None


# ---- the request as a whole ----------------------------------------------------------------------


def check_request(request: GraphRequest) -> None:
    """Raise Graph's 400 for a body, ``$select`` or ``$filter`` the schema refuses."""
    check_body(request)
    if request.method != "GET":
        return
    target = resolve_path(request.path)
    if target is None or target.kind not in ("set", "entity"):
        return
    raw = request.param("select")
    if raw is not None:
        select_names(target.type, raw)
    if target.kind == "set":
        node = parse_filter_option(request)
        if node is not None:
            check_filter(target.type, node)


# ---- bodies --------------------------------------------------------------------------------------


def check_body(request: GraphRequest) -> None:
    """Raise Graph's 400 for a body that does not fit what the URL addresses."""
    if request.method not in ("POST", "PATCH", "PUT") or request.body is None:
        return
    target = resolve_path(request.path)
    if target is None:
        return
    body = request.body
    if target.kind == "reference":
        _check_reference(body)
        return
    if not isinstance(body, dict):
        return  # the handlers answer "A JSON object request body is required."
    if target.kind == "action" and target.action is not None:
        _check_parameters(target.action, body)
    elif target.kind == "set" and request.method == "POST":
        _raise_first(CONFORMANCE.check_object(target.type, body, "", _inline))
    elif target.kind == "entity" and request.method == "PATCH":
        read_only = READ_ONLY_PROPERTIES.get(target.type, frozenset())
        for name in body:
            if name in read_only:
                raise bad_request(READ_ONLY.format(name=name), code="Request_BadRequest")
        _raise_first(CONFORMANCE.check_object(target.type, body, "", _references_only))


def _inline(type_name: str, name: str, bound: bool) -> bool:
    """Create bodies: the inline navigation Graph documents, and documented references."""
    allowed = BOUND_NAVIGATION if bound else INLINE_NAVIGATION
    return any((t.name, name) in allowed for t in SCHEMA.lineage(type_name))


def _references_only(type_name: str, name: str, bound: bool) -> bool:
    """Update bodies: documented ``@odata.bind`` references, never an inline relationship."""
    return bound and any((t.name, name) in BOUND_NAVIGATION for t in SCHEMA.lineage(type_name))


def _raise_first(problems: Iterable[Problem]) -> None:
    for problem in problems:
        raise refusal(problem)


def refusal(problem: Problem) -> GraphError:
    """Graph's 400 for the first thing wrong with a request body."""
    name = problem.property or problem.path.rsplit(".", 1)[-1].split("[")[0]
    if problem.kind == "unknown-property":
        owner = problem.owner or ""
        if SCHEMA.is_open(owner) and _directory(owner):
            return bad_request(NOT_DECLARED_OR_EXTENSION.format(name=name), "Request_BadRequest")
        return bad_request(PROPERTY_NOT_ON_TYPE.format(name=name, type=owner))
    if problem.kind == "null":
        expected = (problem.expected or "").removeprefix("Collection(").removesuffix(")")
        return bad_request(NULL_NOT_ALLOWED.format(name=name, type=expected))
    if problem.kind == "navigation":
        return bad_request(NAVIGATION_IN_BODY.format(name=name), "Request_BadRequest")
    if problem.kind == "unknown-type":
        return bad_request(UNRECOGNIZED_TYPE.format(name=str(problem.value).lstrip("#")))
    return _wrong_type(problem, name)


def _wrong_type(problem: Problem, name: str) -> GraphError:
    expected = problem.expected or ""
    value = problem.value
    found = (
        "StartObject"
        if isinstance(value, dict)
        else "StartArray"
        if isinstance(value, list)
        else "PrimitiveValue"
    )
    if expected.startswith("Collection("):
        return bad_request(COLLECTION_EXPECTED.format(found=found, name=name))
    if expected.startswith("Edm.") or expected in SCHEMA.enums:
        if found != "PrimitiveValue":
            return bad_request(UNEXPECTED_NODE.format(found=found))
        literal = value if isinstance(value, str) else json.dumps(value)
        return bad_request(CANNOT_CONVERT.format(value=literal, type=expected))
    return bad_request(OBJECT_EXPECTED.format(found=found, name=name))


def _check_reference(body: Any) -> None:
    if not isinstance(body, dict):
        return
    for key in body:
        if key == "@odata.id":
            continue
        if key.startswith("@") or "@" in key:
            raise bad_request(REFERENCE_ANNOTATION.format(name=key.lstrip("@")))
        raise bad_request(REFERENCE_PROPERTY.format(name=key))
    if "@odata.id" not in body:
        raise bad_request(REFERENCE_MISSING)
    if body["@odata.id"] is None:
        raise bad_request(REFERENCE_NULL)


def _check_parameters(action: Action, body: dict[str, Any]) -> None:
    for key, value in body.items():
        ref = action.parameters.get(key)
        if ref is None:
            raise bad_request(NOT_A_PARAMETER.format(name=key, operation=action.name))
        _raise_first(CONFORMANCE.check_value(ref, value, key))


# ---- $select and $filter -------------------------------------------------------------------------


def select_names(type_name: str, raw: str) -> tuple[str, ...]:
    """The ``$select``ed properties in the schema's spelling (Graph matches them ignoring case);
    a ``directoryObject`` collection accepts the properties of the types derived from it.
    Raises Graph's 400 for a property the type does not have."""
    known = _selectable(type_name)
    chosen: list[str] = []
    for item in raw.split(","):
        name = item.strip()
        canonical = known.get(name.lower())
        if canonical is None:
            raise unknown_query_property(type_name, name, select=True)
        chosen.append(canonical)
    return tuple(chosen)


def _selectable(type_name: str) -> dict[str, str]:
    names: dict[str, str] = {}
    pending = [type_name]
    while pending:
        current = pending.pop()
        for item in SCHEMA.lineage(current):
            for name in (*item.properties, *item.navigation):
                names.setdefault(name.lower(), name)
        pending.extend(SCHEMA.derived(current))
    return names


def unknown_query_property(type_name: str, name: str, *, select: bool) -> GraphError:
    """Graph's 400 for a ``$select`` or ``$filter`` naming a property the type lacks."""
    if SCHEMA.is_open(type_name) and _directory(type_name):
        return bad_request(
            NOT_DECLARED_OR_EXTENSION.format(name=name), code="Request_UnsupportedQuery"
        )
    return bad_request(SELECT_NOT_DECLARED.format(name=name, type=type_name))


_LITERAL_FITS: dict[str, frozenset[str]] = {
    "Edm.String": frozenset({"Edm.String"}),
    "Edm.Boolean": frozenset({"Edm.Boolean"}),
    "Edm.Guid": frozenset({"Edm.Guid"}),
    "Edm.Int32": frozenset({"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Decimal"}),
}


def check_filter(type_name: str, node: Node) -> None:
    """Raise Graph's 400 for a ``$filter`` naming a property the type lacks or comparing a
    property with a literal of an incompatible type."""
    if isinstance(node, Not):
        check_filter(type_name, node.operand)
        return
    if isinstance(node, BoolOp):
        for operand in node.operands:
            check_filter(type_name, operand)
        return
    assert isinstance(node, Comparison | AnyClause)
    prop = SCHEMA.property(type_name, node.property_name) or next(
        (
            p
            for p in SCHEMA.properties(type_name).values()
            if p.name.lower() == node.property_name.lower()
        ),
        None,
    )
    if prop is None:
        raise unknown_query_property(type_name, node.property_name, select=False)
    if isinstance(node, Comparison) and prop.type.collection:
        return  # the route answers Graph's Request_UnsupportedQuery for it
    if not _literal_fits(prop.type, node.literal_type):
        raise bad_request(
            INCOMPATIBLE_OPERANDS.format(
                left=prop.type.name,
                right=node.literal_type,
                operator="Equal" if node.operator == "eq" else "NotEqual",
            )
        )


def _literal_fits(ref: TypeRef, literal_type: str) -> bool:
    if literal_type in ("", "null"):
        return True
    if ref.name in SCHEMA.enums:
        return literal_type == "Edm.String"
    return ref.name in _LITERAL_FITS.get(literal_type, frozenset()) or (literal_type == ref.name)


# ---- values the emulator does not model ----------------------------------------------------------

#: What Graph returns for a property never set, when the schema says it cannot be null.
_NON_NULL_DEFAULTS: dict[str, Any] = {
    "Edm.Boolean": False,
    "Edm.Int16": 0,
    "Edm.Int32": 0,
    "Edm.Int64": 0,
    "Edm.Double": 0,
    "Edm.String": "",
    "Edm.DateTimeOffset": "0001-01-01T00:00:00Z",
}


def has_property(type_name: str, name: str) -> bool:
    """The type declares or inherits a structural property ``name``."""
    return SCHEMA.property(type_name, name) is not None


def unset_value(type_name: str, name: str) -> Any:
    """Graph's value for a property of ``type_name`` that nothing set: null where the schema
    allows it, an empty collection, else the type's zero value (``birthday`` of a user is
    ``0001-01-01T00:00:00Z``; a non-nullable complex value is an empty object)."""
    prop = SCHEMA.property(type_name, name)
    if prop is None:
        return None  # a navigation property: not modelled, never expanded
    if prop.type.collection:
        return []
    if prop.type.nullable:
        return None
    if prop.type.is_primitive:
        return _NON_NULL_DEFAULTS.get(prop.type.name)
    if prop.type.name in SCHEMA.enums:
        return SCHEMA.enums[prop.type.name].members[0]
    return {}


# ---- the emulator's own answers ------------------------------------------------------------------

#: The error body Graph sends (its keys, exactly): the emulator's errors.error_body.
ERROR_KEYS = frozenset({"code", "message", "innerError"})
INNER_ERROR_KEYS = frozenset({"date", "request-id", "client-request-id"})


def response_problems(response: GraphResponse) -> list[str]:
    """What is wrong with a response body by Graph's schema (empty: it conforms)."""
    body = response.body
    if body is None:
        return []
    if response.status >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or set(body) != {"error"} or set(error) != ERROR_KEYS:
            return [f"error body is not Graph's {{'error': {sorted(ERROR_KEYS)}}}: {body!r}"]
        inner = error.get("innerError")
        if not isinstance(inner, dict) or set(inner) != INNER_ERROR_KEYS:
            return [f"innerError is not Graph's {sorted(INNER_ERROR_KEYS)}: {inner!r}"]
        return []
    return [str(problem) for problem in CONFORMANCE.check_response(body)]


def non_conformant(route_key: str, problems: list[str]) -> GraphResponse:
    """A 500 that makes a non-conforming response impossible to miss in a test."""
    logger.error("%s answered a body Graph would not send: %s", route_key, problems)
    return GraphResponse(
        500,
        {
            "error": {
                "code": "EmulatorResponseNotConformant",
                "message": f"{route_key}: " + "; ".join(problems),
                "innerError": {"date": "", "request-id": "", "client-request-id": ""},
            }
        },
    )
