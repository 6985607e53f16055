"""The guest's profile from HR (issue 26 item 1), on fakes: what a message may say in `profile`
(the fields GUEST_PROFILE_FIELDS lists, the display name's content rules, Graph's lengths and
formats), the profile step on the assignments queue (written once, idempotent, re-validated
against the ledger), and HR's latest word as the profile (a change re-queues the step, an
omitted field this app set is cleared, a message without profile changes nothing)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any, cast

import pytest

from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings, SettingsError
from guest_onboarding.domain.changes import Change, StepsRecorded
from guest_onboarding.domain.invitation import PROFILE_STEP_KEY
from guest_onboarding.domain.ledger import GuestStatus, LedgerEntry, StepStatus
from guest_onboarding.domain.profile import profile_after, profile_to_clear
from guest_onboarding.domain.profile_changes import ProfileRecorded
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import ProfileUpdate
from guest_onboarding.messages import parse_invitation_queue_message
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV, T0, Clock

ADA = "ada@fabrikam.example"
FIELDS = "companyName,department,jobTitle,usageLocation,employeeId"


def settings(fields: str = FIELDS) -> Settings:
    return Settings.from_env({**SETTINGS_ENV, "GUEST_PROFILE_FIELDS": fields})


@pytest.fixture
def rt() -> Runtime:
    return Runtime(
        settings=settings(),
        directory=FakeDirectory(),
        ledger=FakeLedger(),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        max_dequeue_count=5,
        clock=Clock(T0),
    )


def parts(rt: Runtime) -> tuple[FakeDirectory, FakeLedger, FakeOutbox]:
    return (
        cast(FakeDirectory, rt.directory),
        cast(FakeLedger, rt.ledger),
        cast(FakeOutbox, rt.outbox),
    )


def refusal(profile: dict[str, Any], fields: str = FIELDS) -> tuple[str, str]:
    body = json.dumps({"email": ADA, "profile": profile})
    with pytest.raises(InvalidMessage) as refused:
        parse_invitation_queue_message(body, settings(fields).policy)
    return refused.value.code, refused.value.message


async def deliver(rt: Runtime, profile: dict[str, Any] | None, message_id: str = "m1") -> str:
    data: dict[str, Any] = {"email": ADA}
    if profile is not None:
        data["profile"] = profile
    return await handle_invitation_message(
        body=json.dumps(data).encode(), message_id=message_id, rt=rt
    )


async def drain(rt: Runtime) -> list[str]:
    _, _, outbox = parts(rt)
    outcomes = []
    while outbox.assignments:
        step, _ = outbox.assignments.pop(0)
        outcomes.append(
            await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
        )
    return outcomes


def poison_codes(rt: Runtime) -> list[str]:
    _, _, outbox = parts(rt)
    return [p["error"]["code"] for items in outbox.poison.values() for p in items]


def user_profile(rt: Runtime) -> dict[str, str]:
    directory, _, _ = parts(rt)
    (user_id,) = directory.users
    return directory.profiles.get(user_id, {})


# ---- what a message may say -------------------------------------------------------------------


def test_by_default_no_profile_field_is_accepted() -> None:
    code, message = refusal({"companyName": "Fabrikam"}, fields="")
    assert code == "ProfileFieldNotAllowed"
    assert "GUEST_PROFILE_FIELDS: none" in message


def test_a_field_the_deployment_does_not_write_is_refused_by_name() -> None:
    code, message = refusal({"city": "Lagos"})
    assert code == "ProfileFieldNotAllowed" and "profile.city" in message


def test_a_name_graph_does_not_have_is_an_unknown_field() -> None:
    assert refusal({"company": "Fabrikam"})[0] == "UnknownField"
    assert refusal({"companyname": "Fabrikam"})[0] == "UnknownField"  # Graph's spelling only


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Fabrikam\u202e", "UnsafeCharacter"),  # a bidi override, as in a display name
        ("Fab\u200brikam", "UnsafeCharacter"),  # zero-width space
        ("Fabrikam\nLtd", "UnsafeCharacter"),
        ("see https://evil.example.com/x", "LinkNotAllowed"),
        ("contoso-login.com", "LinkNotAllowed"),
        ("", "InvalidField"),
    ],
)
def test_values_get_the_display_names_content_rules(value: str, code: str) -> None:
    assert refusal({"jobTitle": value})[0] == code


def test_lengths_are_graphs_in_utf16_units() -> None:
    body = {"email": ADA, "profile": {"companyName": "x" * 64, "employeeId": "E" * 16}}
    command = parse_invitation_queue_message(json.dumps(body), settings().policy)
    assert command.profile == {"companyName": "x" * 64, "employeeId": "E" * 16}
    assert refusal({"companyName": "x" * 65})[0] == "FieldTooLong"
    assert refusal({"employeeId": "E" * 17})[0] == "FieldTooLong"
    # 32 emoji are 64 UTF-16 code units: Graph's limit exactly; one more is over it.
    assert refusal({"companyName": "\U0001f600" * 33})[0] == "FieldTooLong"


def test_usage_location_is_an_iso_country_code() -> None:
    body = {"email": ADA, "profile": {"usageLocation": "gb"}}
    command = parse_invitation_queue_message(json.dumps(body), settings().policy)
    assert command.profile == {"usageLocation": "GB"}
    assert refusal({"usageLocation": "UK"})[0] == "InvalidField"  # not ISO 3166 (GB is)
    assert refusal({"usageLocation": "GBR"})[0] == "InvalidField"
    assert refusal({"usageLocation": "United Kingdom"})[0] == "InvalidField"


def test_null_clears_and_a_value_must_be_text() -> None:
    body = {"email": ADA, "profile": {"department": None}}
    command = parse_invitation_queue_message(json.dumps(body), settings().policy)
    assert command.profile == {"department": None}
    assert refusal({"department": 7})[0] == "InvalidField"


def test_the_setting_names_graphs_fields() -> None:
    assert settings("companyName, JOBTITLE").policy.profile_fields == {"companyName", "jobTitle"}
    with pytest.raises(SettingsError, match="GUEST_PROFILE_FIELDS"):
        settings("companyName,manager")


def test_hrs_latest_word_is_the_profile() -> None:
    # Hand-written cases, not the function's own logic: what HR sent, then what the row says.
    assert profile_after(None, {"companyName": "Fabrikam"}) == {"companyName": "Fabrikam"}
    assert profile_after({"companyName": "Fabrikam", "department": "R&D"}, {"jobTitle": "PM"}) == {
        "companyName": None,
        "department": None,
        "jobTitle": "PM",
    }
    assert profile_after({"companyName": "Fabrikam"}, {"companyName": None}) == {
        "companyName": None
    }
    assert profile_after({"companyName": "Fabrikam"}, {}) == {"companyName": None}


# ---- the profile step ---------------------------------------------------------------------------


async def test_a_new_guest_gets_the_profile_by_a_step_of_its_own(rt: Runtime) -> None:
    directory, ledger, outbox = parts(rt)
    profile = {"companyName": "Fabrikam", "jobTitle": "Consultant"}
    assert await deliver(rt, profile) == "invited"
    assert [step.kind for step, _ in outbox.assignments] == ["profile"]
    assert user_profile(rt) == {}  # nothing written before the step runs
    assert await drain(rt) == ["done"]
    assert user_profile(rt) == profile
    row = await ledger.get(ADA)
    assert row is not None and row.profile == profile
    assert row.steps == {PROFILE_STEP_KEY: StepStatus.DONE}
    assert directory.calls.count("update_profile") == 1


async def test_the_same_message_again_writes_nothing_more(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    await drain(rt)
    assert await deliver(rt, {"companyName": "Fabrikam"}, message_id="m2") == "already_onboarded"
    assert outbox.assignments == []
    assert directory.calls.count("update_profile") == 1


async def test_a_step_delivered_twice_writes_once(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    step, _ = outbox.assignments[0]
    body = step.model_dump_json()
    assert await handle_assignment_message(body=body, message_id="a", rt=rt) == "done"
    assert await handle_assignment_message(body=body, message_id="a", rt=rt) == "already_done"
    assert directory.calls.count("update_profile") == 1


async def test_a_later_message_changes_the_profile_and_clears_what_it_leaves_out(
    rt: Runtime,
) -> None:
    _, ledger, _ = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam", "department": "Research"})
    await drain(rt)
    assert await deliver(rt, {"companyName": "Contoso"}, message_id="m2") == "already_onboarded"
    assert await drain(rt) == ["done"]
    assert user_profile(rt) == {"companyName": "Contoso"}
    row = await ledger.get(ADA)
    assert row is not None and row.profile == {"companyName": "Contoso", "department": None}


async def test_a_message_without_profile_changes_nothing(rt: Runtime) -> None:
    directory, ledger, outbox = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    await drain(rt)
    assert await deliver(rt, None, message_id="m2") == "already_onboarded"
    assert outbox.assignments == []
    assert user_profile(rt) == {"companyName": "Fabrikam"}
    row = await ledger.get(ADA)
    assert row is not None and row.profile == {"companyName": "Fabrikam"}
    assert directory.calls.count("update_profile") == 1


async def test_an_older_step_finishing_last_still_leaves_the_latest_profile(rt: Runtime) -> None:
    # The first message's step reads the row and starts its PATCH; meanwhile a second message
    # records another profile and its own step writes it; the first PATCH lands last. The first
    # step must notice that the row changed under it and write the latest profile again.
    directory, _, outbox = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    first, _ = outbox.assignments.pop(0)
    started, release = asyncio.Event(), asyncio.Event()
    real = directory.update_profile
    held = True

    async def slow_first_patch(**kwargs: Any) -> None:
        nonlocal held
        if held:
            held = False
            values = dict(kwargs["values"])
            started.set()
            await release.wait()
            await real(user_id=kwargs["user_id"], values=values)
            return
        await real(**kwargs)

    directory.update_profile = slow_first_patch  # type: ignore[method-assign]
    running = asyncio.create_task(
        handle_assignment_message(body=first.model_dump_json(), message_id="a", rt=rt)
    )
    await started.wait()
    assert await deliver(rt, {"companyName": "Contoso"}, message_id="m2") == "already_onboarded"
    assert await drain(rt) == ["done"]  # the second step writes Contoso
    assert user_profile(rt) == {"companyName": "Contoso"}
    release.set()
    assert await running in ("done", "already_done")
    assert user_profile(rt) == {"companyName": "Contoso"}


async def test_a_forged_step_for_another_user_is_refused(rt: Runtime) -> None:
    directory, _, outbox = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    outbox.assignments.clear()
    intruder = directory.add_user("mallory@fabrikam.example")
    forged = ProfileUpdate(email=ADA, userId=intruder.id)
    outcome = await handle_assignment_message(body=forged.model_dump_json(), message_id="f", rt=rt)
    assert outcome == "rejected"
    assert poison_codes(rt) == ["UserMismatch"]
    assert directory.calls.count("update_profile") == 0


async def test_with_no_profile_fields_a_profile_step_is_refused(rt: Runtime) -> None:
    await deliver(rt, {"companyName": "Fabrikam"})
    directory, _, outbox = parts(rt)
    step, _ = outbox.assignments.pop(0)
    rt.settings = settings("")
    outcome = await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
    assert outcome == "rejected"
    assert poison_codes(rt) == ["ProfileFieldNotAllowed"]
    assert directory.calls.count("update_profile") == 0


async def test_the_step_writes_what_the_setting_allows_today(rt: Runtime) -> None:
    await deliver(rt, {"companyName": "Fabrikam", "jobTitle": "Consultant"})
    rt.settings = settings("companyName")  # jobTitle no longer written by this deployment
    assert await drain(rt) == ["done"]
    assert user_profile(rt) == {"companyName": "Fabrikam"}


async def test_profile_recorded_is_one_change_with_its_step_queued(rt: Runtime) -> None:
    # The row's profile and the step's "queued" are written together: a step finishing in
    # between cannot mark the new profile done.
    _, ledger, _ = parts(rt)
    await deliver(rt, {"companyName": "Fabrikam"})
    await drain(rt)
    writes: list[Change] = []
    real = ledger.update

    async def recording(email: str, change: Change, *, etag: str | None = None) -> bool:
        writes.append(change)
        return await real(email, change, etag=etag)

    ledger.update = recording  # type: ignore[method-assign]
    await deliver(rt, {"companyName": "Contoso"}, message_id="m2")
    (recorded,) = [w for w in writes if isinstance(w, ProfileRecorded)]
    assert recorded.profile == {"companyName": "Contoso"}
    assert recorded.steps == {PROFILE_STEP_KEY: StepStatus.QUEUED}
    assert not [w for w in writes if not isinstance(w, ProfileRecorded | StepsRecorded)]


def test_offboarding_clears_what_this_app_set_on_its_own_guests_only() -> None:
    """``profile_to_clear`` (for offboarding, finding N2): the attributes this app wrote, as
    nulls, on a guest it invited; nothing on a user found existing or adopted."""
    invited = LedgerEntry(
        email=ADA,
        status=GuestStatus.REDEEMED,
        user_id="u1",
        profile={"department": "Research", "companyName": "Fabrikam", "jobTitle": None},
        history=("inviting@t", "invited@t", "redeemed@t"),
    )
    assert profile_to_clear(invited) == {"companyName": None, "department": None}
    existing = dataclasses.replace(invited, status=GuestStatus.EXISTING, history=("existing@t",))
    adopted = dataclasses.replace(invited, history=("existing@t", "untracked@t", "redeemed@t"))
    assert profile_to_clear(existing) == {} and profile_to_clear(adopted) == {}
