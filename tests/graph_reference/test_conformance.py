"""JSON values against the vendored schema: what a response or a body may hold."""

from __future__ import annotations

from typing import Any

import pytest

from graph_reference import graph_schema
from graph_reference.conformance import Conformance, primitive_fits
from graph_reference.csdl import TypeRef

CHECK = Conformance(graph_schema())
METADATA = "https://graph.microsoft.com/v1.0/$metadata#"
USER = "microsoft.graph.user"


def kinds(body: Any) -> list[tuple[str, str]]:
    return [(p.kind, p.path) for p in CHECK.check_response(body)]


@pytest.mark.parametrize(
    ("type_name", "value", "fits"),
    [
        ("Edm.Guid", "33333333-3333-3333-3333-333333333333", True),
        ("Edm.Guid", "portal", False),
        ("Edm.DateTimeOffset", "2024-03-02T10:15:00Z", True),
        ("Edm.DateTimeOffset", "2024-03-02T10:15:00.1234567+01:00", True),
        ("Edm.DateTimeOffset", "2024-03-02", False),
        ("Edm.Boolean", "true", False),
        ("Edm.Int32", True, False),
        ("Edm.Int32", 3, True),
        ("Edm.String", 3, False),
    ],
)
def test_primitive_values(type_name: str, value: Any, fits: bool) -> None:
    assert primitive_fits(type_name, value) is fits


def test_a_collection_answer_and_its_annotations() -> None:
    body = {
        "@odata.context": METADATA + "users(id,mail)",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=x",
        "value": [{"id": "u1", "mail": None}],
    }
    assert kinds(body) == []
    assert kinds({**body, "@odata.count": "1"}) == [("wrong-type", "@odata.count")]
    assert kinds({**body, "nextLink": "x"}) == [("shape", "nextLink")]
    assert kinds({**body, "value": [{"id": "u1", "userType": "Guest"}]}) == [
        ("not-selected", "value[0].userType")
    ]


def test_entity_answers_by_context() -> None:
    assert kinds({"@odata.context": METADATA + "users/$entity", "id": "u", "otherMails": None}) == [
        ("null", "otherMails")
    ]
    assignment = {
        "@odata.context": METADATA + "servicePrincipals('s')/appRoleAssignedTo/$entity",
        "id": "a",
        "appRoleId": "00000000-0000-0000-0000-000000000000",
        "resourceId": "not-a-guid",
    }
    assert kinds(assignment) == [("wrong-type", "resourceId")]
    assert kinds({"@odata.context": METADATA + "nothings", "value": []}) == [
        ("context", "@odata.context")
    ]
    assert kinds({"@odata.context": METADATA + "Edm.Boolean", "value": True}) == []


def test_directory_objects_need_their_type_to_carry_its_properties() -> None:
    body = {
        "@odata.context": METADATA + "directoryObjects",
        "value": [
            {"@odata.type": "#microsoft.graph.user", "id": "u", "mail": "a@b.c"},
            {"@odata.type": "#microsoft.graph.group", "id": "g", "groupTypes": []},
            {"id": "x", "mail": "a@b.c"},
            {"@odata.type": "#microsoft.graph.invitation", "id": "i"},
        ],
    }
    assert kinds(body) == [
        ("unknown-property", "value[2].mail"),
        ("unknown-type", "value[3].@odata.type"),
    ]


def test_open_directory_types_take_only_extension_properties() -> None:
    extension = "extension_0123456789abcdef0123456789abcdef_costCentre"
    assert list(CHECK.check_object(USER, {extension: "x"})) == []
    (problem,) = CHECK.check_object(USER, {"costCentre": "x"})
    assert (problem.kind, problem.owner) == ("unknown-property", USER)


def test_navigation_policy_decides_inline_values_and_references() -> None:
    def refuse(type_name: str, name: str, bound: bool) -> bool:
        return False

    body = {"manager": {"id": "m"}, "members@odata.bind": ["x"]}
    problems = list(
        CHECK.check_object("microsoft.graph.group", {"members@odata.bind": ["x"]}, "", refuse)
    )
    assert [(p.kind, p.property) for p in problems] == [("navigation", "members")]
    problems = list(CHECK.check_object(USER, body, "", refuse))
    assert {(p.kind, p.property) for p in problems} == {
        ("navigation", "manager"),
        ("unknown-property", "members"),
    }


def test_collections_check_every_item() -> None:
    ref = TypeRef("Edm.String", collection=True, nullable=False)
    assert [p.path for p in CHECK.check_value(ref, ["a", 3, None], "x")] == ["x[1]", "x[2]"]
