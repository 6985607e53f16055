"""Every alert rule of infra/app/alerts.bicep fires for the condition it watches, produced through
the real code, and stays quiet for a healthy run; changing what it filters on, in the rule or in
the code that records it, fails these tests.

Each test runs a scenario inside :func:`ingested` (the app's real OpenTelemetry pipeline and the
host's log lines, turned into Application Insights rows by Microsoft's exporter), reads the rule
from the Bicep as deployed, and evaluates its query and condition (tests/telemetry/alerts.py).
The oracles come from outside the code under test: Graph's error code from the Graph emulator's
refusal table, the number of messages from the poison queues and the scenario.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from azure.storage.queue import QueueServiceClient

from devstack.provision import provision_storage
from devstack.seeds import GROUP_PARTNERS
from graph_emulator.invitation_policy import CROSS_TENANT_ACCESS, REFUSALS, SUSPICIOUS_ACTIVITY
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.entrypoints import handle_assignment_message, handle_invitation_message
from guest_onboarding.errors import InvitationsStopped
from guest_onboarding.telemetry import measures
from local_functions_host import LocalFunctionsHost
from tests.fakes import FakeDirectory
from tests.fixtures.azurite import AzuriteEndpoint
from tests.fixtures.graph_emulator import GraphEmulator
from tests.host.support import APPS, eventually, peek_texts, queue_client
from tests.integration.stack import Stack, build_runtime, stack_settings
from tests.telemetry import kql
from tests.telemetry.alerts import AlertRule, Evaluation, alert_rules, evaluate, ingested

#: Each alert rule and the tests that produce its condition (a new rule fails
#: test_every_alert_rule_has_a_test until it is added here with its tests).
COVERED = {
    "poisonedAlert": (
        "test_messages_the_app_poisons_fire_the_poisoned_alert",
        "test_a_message_the_host_moves_to_poison_fires_the_poisoned_alert",
    ),
    "tenantStopAlert": (
        "test_a_tenant_wide_stop_on_the_graph_emulator_fires_the_tenant_stop_alert",
    ),
    "brakeAlert": ("test_a_burst_of_offboardings_over_the_threshold_fires_the_brake_alert",),
}

GUEST = "ada.lovelace@fabrikam.example"


@cache
def rules() -> Mapping[str, AlertRule]:
    return alert_rules()


def test_every_alert_rule_has_a_test() -> None:
    assert set(rules()) == set(COVERED)
    here = globals()
    for tests in COVERED.values():
        assert all(callable(here.get(name)) for name in tests), tests


# ---- what each alert must do with what was emitted ---------------------------------------------


def assert_fires_for_graph_code(evaluation: Evaluation, code: str) -> None:
    """The tenant-stop alert fires once, for Graph's code and nothing else."""
    series = (("code", code),)
    assert evaluation.firing == [series], evaluation.points
    assert evaluation.points == {series: [1.0]}


def assert_fires_for_messages(evaluation: Evaluation, messages: int) -> None:
    """The poisoned alert fires with the number of messages poisoned in the window."""
    assert evaluation.fires, evaluation.rows
    assert evaluation.points == {(): [float(messages)]}


def assert_fires_for_trigger(evaluation: Evaluation, trigger: str) -> None:
    """The brake alert fires once, for what asked for the offboarding that engaged it."""
    series = (("trigger", trigger),)
    assert evaluation.firing == [series], evaluation.points
    assert evaluation.points == {series: [1.0]}


def rows_named(tables: Mapping[str, kql.Result], metric: str) -> list[kql.Row]:
    return [r for r in tables["customMetrics"].rows if r["name"] == metric]


# ---- Graph refused the whole tenant -------------------------------------------------------------


@pytest.mark.integration
async def test_a_tenant_wide_stop_on_the_graph_emulator_fires_the_tenant_stop_alert(
    stack: Stack,
) -> None:
    """Graph (the emulator) blocks invitations for the directory; three HR messages arrive: the
    one that meets the stop records it, the others wait behind it; one point, Graph's code."""
    stack.graph.control.set_invitation_policy(tenant_block=SUSPICIOUS_ACTIVITY)
    _, graph_code, _ = REFUSALS[SUSPICIOUS_ACTIVITY]
    with ingested() as telemetry:
        for i in range(3):
            stack.send({"email": f"guest{i}@partner.example"})
        outcomes = await stack.drain(rounds=1)
        tables = telemetry.tables()

    assert sorted(outcomes) == ["tenant_stop", "throttled", "throttled"]
    assert stack.poison(stack.settings.invitations_queue) == []
    assert_fires_for_graph_code(evaluate(rules()["tenantStopAlert"], tables), graph_code)
    # Nothing was poisoned: the other alert stays quiet on the same data.
    assert not evaluate(rules()["poisonedAlert"], tables).fires


@pytest.mark.integration
async def test_a_healthy_onboarding_fires_no_alert(stack: Stack) -> None:
    """An HR message onboarded through Graph: its steps are counted (the tables are not empty),
    and neither alert fires."""
    with ingested() as telemetry:
        stack.send({"email": GUEST, "displayName": "Ada Lovelace"})
        outcomes = await stack.drain()
        tables = telemetry.tables()

    assert outcomes == ["invited"]
    steps = rows_named(tables, "guest_onboarding.steps")
    assert [r["customDimensions"]["guest_onboarding.outcome"] for r in steps] == ["invited"]
    assert tables["requests"].rows and tables["dependencies"].rows  # the spans, exported too
    for name in COVERED:
        evaluation = evaluate(rules()[name], tables)
        assert not evaluation.fires, (name, evaluation.rows)


# ---- the offboarding brake ---------------------------------------------------------------------


@pytest.fixture
async def braked_stack(
    azurite: AzuriteEndpoint, graph_identity_env: GraphEmulator
) -> AsyncIterator[Stack]:
    """``stack`` with a brake that holds the second offboarding of an hour."""
    values = stack_settings(
        azurite.connection_string, graph_identity_env.base_url, OFFBOARD_THRESHOLD="1"
    )
    provision_storage(azurite.connection_string, values)
    rt = build_runtime(Settings.from_env(values))
    queues = QueueServiceClient.from_connection_string(azurite.connection_string)
    yield Stack(rt=rt, graph=graph_identity_env, queues=queues)
    await rt.aclose()
    queues.close()


@pytest.mark.integration
async def test_a_burst_of_offboardings_over_the_threshold_fires_the_brake_alert(
    braked_stack: Stack,
) -> None:
    """Three guests offboarded by HR at once, the threshold one: the first is removed, the
    second engages the brake, the third waits behind it. One point, trigger ``hr``."""
    stack = braked_stack
    leavers = [f"leaver{i}@partner.example" for i in range(3)]
    for email in leavers:
        stack.send({"email": email, "groups": [GROUP_PARTNERS]})
    await stack.drain()
    with ingested() as telemetry:
        for email in leavers:
            stack.send({"email": email, "action": "offboard"})
        await stack.drain()
        tables = telemetry.tables()

    state = stack.graph.control.state()
    ids = {u["id"] for u in state["users"] if u["mail"] in leavers}
    [partners] = [set(g["members"]) for g in state["groups"] if g["id"] == GROUP_PARTNERS]
    assert len(ids & partners) == 2  # the directory: two offboardings held, nothing removed
    assert_fires_for_trigger(evaluate(rules()["brakeAlert"], tables), "hr")
    assert not evaluate(rules()["poisonedAlert"], tables).fires
    assert not evaluate(rules()["tenantStopAlert"], tables).fires


async def brake_on_fakes(rt: Runtime, guests: int = 2) -> dict[str, kql.Result]:
    """``guests`` onboarded, then offboarded by HR with the threshold at one (on the fakes)."""
    rt = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, offboard_threshold=1))
    assert isinstance(rt.directory, FakeDirectory)
    emails = [f"g{i}@fabrikam.example" for i in range(guests)]
    for email in emails:
        body = json.dumps({"email": email, "groups": [GROUP_PARTNERS]})
        assert await handle_invitation_message(body=body, message_id=email, rt=rt) == "invited"
    with ingested() as telemetry:
        for email in emails:
            body = json.dumps({"email": email, "action": "offboard"})
            await handle_invitation_message(body=body, message_id=f"off-{email}", rt=rt)
        for step, _ in list(rt.outbox.assignments):  # type: ignore[attr-defined]
            await handle_assignment_message(body=step.model_dump_json(), message_id="a", rt=rt)
        return telemetry.tables()


async def test_an_offboarding_under_the_threshold_fires_no_alert(rt: Runtime) -> None:
    tables = await brake_on_fakes(rt, guests=1)
    offboardings = rows_named(tables, "guest_onboarding.offboardings")
    assert [r["customDimensions"]["guest_onboarding.outcome"] for r in offboardings] == [
        "offboarding"
    ]
    for name in COVERED:
        assert not evaluate(rules()[name], tables).fires, name


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ('outcome == "brake_engaged"', 'outcome == "brake_engage"'),
        ('name == "guest_onboarding.offboardings"', 'name == "guest_onboarding.offboarding"'),
        (
            'customDimensions["guest_onboarding.offboarding.trigger"]',
            'customDimensions["trigger"]',
        ),
    ],
)
async def test_a_changed_value_in_the_brake_rule_fails_its_test(
    rt: Runtime, original: str, mutant: str
) -> None:
    tables = await brake_on_fakes(rt)
    rule = rules()["brakeAlert"]
    assert_fires_for_trigger(evaluate(rule, tables), "hr")
    with pytest.raises(AssertionError):
        assert_fires_for_trigger(evaluate(mutated(rule, original, mutant), tables), "hr")


async def test_a_changed_dimension_in_the_code_fails_the_brake_test(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(measures, "TRIGGER", "guest_onboarding.trigger")
    tables = await brake_on_fakes(rt)
    with pytest.raises(AssertionError):
        assert_fires_for_trigger(evaluate(rules()["brakeAlert"], tables), "hr")


# ---- messages poisoned --------------------------------------------------------------------------


@pytest.mark.integration
async def test_messages_the_app_poisons_fire_the_poisoned_alert(stack: Stack) -> None:
    """Two messages end in the poison queue: one the app cannot read, one Graph refuses for good
    (cross-tenant access blocks the guest's domain). Two messages in the window."""
    stack.graph.control.set_invitation_policy(cross_tenant_blocked_domains=["walled.example"])
    with ingested() as telemetry:
        stack.send("{not json")
        stack.send({"email": "someone@walled.example"})
        outcomes = await stack.drain()
        tables = telemetry.tables()

    assert sorted(outcomes) == ["poisoned", "rejected"]
    poisoned = stack.poison(stack.settings.invitations_queue)
    assert len(poisoned) == 2
    evaluation = evaluate(rules()["poisonedAlert"], tables)
    assert_fires_for_messages(evaluation, len(poisoned))
    _, graph_code, _ = REFUSALS[CROSS_TENANT_ACCESS]
    assert sorted(r["code"] for r in evaluation.rows) == sorted(
        [graph_code, "InvalidJson"]
    )  # by error code, as the alert's rows show them
    assert not evaluate(rules()["tenantStopAlert"], tables).fires


@pytest.fixture
async def recorder_host(
    azurite: AzuriteEndpoint, tmp_path: Path, unique_queue_name: Callable[[str], str]
) -> AsyncIterator[Callable[[str], object]]:
    """The local host running tests/host/apps/recorder (a body starting with ``fail`` raises;
    maxDequeueCount 3); yields a function that sends a message and waits until it is done with."""
    work, sync = unique_queue_name("work"), unique_queue_name("sync")
    queue = queue_client(azurite.connection_string, work)
    poison = queue_client(azurite.connection_string, f"{work}-poison")
    host = LocalFunctionsHost(
        APPS / "recorder",
        environ={
            "AzureWebJobsStorage": azurite.connection_string,
            "RECORD_FILE": str(tmp_path / "records.jsonl"),
            "WORK_QUEUE": work,
            "SYNC_QUEUE": sync,
        },
        settings_file=tmp_path / "no-local.settings.json",
        shutdown_grace=timedelta(seconds=2),
    )
    await host.start()

    async def deliver(body: str) -> object:
        queue.send_message(body)
        if body.startswith("fail"):
            return await eventually(lambda: peek_texts(poison), what="the poison message")
        return await eventually(
            lambda: (tmp_path / "records.jsonl").exists(), what="the message handled"
        )

    try:
        yield deliver
    finally:
        await host.stop()


@pytest.mark.integration
async def test_a_message_the_host_moves_to_poison_fires_the_poisoned_alert(
    recorder_host: Callable[[str], object],
) -> None:
    """A function that fails on every delivery: after maxDequeueCount the host moves the message
    to <queue>-poison and logs the Storage extension's line, which the alert reads from
    ``traces``."""
    with ingested() as telemetry:
        moved = await recorder_host("fail: always")  # type: ignore[misc]
        tables = telemetry.tables()

    assert moved == ["fail: always"]
    evaluation = evaluate(rules()["poisonedAlert"], tables)
    assert_fires_for_messages(evaluation, 1)
    assert [(r["step"], r["code"]) for r in evaluation.rows] == [("host", "MaxDequeueCount")]


@pytest.mark.integration
async def test_a_message_the_host_completes_fires_no_alert(
    recorder_host: Callable[[str], object],
) -> None:
    """The host's lines for a message handled at once reach ``traces`` too; none of them is the
    poisoning line."""
    with ingested() as telemetry:
        await recorder_host("hello")  # type: ignore[misc]
        completed = await eventually(
            lambda: [r for r in telemetry.tables()["traces"].rows if "Succeeded" in r["message"]],
            what="the host's line for the completed message",
        )
        tables = telemetry.tables()

    assert len(completed) == 1
    assert not evaluate(rules()["poisonedAlert"], tables).fires


# ---- mutations: what the alerts filter on, changed in the rule or in the code ------------------


async def tenant_stop_on_fakes(rt: Runtime) -> dict[str, kql.Result]:
    """The unit-level tenant stop (tests/fakes.py): Graph's refusal raised by the fake directory,
    through the real handler, delivery and telemetry."""
    assert isinstance(rt.directory, FakeDirectory)
    stop = InvitationsStopped("Invitations are blocked", retry_after=0, code="Forbidden")
    rt.directory.fail_next["invite"] = [stop]
    with ingested() as telemetry:
        body = json.dumps({"email": GUEST, "displayName": "Ada Lovelace"})
        assert await handle_invitation_message(body=body, message_id="m-1", rt=rt) == "tenant_stop"
        return telemetry.tables()


async def poisoning_on_fakes(rt: Runtime) -> dict[str, kql.Result]:
    with ingested() as telemetry:
        outcome = await handle_invitation_message(body="{not json", message_id="m-1", rt=rt)
        assert outcome == "rejected"
        return telemetry.tables()


def mutated(rule: AlertRule, original: str, mutant: str) -> AlertRule:
    assert rule.query.count(original) == 1, f"{original!r} is not in the query once"
    return dataclasses.replace(rule, query=rule.query.replace(original, mutant))


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ('outcome == "tenant_stop"', 'outcome == "tenant_stopped"'),
        ('name == "guest_onboarding.steps"', 'name == "guest_onboarding.step"'),
        ('customDimensions["error.type"]', 'customDimensions["error.code"]'),
        ('customDimensions["guest_onboarding.outcome"]', 'customDimensions["outcome"]'),
    ],
)
async def test_a_changed_value_in_the_tenant_stop_rule_fails_its_test(
    rt: Runtime, original: str, mutant: str
) -> None:
    tables = await tenant_stop_on_fakes(rt)
    rule = rules()["tenantStopAlert"]
    assert_fires_for_graph_code(evaluate(rule, tables), "Forbidden")
    with pytest.raises(AssertionError):
        assert_fires_for_graph_code(evaluate(mutated(rule, original, mutant), tables), "Forbidden")


async def test_a_changed_dimension_in_the_code_fails_the_tenant_stop_test(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code records the outcome under another dimension name: the rule no longer matches."""
    monkeypatch.setattr(measures, "OUTCOME", "guest_onboarding.outcome_name")
    tables = await tenant_stop_on_fakes(rt)
    with pytest.raises(AssertionError):
        assert_fires_for_graph_code(evaluate(rules()["tenantStopAlert"], tables), "Forbidden")


@pytest.mark.parametrize(
    ("original", "mutant"),
    [
        ('name == "guest_onboarding.poisoned"', 'name == "guest_onboarding.poison"'),
        ("messages = valueSum", "messages = valueMin"),
    ],
)
async def test_a_changed_value_in_the_poisoned_rule_fails_its_test(
    rt: Runtime, original: str, mutant: str
) -> None:
    tables = await poisoning_on_fakes(rt)
    rule = rules()["poisonedAlert"]
    assert_fires_for_messages(evaluate(rule, tables), 1)
    with pytest.raises(AssertionError):
        assert_fires_for_messages(evaluate(mutated(rule, original, mutant), tables), 1)


async def test_a_changed_metric_name_in_the_code_fails_the_poisoned_test(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import metrics

    renamed = metrics.get_meter("guest_onboarding").create_counter("guest_onboarding.poison")
    monkeypatch.setattr(measures, "_poisoned", renamed)
    tables = await poisoning_on_fakes(rt)
    with pytest.raises(AssertionError):
        assert_fires_for_messages(evaluate(rules()["poisonedAlert"], tables), 1)
