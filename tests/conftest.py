"""Shared fixtures: each live service has its own plugin module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.azurite",
    "tests.fixtures.graph_emulator",
    "tests.fixtures.stack",
    "tests.fixtures.storage_proxy",
]
