"""A local Microsoft Graph tenant for the demo, tests and benchmarks.

Start it with `python -m graph_emulator --port N [--tenant seed.json]`; drive it from Python with
`graph_emulator.process.start_emulator()` and `graph_emulator.control.EmulatorControl`.
This module imports nothing heavy so the launcher and control client stay cheap to import.
"""

from __future__ import annotations

__all__ = ["API_VERSION_PATH"]

API_VERSION_PATH = "/v1.0"
