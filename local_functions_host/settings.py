"""App settings as Core Tools provides them: local.settings.json ``Values`` under the environment.

Core Tools copies ``Values`` into the worker's environment but never overrides a variable that
is already set, so an exported variable wins over the file. Binding expressions such as a queue
name ``%INVITATIONS_QUEUE%`` are resolved against those settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


class SettingsError(ValueError):
    """local.settings.json is unreadable, or a binding names a setting that is not set."""


def load_local_settings(path: Path) -> dict[str, str]:
    """Return the ``Values`` of a local.settings.json file as strings (empty if it is absent).

    Raises SettingsError when the file is not valid JSON, when ``IsEncrypted`` is true (only
    Core Tools can decrypt it) or when ``Values`` is not an object.
    """
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise SettingsError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    if document.get("IsEncrypted") is True:
        raise SettingsError(f"{path} is encrypted; decrypt it with func settings decrypt")
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: Values must be an object")
    # Core Tools turns every value into its string form (numbers and booleans included).
    return {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
        if value is not None
    }


def merge_settings(
    local_values: Mapping[str, str], *environments: Mapping[str, str]
) -> dict[str, str]:
    """Return the effective settings: the file's values, overridden by each environment in turn."""
    merged = dict(local_values)
    for environment in environments:
        merged.update(environment)
    return merged


def resolve_binding_expression(value: str, settings: Mapping[str, str]) -> str:
    """Replace every ``%NAME%`` in ``value`` with the setting NAME.

    Raises SettingsError naming the setting when it is not set, as the Functions host refuses
    to index a function whose binding expression does not resolve.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise SettingsError(f"'%{name}%' does not resolve to a value (app setting {name})")
        return settings[name]

    return _SETTING_REFERENCE.sub(replace, value)
