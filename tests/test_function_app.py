"""The Functions app as the host indexes it: names, triggers, parameter names, a cheap import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def index_in_fresh_interpreter() -> dict[str, object]:
    """Import function_app in a new process (get_functions() runs once per process) and report
    what the worker would see."""
    script = """
import inspect, json, sys
import function_app
functions = []
for f in function_app.app.get_functions():
    bindings = [json.loads(b) for b in f.get_raw_bindings()]
    params = list(inspect.signature(f.get_user_function()).parameters)
    functions.append({"name": f.get_function_name(), "bindings": bindings, "params": params,
                      "is_async": inspect.iscoroutinefunction(f.get_user_function())})
heavy = sorted(m for m in ("msgraph", "azure.identity", "pydantic", "azure.data.tables",
                           "azure.storage.queue", "guest_onboarding.handlers", "opentelemetry",
                           "azure.monitor.opentelemetry") if m in sys.modules)
print(json.dumps({"functions": functions, "heavy": heavy}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def indexed() -> dict[str, object]:
    return index_in_fresh_interpreter()


def test_functions_and_triggers_follow_the_contract(indexed: dict[str, object]) -> None:
    functions = {f["name"]: f for f in indexed["functions"]}  # type: ignore[attr-defined]
    assert set(functions) == {"invite_fn", "assign_fn", "resend_timer_fn"}
    [invite] = functions["invite_fn"]["bindings"]
    assert (invite["type"], invite["queueName"], invite["connection"]) == (
        "queueTrigger",
        "%INVITATIONS_QUEUE%",
        "AzureWebJobsStorage",
    )
    [assign] = functions["assign_fn"]["bindings"]
    assert (assign["type"], assign["queueName"], assign["connection"]) == (
        "queueTrigger",
        "%ASSIGNMENTS_QUEUE%",
        "AzureWebJobsStorage",
    )
    [timer] = functions["resend_timer_fn"]["bindings"]
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "%RESEND_SCHEDULE%")


def test_parameters_match_binding_names(indexed: dict[str, object]) -> None:
    """The Python worker refuses a function whose parameters and binding names differ."""
    for function in indexed["functions"]:  # type: ignore[attr-defined]
        names = {b["name"] for b in function["bindings"]}
        assert set(function["params"]) == names, function["name"]
        assert function["is_async"], function["name"]


def test_indexing_leaves_graph_storage_and_handlers_unloaded(indexed: dict[str, object]) -> None:
    """Cold start: the triggers import the onboarding code on first use, not at index time."""
    assert indexed["heavy"] == []


def test_nothing_in_the_project_reads_the_shared_reference_folder() -> None:
    marker = "../" + "shared"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        path
        for path in tracked
        if path.endswith((".py", ".sh", ".json", ".bicep", ".yaml", ".toml", "Makefile", "run"))
        and marker in (REPO_ROOT / path).read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_host_json_is_the_v2_schema_with_explicit_queue_settings() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    queues = host["extensions"]["queues"]
    assert set(queues) >= {
        "maxDequeueCount",
        "visibilityTimeout",
        "batchSize",
        "newBatchThreshold",
        "messageEncoding",
    }
    assert queues["messageEncoding"] == "none"
    assert 1 <= queues["batchSize"] <= 32


def test_requirements_are_pinned_and_never_name_the_worker() -> None:
    lines = [
        line.strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all("==" in line for line in lines), lines
    assert not any(line.startswith("azure-functions-worker") for line in lines)


def test_blueprint_triggers_are_thin() -> None:
    """Each trigger module imports only azure.functions at module level."""
    for folder in ("invite_fn", "assign_fn", "resend_timer_fn"):
        source = (REPO_ROOT / folder / "__init__.py").read_text()
        top_level_imports = [
            line for line in source.splitlines() if line.startswith(("import ", "from "))
        ]
        assert top_level_imports == ["import azure.functions as func"], folder


def test_a_malformed_setting_stops_the_app_at_start_up_naming_it() -> None:
    env = {**os.environ, "ACCESS_PROFILES": '{"broken": '}
    result = subprocess.run(
        [sys.executable, "-c", "import function_app"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode != 0
    assert "SettingsError: ACCESS_PROFILES is not valid JSON" in result.stderr
