"""The Graph budget's settings: defaults, validation, and what the composition root builds."""

from __future__ import annotations

import pytest

from guest_onboarding.bootstrap import build_graph_pacer
from guest_onboarding.config import Settings, SettingsError

STORAGE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def test_defaults_are_graphs_documented_write_rate_and_a_slow_invitation_pace() -> None:
    settings = Settings.from_env(STORAGE)
    assert settings.graph_writes_per_second == 20.0  # 3,000 writes per 150 s
    assert settings.graph_reads_per_second == 100.0
    assert settings.invitations_per_minute == 1.0
    assert settings.graph_budget_table == "graphbudget"
    assert settings.graph_budget_shared is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRAPH_WRITES_PER_SECOND", "0"),
        ("GRAPH_READS_PER_SECOND", "fast"),
        ("INVITATIONS_PER_MINUTE", "-1"),
        ("INVITATIONS_PER_MINUTE", "nan"),
        ("GRAPH_BUDGET_SHARED", "maybe"),
    ],
)
def test_a_malformed_budget_setting_stops_the_app_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**STORAGE, name: value})


def test_fractional_rates_are_accepted() -> None:
    settings = Settings.from_env({**STORAGE, "INVITATIONS_PER_MINUTE": "0.5"})
    assert settings.invitations_per_minute == 0.5


@pytest.mark.parametrize("shared", ["true", "false"])
async def test_the_pacer_is_shared_unless_switched_off(shared: str) -> None:
    pacer = build_graph_pacer(Settings.from_env({**STORAGE, "GRAPH_BUDGET_SHARED": shared}))
    try:
        assert pacer.shared is (shared == "true")
    finally:
        await pacer.aclose()
