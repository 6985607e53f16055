"""main.parameters.json as azd reads it: text substitution first, JSON and types after.

azd (Azure/azure-dev, ``cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go``,
``loadParameters``) reads ``infra/main.parameters.json`` as text, substitutes environment values
with ``github.com/drone/envsubst`` (``envsubst.Eval``) and only then parses JSON. Values are
pasted in unescaped: an environment value holding ``"`` (a JSON object, say) inside a quoted
``"${VAR}"`` breaks the file. ``ensureParameters`` then converts each value with
``armParameterFileValue``: strings parse to bool / int for ``bool`` / ``int`` parameters
(``strconv.ParseBool`` / ``ParseInt``); an empty string for a ``string`` parameter is kept only
when the parameter's default is a different non-empty string, otherwise the parameter counts as
unset (its default is used, or azd prompts when there is none); ``null`` means unset; other
values pass unchanged, so ARM sees them with their JSON type.

drone/envsubst (``template.go``, ``funcs.go``, ``parse/scan.go``): only ``${`` starts a
substitution (``$schema`` is left alone); ``${NAME=default}``, ``${NAME:=default}`` and
``${NAME:-default}`` all give the default when the value is empty (``-`` alone is part of a
name there); the default runs to the first ``}``. This module implements exactly that subset
and refuses any other form, so a template using more of envsubst fails here, not misread.

The check substitutes the values documented in docs/deployment.md (``azd env set NAME value``
lines) and, separately, an environment with none of them, and requires valid JSON in which every
parameter is a value of its declared Bicep type (or unset where it has a default), every
documented value arrives unchanged, and every ``@allowed`` list is respected.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.checks.bicep_eval import Template

MAIN_BICEP = Path("infra") / "main.bicep"
MAIN_PARAMETERS = Path("infra") / "main.parameters.json"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"

#: What azd always has when it provisions: the environment, the location, and (substituted by
#: azd itself, not read from the environment) the signed-in principal's object id.
BASE_ENVIRONMENT: dict[str, str] = {
    "AZURE_ENV_NAME": "guest-onboarding-dev",
    "AZURE_LOCATION": "westeurope",
    "AZURE_PRINCIPAL_ID": "11111111-1111-1111-1111-111111111111",
}

_SUBSTITUTION = re.compile(r"\$\{(?P<name>[A-Za-z0-9_-]+)(?:(?P<op>:?=|:-)(?P<default>[^}$]*))?\}")
#: Go's ``strconv.ParseBool``.
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_ENV_SET = re.compile(r"^\s*azd env set (?P<rest>.+)$")


class SubstitutionError(ValueError):
    """The template uses a form of envsubst this emulation does not implement."""


def substitute(text: str, environment: Mapping[str, str]) -> str:
    """drone/envsubst's ``Eval`` for ``${NAME}`` and ``${NAME<op>default}`` (see module doc)."""
    pieces: list[str] = []
    position = 0
    for match in _SUBSTITUTION.finditer(text):
        pieces.append(text[position : match.start()])
        value = environment.get(match["name"], "")
        if value == "" and match["op"] is not None:
            value = match["default"]
        pieces.append(value)
        position = match.end()
    pieces.append(text[position:])
    leftover = _SUBSTITUTION.sub("", text)
    if "${" in leftover or "$$" in leftover:
        raise SubstitutionError("unsupported envsubst syntax in main.parameters.json")
    return "".join(pieces)


def arm_value(bicep_type: str, value: Any, default: Any) -> Any:
    """azd's ``armParameterFileValue``: the value deployed, or None for "unset"."""
    if value is None or not isinstance(value, str):
        return value
    if bicep_type == "bool":
        return _GO_BOOLS.get(value)
    if bicep_type == "int":
        return int(value) if re.fullmatch(r"[+-]?\d+", value) else None
    if bicep_type == "string":
        if value != "":
            return value
        if isinstance(default, str) and value != default:
            return value
        return None
    return value


def _type_ok(bicep_type: str, value: Any) -> bool:
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "int": int,
        "bool": bool,
        "object": dict,
        "array": list,
    }
    wanted = expected.get(bicep_type)
    if wanted is None:
        return True
    if bicep_type == "int" and isinstance(value, bool):
        return False
    return isinstance(value, wanted)


def documented_values(root: Path) -> dict[str, str]:
    """``azd env set NAME value`` examples in docs/deployment.md, as the shell would pass them."""
    values: dict[str, str] = {}
    for line in (root / DEPLOYMENT_DOC).read_text().splitlines():
        match = _ENV_SET.match(line)
        if not match:
            continue
        words = shlex.split(match["rest"], comments=True)
        if len(words) == 2 and re.fullmatch(r"[A-Z_][A-Z0-9_]*", words[0]):
            values[words[0]] = words[1]
    return values


def parameter_variables(text: str) -> dict[str, str]:
    """Parameter name -> the environment variable its value substitutes (raw template text)."""
    found: dict[str, str] = {}
    pattern = re.compile(
        r'"(?P<param>[A-Za-z0-9_]+)"\s*:\s*\{\s*"value"\s*:\s*"?\$\{(?P<var>[A-Za-z0-9_]+)'
    )
    for match in pattern.finditer(text):
        found[match["param"]] = match["var"]
    return found


def _allowed(declaration: Mapping[str, Any]) -> list[Any] | None:
    for decorator in declaration.get("decorators") or []:
        if decorator.get("type") == "allowed":
            allowed = decorator.get("argument")
            return list(allowed) if isinstance(allowed, list) else None
    return None


def _check(
    text: str,
    environment: Mapping[str, str],
    declared: Mapping[str, Any],
    label: str,
    documented: Mapping[str, str],
) -> list[str]:
    try:
        substituted = substitute(text, environment)
    except SubstitutionError as exc:
        return [str(exc)]
    try:
        document = json.loads(substituted)
    except json.JSONDecodeError as exc:
        return [f"main.parameters.json is not valid JSON after azd substitutes {label}: {exc}"]
    problems: list[str] = []
    variables = parameter_variables(text)
    for name, body in (document.get("parameters") or {}).items():
        if name not in declared:
            problems.append(
                f"main.parameters.json passes {name}, which main.bicep does not declare"
            )
            continue
        declaration = declared[name]
        bicep_type = str(declaration.get("type"))
        default = declaration.get("default")
        value = arm_value(bicep_type, body.get("value"), default)
        if value is None:
            if "default" not in declaration or default is None:
                problems.append(f"{name}: no value with {label} and no default (azd would prompt)")
            continue
        if not _type_ok(bicep_type, value):
            problems.append(
                f"{name}: {type(value).__name__} {value!r} with {label}, but main.bicep declares "
                f"{bicep_type}"
            )
            continue
        allowed = _allowed(declaration)
        if allowed is not None and value not in allowed:
            problems.append(f"{name}: {value!r} with {label} is not one of {allowed}")
        variable = variables.get(name)
        if variable is not None and variable in documented:
            example = documented[variable]
            expected: Any = example
            if bicep_type in ("object", "array"):
                expected = json.loads(example)
            elif bicep_type == "int":
                expected = int(example)
            elif bicep_type == "bool":
                expected = example.lower() == "true"
            if value != expected:
                problems.append(
                    f"{name}: the documented {variable} value {example!r} arrives as {value!r}"
                )
    return problems


def azd_problems(root: Path) -> list[str]:
    """main.parameters.json through azd's substitution, with and without the documented values."""
    text = (root / MAIN_PARAMETERS).read_text()
    declared = Template.load(root / MAIN_BICEP).parameters
    documented = documented_values(root)
    problems: list[str] = []
    if not documented:
        problems.append(f"{DEPLOYMENT_DOC}: no `azd env set NAME value` examples found")
    for name in sorted(set(documented) - set(parameter_variables(text).values())):
        problems.append(f"{DEPLOYMENT_DOC}: azd env set {name} is read by no parameter")
    problems += _check(text, BASE_ENVIRONMENT, declared, "no optional values set", {})
    problems += _check(
        text,
        {**BASE_ENVIRONMENT, **documented},
        declared,
        "the documented values",
        documented,
    )
    return problems
