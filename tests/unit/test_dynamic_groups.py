"""Dynamic groups on the allow-lists (issue 26 item 2): found once per process, at the first
delivery, and refused by name before any guest meets Graph's 403 (handlers/groups.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from datetime import timedelta
from typing import cast

import pytest

from devstack.seeds import GROUP_PARTNERS
from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from guest_onboarding.errors import Refused, ServiceUnavailable
from guest_onboarding.ports import DirectoryGroup
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV, Clock

RULE = '(user.companyName -eq "Fabrikam")'
PROFILED = {"email": "ada@fabrikam.example", "accessProfiles": ["fabrikam-project-x"]}
PARTNER = {"email": "bob@fabrikam.example", "groups": [GROUP_PARTNERS]}


def make_dynamic(rt: Runtime, group_id: str = GROUP_X) -> FakeDirectory:
    """``group_id`` turned into a dynamic group in the fake tenant (as an administrator would)."""
    directory = cast(FakeDirectory, rt.directory)
    directory.dynamic[group_id] = DirectoryGroup(
        id=group_id,
        display_name="Fabrikam guests",
        group_types=("DynamicMembership", "Unified"),
        membership_rule=RULE,
    )
    return directory


async def deliver(rt: Runtime, data: object, message_id: str = "m1") -> str:
    return await handle_invitation_message(
        body=json.dumps(data).encode(), message_id=message_id, dequeue_count=1, rt=rt
    )


def poisoned(rt: Runtime) -> list[dict[str, object]]:
    return cast(FakeOutbox, rt.outbox).poison.get("guest-invitations-poison", [])


async def test_a_dynamic_group_in_an_access_profile_is_refused_by_name_before_any_invitation(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    directory = make_dynamic(rt)
    with caplog.at_level(logging.ERROR, logger="guest_onboarding"):
        for i in range(3):
            assert await deliver(rt, PROFILED, message_id=f"m{i}") == "rejected"
    codes = [p["error"]["code"] for p in poisoned(rt)]  # type: ignore[index]
    assert codes == ["DynamicGroupNotAssignable"] * 3
    reason = str(poisoned(rt)[0]["error"]["message"])  # type: ignore[index]
    assert GROUP_X in reason and "ACCESS_PROFILES['fabrikam-project-x']" in reason
    assert "Fabrikam guests" in reason and RULE in reason
    assert "invite" not in directory.calls and "find_user" not in directory.calls
    assert await cast(FakeLedger, rt.ledger).get("ada@fabrikam.example") is None
    # Said once for the process, not once per guest; each allow-listed group read once.
    said = [r for r in caplog.records if "DynamicGroupNotAssignable" in r.getMessage()]
    assert len(said) == 1 and GROUP_X in said[0].getMessage()
    assert directory.calls.count("get_group") == 2  # GROUP_X and GROUP_PARTNERS


async def test_messages_not_naming_it_are_onboarded(rt: Runtime) -> None:
    directory = make_dynamic(rt)
    assert await deliver(rt, PARTNER) == "invited"
    outbox = cast(FakeOutbox, rt.outbox)
    while outbox.assignments:
        step, _ = outbox.assignments.pop(0)
        assert (
            await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
            == "done"
        )
    assert len(directory.members[GROUP_PARTNERS]) == 1


async def test_a_step_queued_before_the_group_turned_dynamic_is_refused_without_graphs_403(
    rt: Runtime,
) -> None:
    """A step already on the queue (queued by an earlier process, before an administrator made
    the group dynamic) is refused with the same code, and never sent to Graph."""
    assert await deliver(rt, PROFILED) == "invited"
    directory = make_dynamic(rt)  # an administrator makes the group dynamic meanwhile
    restarted = dataclasses.replace(rt)  # a new process: a new check
    outbox = cast(FakeOutbox, rt.outbox)
    outcomes = []
    while outbox.assignments:
        step, _ = outbox.assignments.pop(0)
        outcomes.append(
            await handle_assignment_message(
                body=step.model_dump_json(), message_id="a", rt=restarted
            )
        )
    assert sorted(outcomes) == ["done", "rejected"]  # the app role done, the group refused
    [step_poison] = outbox.poison["guest-assignments-poison"]
    assert step_poison["error"]["code"] == "DynamicGroupNotAssignable"  # type: ignore[index]
    assert "add_group_member" not in directory.calls


async def test_concurrent_first_deliveries_read_each_group_once(rt: Runtime) -> None:
    directory = make_dynamic(rt)
    outcomes = await asyncio.gather(*(deliver(rt, PROFILED, message_id=f"m{i}") for i in range(5)))
    assert outcomes == ["rejected"] * 5
    assert directory.calls.count("get_group") == 2


async def test_without_the_read_permission_guests_are_still_onboarded_and_it_is_said_once(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    directory = cast(FakeDirectory, rt.directory)
    directory.fail_next["get_group"] = [
        Refused("Insufficient privileges", code="Authorization_RequestDenied", status=403)
    ]
    with caplog.at_level(logging.WARNING, logger="guest_onboarding"):
        assert await deliver(rt, PARTNER) == "invited"
        assert await deliver(rt, {**PARTNER, "email": "cy@fabrikam.example"}, "m2") == "invited"
    warned = [r for r in caplog.records if "dynamic groups not checked" in r.getMessage()]
    assert len(warned) == 1 and "Authorization_RequestDenied" in warned[0].getMessage()
    assert directory.calls.count("get_group") == 2  # each group read once, not per guest


async def test_a_check_graph_could_not_answer_is_tried_again_later_not_per_message(
    rt: Runtime, clock: Clock
) -> None:
    directory = make_dynamic(rt)
    directory.fail_next["get_group"] = [ServiceUnavailable("503", status=503)]
    assert await deliver(rt, PROFILED, "m1") == "invited"  # unchecked: Graph decides
    assert await deliver(rt, PROFILED, "m2") == "already_onboarded"
    assert directory.calls.count("get_group") == 2  # the failed gather, nothing since
    clock.now += timedelta(seconds=61)
    assert await deliver(rt, {**PROFILED, "email": "cy@fabrikam.example"}, "m3") == "rejected"
    assert directory.calls.count("get_group") == 4


async def test_switched_off_it_reads_nothing(clock: Clock) -> None:
    settings = Settings.from_env({**SETTINGS_ENV, "DETECT_DYNAMIC_GROUPS": "false"})
    directory = FakeDirectory(members={GROUP_PARTNERS: set()})
    directory.dynamic[GROUP_X] = DirectoryGroup(id=GROUP_X, group_types=("DynamicMembership",))
    rt = Runtime(
        settings=settings,
        directory=directory,
        ledger=FakeLedger(),
        outbox=FakeOutbox(),
        health=FakeTenantHealth(),
        max_dequeue_count=5,
        clock=clock,
    )
    assert await deliver(rt, PROFILED) == "invited"
    assert "get_group" not in directory.calls
