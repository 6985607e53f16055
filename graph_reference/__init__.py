"""Microsoft Graph as Microsoft publishes it: the v1.0 schema (CSDL) and the permissions table,
vendored as trimmed extracts with their provenance (``graph_reference/data/README.md``).

- :mod:`graph_reference.csdl`: the schema: entity, complex and enum types, their properties and
  navigation properties, entity sets, singletons and bound actions.
- :mod:`graph_reference.permissions`: which application permissions cover a method and path, and
  which one Microsoft marks least privileged.
- :mod:`graph_reference.conformance`: whether a JSON value (a request body or a response) fits a
  type of the schema.
- :mod:`graph_reference.refresh`: ``python -m graph_reference.refresh --csdl PATH --permissions
  PATH`` rewrites the extracts from newer copies of Microsoft's files.

Dev tooling only (the emulator, the infra checks, the tests): the function app never imports it.
This package imports nothing of the project.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graph_reference.csdl import Schema
from graph_reference.permissions import PermissionTable

DATA_DIR = Path(__file__).resolve().parent / "data"
CSDL_PATH = DATA_DIR / "graph-v1.0.csdl"
PERMISSIONS_PATH = DATA_DIR / "permissions.json"


@cache
def graph_schema() -> Schema:
    """The vendored Graph v1.0 schema extract (parsed once per process)."""
    return Schema.parse(CSDL_PATH.read_bytes())


@cache
def permission_table() -> PermissionTable:
    """The vendored permissions extract (parsed once per process)."""
    return PermissionTable.parse(PERMISSIONS_PATH.read_bytes())
