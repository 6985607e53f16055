"""Every Graph call the app makes, driven through the real adapter (msgraph-sdk over HTTP) against
the emulator holding exactly the permissions Bicep grants with every feature switch on:

- the calls the emulator records (method and route template) are exactly the rows of
  infra/checks/graph_permissions.py ``GRAPH_CALLS`` not marked NOT_YET (the grants the check
  derives from those rows are the grants the app needs, no call is missing from them);
- every request passed the emulator's schema checks (each call succeeds or fails as designed);
- every answer the app received conforms to Graph's published schema;
- the adapter reads no property the schema lacks from those answers (it reads raw JSON, so a
  misspelled ``.get()`` would otherwise pass every test as ``None``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import pytest

from devstack.seeds import (
    ALAN,
    FABRIKAM_GUESTS_RULE,
    GRACE,
    GRACE_UPN,
    GROUP_FABRIKAM_GUESTS,
    PORTAL_SP,
    READER_ROLE,
    sample_tenant,
)
from devstack.seeds import GROUP_PARTNERS as PARTNERS
from graph_reference import graph_schema
from graph_reference.conformance import Conformance
from guest_onboarding import errors
from guest_onboarding.adapters.graph import GraphDirectory
from guest_onboarding.adapters.graph import client as graph_client_module
from guest_onboarding.adapters.graph import directory as directory_module
from guest_onboarding.domain.invitation import Invitation
from guest_onboarding.ports import Directory
from infra.checks import graph_permissions
from infra.checks.graph_permissions import GRAPH_CALLS, NOT_YET, made_by_app
from tests.support import graph_directory

from ..fixtures.graph_emulator import GraphEmulator
from ..infra.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

SCHEMA = graph_schema()
CONFORMANCE = Conformance(SCHEMA)
UNKNOWN = "99999999-0000-4000-8000-999999999999"
EVERY_SWITCH_ON = {
    "appRoleAssignmentsEnabled": True,
    "deleteExpiredGuests": False,
    "expiredGuestAction": "disable-then-delete",
    "addSponsorsToExistingUsers": True,
    "offboardAction": "disable-then-delete",
    "setEmployeeLeaveDate": True,
    "guestProfileFields": "companyName,department",
    "detectDynamicGroups": True,
}
#: Top-level keys of a collection answer the adapter may read.
COLLECTION_KEYS = {"value", "@odata.nextLink", "@odata.count", "@odata.context"}


def granted_with_every_switch_on() -> list[str]:
    for deployment in graph_permissions.deployments(REPO_ROOT):
        if dict(deployment.parameters) == EVERY_SWITCH_ON:
            return deployment.granted
    raise AssertionError("no such deployment")


# ---- what the adapter reads -------------------------------------------------------------------


class Recorded(dict[str, Any]):
    """A JSON object that records every key read from it, with the schema type it is of."""

    def __init__(self, data: dict[str, Any], type_name: str, reads: list[tuple[str, str]]):
        super().__init__(data)
        self._type = type_name
        self._reads = reads

    def _record(self, key: str) -> None:
        self._reads.append((self._type, key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self._record(key)
        return self._wrap(key, super().get(key, default))

    def __getitem__(self, key: str) -> Any:
        self._record(key)
        return self._wrap(key, super().__getitem__(key))

    def __contains__(self, key: object) -> bool:
        self._record(str(key))
        return super().__contains__(key)

    def _wrap(self, key: str, value: Any) -> Any:
        if self._type.startswith("Collection("):
            item = self._type[len("Collection(") : -1]
            if key == "value" and isinstance(value, list):
                return [Recorded(v, item, self._reads) if isinstance(v, dict) else v for v in value]
            return value
        ref = None
        prop = SCHEMA.property(self._type, key)
        nav = SCHEMA.navigation(self._type, key)
        ref = prop.type if prop is not None else nav.type if nav is not None else None
        if ref is None or ref.is_primitive:
            return value
        if isinstance(value, dict):
            return Recorded(value, ref.name, self._reads)
        if isinstance(value, list):
            return [Recorded(v, ref.name, self._reads) if isinstance(v, dict) else v for v in value]
        return value


def unknown_reads(reads: list[tuple[str, str]]) -> list[str]:
    """Reads of keys Graph's schema does not give the object they were read from."""
    wrong: list[str] = []
    for type_name, key in reads:
        if type_name.startswith("Collection("):
            if key not in COLLECTION_KEYS:
                wrong.append(f"{type_name}: {key}")
        elif not key.startswith("@odata.") and (
            SCHEMA.property(type_name, key) is None and SCHEMA.navigation(type_name, key) is None
        ):
            wrong.append(f"{type_name}: {key}")
    return wrong


def recording_json_object(
    original: Callable[[Any], dict[str, Any]], reads: list[tuple[str, str]]
) -> Callable[[Any], dict[str, Any]]:
    def json_object(response: Any) -> dict[str, Any]:
        data = original(response)
        target = CONFORMANCE.resolve_context(data.get("@odata.context"))
        assert target is not None, f"an answer without a resolvable @odata.context: {data}"
        type_name = target.type.describe()
        return Recorded(data, type_name, reads)

    return json_object


# ---- the run -------------------------------------------------------------------------------------


class Recording:
    def __init__(self) -> None:
        self.reads: list[tuple[str, str]] = []
        self.answers: list[tuple[str, str, int, bytes]] = []
        self.methods: set[str] = set()


@pytest.fixture
async def run(
    graph_identity_env: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[GraphDirectory, Recording]]:
    seed = sample_tenant()
    seed["identity"]["permissions"] = granted_with_every_switch_on()
    seed["generatedPendingGuests"] = {"count": 1000, "domain": "pending.example"}
    graph_identity_env.control.reset(seed)
    recording = Recording()
    monkeypatch.setattr(
        directory_module,
        "json_object",
        recording_json_object(directory_module.json_object, recording.reads),
    )
    send = graph_client_module.GraphClient.send

    async def recording_send(self: Any, request: Any, **options: Any) -> Any:
        response = await send(self, request, **options)
        recording.answers.append(
            (request.http_method.value, str(request.url), response.status_code, response.content)
        )
        return response

    monkeypatch.setattr(graph_client_module.GraphClient, "send", recording_send)
    directory = graph_directory(graph_identity_env.base_url)
    yield directory, recording
    await directory.aclose()


async def drive_every_call(directory: GraphDirectory, recording: Recording) -> None:
    """Each method of the Directory port, on its success and its designed failure paths."""

    def called(name: str) -> None:
        recording.methods.add(name)

    called("find_users")
    assert len(await directory.find_users("alan@fabrikam.example")) == 1
    assert (await directory.find_users("nobody@fabrikam.example")) == ()
    called("get_user")
    assert (await directory.get_user(ALAN)) is not None
    assert (await directory.get_user(UNKNOWN)) is None
    called("resolve_user")
    sponsor = await directory.resolve_user(GRACE_UPN)
    assert sponsor is not None and sponsor.id == GRACE
    called("pending_guests")
    assert len([g async for g in directory.pending_guests()]) >= 1000  # two pages
    called("invite")
    invitation = Invitation(
        redirect_url="https://myapps.microsoft.com",
        display_name="Zoe",
        message_body="Welcome",
        cc_recipient="pm@contoso.example",
        sponsors=(GRACE,),
    )
    zoe = (await directory.invite("zoe@fabrikam.example", invitation)).user_id
    called("add_group_member")
    await directory.add_group_member(group_id=PARTNERS, user_id=zoe)
    with pytest.raises(errors.AlreadyDone):
        await directory.add_group_member(group_id=PARTNERS, user_id=zoe)
    with pytest.raises(errors.NotFound):  # after the probe of the group
        await directory.add_group_member(group_id=UNKNOWN, user_id=zoe)
    called("assign_app_role")
    role = {"resource_id": PORTAL_SP, "app_role_id": READER_ROLE}
    assignment = await directory.assign_app_role(user_id=zoe, **role)
    with pytest.raises(errors.NotFound):  # after the probe of the service principal
        await directory.assign_app_role(user_id=zoe, resource_id=UNKNOWN, app_role_id=READER_ROLE)
    called("find_app_role_assignment")
    assert await directory.find_app_role_assignment(user_id=zoe, **role) == assignment
    called("remove_app_role_assignment")
    await directory.remove_app_role_assignment(resource_id=PORTAL_SP, assignment_id=assignment)
    with pytest.raises(errors.NotFound):  # gone already
        await directory.remove_app_role_assignment(resource_id=PORTAL_SP, assignment_id=assignment)
    assert await directory.find_app_role_assignment(user_id=zoe, **role) is None
    called("remove_group_member")
    await directory.remove_group_member(group_id=PARTNERS, user_id=zoe)
    with pytest.raises(errors.NotFound):  # not a member any more
        await directory.remove_group_member(group_id=PARTNERS, user_id=zoe)
    called("revoke_sessions")
    await directory.revoke_sessions(zoe)
    called("set_leave_date")
    await directory.set_leave_date(zoe, date(2027, 3, 31))
    await directory.set_leave_date(zoe, None)
    called("add_sponsor")
    await directory.add_sponsor(user_id=ALAN, sponsor_id=GRACE)
    called("update_profile")
    await directory.update_profile(user_id=zoe, values={"companyName": "Fabrikam", "city": None})
    with pytest.raises(errors.NotYetReplicated):  # a user Graph cannot see: retried
        await directory.update_profile(user_id=UNKNOWN, values={"companyName": "Fabrikam"})
    called("get_group")
    fabrikam = await directory.get_group(GROUP_FABRIKAM_GUESTS)
    assert fabrikam is not None and fabrikam.is_dynamic
    assert fabrikam.membership_rule == FABRIKAM_GUESTS_RULE
    partners = await directory.get_group(PARTNERS)
    assert partners is not None and not partners.is_dynamic
    assert await directory.get_group(UNKNOWN) is None
    called("set_account_enabled")
    await directory.set_account_enabled(zoe, enabled=False)
    called("delete_user")
    await directory.delete_user(zoe)


def port_methods() -> set[str]:
    return {name for name in vars(Directory) if not name.startswith("_")} - {"__init__"}


async def test_every_call_the_app_makes_is_a_row_of_the_grant_check(
    run: tuple[GraphDirectory, Recording], graph_identity_env: GraphEmulator
) -> None:
    directory, recording = run
    await drive_every_call(directory, recording)
    assert recording.methods == port_methods()
    requests = graph_identity_env.control.counters()["requests"]
    made = {key for key in requests if key != "GET /msi/token"}
    rows = {
        f"{c.method} {c.path}" for c in GRAPH_CALLS if c.feature is not NOT_YET and made_by_app(c)
    }
    assert made == rows


async def test_every_answer_the_app_got_conforms_to_graphs_schema(
    run: tuple[GraphDirectory, Recording],
) -> None:
    directory, recording = run
    await drive_every_call(directory, recording)
    checked = 0
    for method, url, status, content in recording.answers:
        if 200 <= status < 300 and content:
            problems = CONFORMANCE.check_response(json.loads(content))
            assert [str(p) for p in problems] == [], f"{method} {url}"
            checked += 1
    # find_users x2, get_user, resolve_user, two pages of pending guests, invite, assign_app_role,
    # find_app_role_assignment x2, revoke_sessions, get_group x2
    assert checked == 13


async def test_the_adapter_reads_only_properties_graph_has(
    run: tuple[GraphDirectory, Recording],
) -> None:
    directory, recording = run
    await drive_every_call(directory, recording)
    read_types = {type_name for type_name, _ in recording.reads}
    assert {"microsoft.graph.user", "microsoft.graph.invitation"} <= read_types
    assert unknown_reads(recording.reads) == []


def test_a_misspelled_read_is_caught() -> None:
    # The mutation the test above exists for: reading "externalUserStatus" from a user.
    reads: list[tuple[str, str]] = []
    user = Recorded({"id": ALAN, "externalUserState": "Accepted"}, "microsoft.graph.user", reads)
    assert user.get("externalUserStatus") is None
    invitation = Recorded({"invitedUser": {"id": ALAN}}, "microsoft.graph.invitation", reads)
    assert invitation["invitedUser"].get("objectId") is None
    assert unknown_reads(reads) == [
        "microsoft.graph.user: externalUserStatus",
        "microsoft.graph.user: objectId",
    ]
