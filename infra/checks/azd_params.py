"""main.parameters.json as azd loads it: JSON first, then each parameter's value substituted.

A reimplementation of azd's parameter loading, from Azure/azure-dev
``cli/azd/pkg/infra/provisioning/bicep/bicep_provider.go``:

* ``loadParameters`` (read at tags azure-dev-cli_1.17.0, commit ad52596fe9b1, and
  azure-dev-cli_1.23.4, commit 13c2368a2285). Since azd 1.15.0 (Azure/azure-dev#5061) the
  file is parsed with ``json.Unmarshal`` into ``azure.ArmParameterFile`` *before* anything is
  substituted: a file that is not JSON fails every ``azd provision`` with "error unmarshalling
  Bicep template parameters". Then, per parameter: ``json.Marshal`` of ``{"value", "reference"}``,
  ``envsubst.Eval`` on that text (drone/envsubst v1.0.3, ported in :mod:`infra.checks.envsubst`:
  values are pasted in *unescaped*, so a value holding ``"`` breaks the JSON), ``json.Unmarshal``
  again; a ``null`` value is left out, and so is an empty string when a variable it names is not
  defined at all (defined-but-empty counts as set). ``AZURE_PRINCIPAL_ID`` is the signed-in
  principal's id (and from 1.18.0 ``AZURE_PRINCIPAL_TYPE`` its type), not read from the
  environment.
* From azd 1.23.4 (commit 27b065640bd8, Azure/azure-dev#6694, CHANGELOG "Fix environment
  variable substitution for array and object Bicep parameters"), an ``object`` or ``array``
  parameter whose value in the file is a string takes "Path A": envsubst on the string alone;
  an empty result with an undefined variable is left out; anything else must parse as JSON or
  azd stops ("substituting parameter '<name>' (<type>): ...: value '...' is not valid JSON").
  So ``"value": "${ACCESS_PROFILES}"`` delivers the JSON object held in the variable. Up to
  azure-dev-cli_1.31.2 (commit 3440050737c1, the version deploy.yml installs) ``loadParameters``
  changed only for provisioning layers' "virtual" variables, which this project does not use.
* ``ensureParameters`` / ``armParameterFileValue`` (unchanged from 1.17.0 to 1.31.2): strings
  become booleans (``strconv.ParseBool``) or integers (``strconv.ParseInt``) for ``bool`` / ``int``
  parameters, or nothing when they do not parse; an empty string for a ``string`` parameter is
  kept only when the parameter's default is a different string; objects and arrays pass as they
  are. A parameter left without a value uses its default, or azd prompts (and ``--no-prompt``
  fails).

The cases in tests/infra/test_azd_params.py are azd's own (``Test_armParameterFileValue``,
``TestBicepPlanParameterTypes``, ``TestObjectParameterEnvSubst``, ``TestHelperEvalParamEnvSubst``,
``TestUnsetEnvVarForArrayParameter`` in ``bicep_provider_test.go`` at 1.23.4, and the functional
test's ``MY_ARRAY`` / ``MY_OBJECT`` sample of #6694) and drone/envsubst's (``eval_test.go``).

The check (:func:`azd_problems`) loads infra/main.parameters.json the way the oldest azd that
``azure.yaml`` allows does (and every later behaviour listed in :data:`BEHAVIOUR_CHANGES`), in
four environments: none of the optional variables set; the values docs/deployment.md documents
(``azd env set NAME value``); and ``.github/workflows/deploy.yml``'s environment with its
optional repository variables unset (GitHub Actions then sets them to empty strings) and set to
the documented values. Every parameter must arrive with a value of its declared type that ARM
accepts (``@allowed``, ``@minValue`` ..., ``@maxLength``), or be left to its default; every
documented value must arrive unchanged.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.checks import envsubst
from infra.checks.bicep_eval import Symbol, Template
from infra.checks.versions import required_azd
from infra.checks.workflows import deploy_environments

MAIN_BICEP = Path("infra") / "main.bicep"
MAIN_PARAMETERS = Path("infra") / "main.parameters.json"
DEPLOYMENT_DOC = Path("docs") / "deployment.md"

Version = tuple[int, ...]

#: azd releases whose parameter loading differs from the release before (see module doc).
JSON_FIRST: Version = (1, 15, 0)
PRINCIPAL_TYPE: Version = (1, 18, 0)
OBJECT_FROM_STRING: Version = (1, 23, 4)
BEHAVIOUR_CHANGES: tuple[Version, ...] = (JSON_FIRST, PRINCIPAL_TYPE, OBJECT_FROM_STRING)

#: ``environment.PrincipalIdEnvVarName`` / ``PrincipalTypeEnvVarName``: azd answers these itself.
PRINCIPAL_ID_VARIABLE = "AZURE_PRINCIPAL_ID"
PRINCIPAL_TYPE_VARIABLE = "AZURE_PRINCIPAL_TYPE"

#: What every azd environment has when it provisions.
BASE_ENVIRONMENT: dict[str, str] = {
    "AZURE_ENV_NAME": "guest-onboarding-dev",
    "AZURE_LOCATION": "westeurope",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
}
SIGNED_IN_PRINCIPAL = ("11111111-1111-1111-1111-111111111111", "User")

_ENV_SET = re.compile(r"^\s*azd env set (?P<rest>.+)$")
#: ``strconv.ParseBool``.
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
_INT64 = (-(2**63), 2**63 - 1)


class AzdError(Exception):
    """azd stops provisioning with this message."""


# ---- ARM types (provisioning.ParameterTypeFromArmType) ----------------------------------------

_PARAMETER_TYPES = {
    **dict.fromkeys(("String", "string", "secureString", "securestring"), "string"),
    **dict.fromkeys(("Bool", "bool"), "bool"),
    **dict.fromkeys(("Int", "int"), "int"),
    **dict.fromkeys(("Object", "object", "secureObject", "secureobject"), "object"),
    **dict.fromkeys(("Array", "array"), "array"),
}


@dataclass(frozen=True)
class ParameterDefinition:
    """What azd reads of a compiled template parameter (``ArmTemplateParameterDefinition``)."""

    arm_type: str
    default: Any = None  # None: no defaultValue
    nullable: bool = False
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        kind = _PARAMETER_TYPES.get(self.arm_type)
        if kind is None:
            raise AzdError(f"unexpected arm type: '{self.arm_type}'")
        return kind


# ---- Go's encoding/json, as far as azd's round trip shows it ----------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def go_unmarshal(text: str) -> Any:
    """``json.Unmarshal`` into ``any``: strict JSON (no NaN / Infinity), numbers as float64."""

    def number(literal: str) -> float:
        value = float(literal)
        if math.isinf(value):
            raise ValueError(f"cannot unmarshal number {literal} into Go value of type float64")
        return value

    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_int=number, parse_float=number
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} (line {exc.lineno} column {exc.colno})") from None


def _go_float(value: float) -> str:
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:
        text = repr(value)
        if "e" in text:
            text = f"{value:.20f}".rstrip("0")
        return text[:-2] if text.endswith(".0") else text.rstrip(".")
    return repr(value)


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_string(text: str) -> str:
    out = []
    for char in text:
        escaped = _GO_ESCAPES.get(char)
        if escaped is None and ord(char) < 0x20:
            escaped = f"\\u{ord(char):04x}"
        out.append(escaped if escaped is not None else char)
    return '"' + "".join(out) + '"'


def go_marshal(value: Any) -> str:
    """``json.Marshal``: map keys sorted, HTML characters escaped, numbers as float64."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, list):
        return "[" + ",".join(go_marshal(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_go_string(k)}:{go_marshal(v)}" for k, v in items) + "}"
    raise TypeError(f"cannot marshal {type(value).__name__}")


def _field(entry: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """Go's struct field match: the exact key, else any key equal under case folding."""
    if name in entry:
        return True, entry[name]
    found = [k for k in entry if k.casefold() == name.casefold()]
    return (True, entry[found[-1]]) if found else (False, None)


@dataclass(frozen=True)
class ArmParameter:
    """``azure.ArmParameter``: a value or a Key Vault reference."""

    value: Any = None
    reference: Mapping[str, Any] | None = None

    @classmethod
    def decode(cls, name: str, entry: Any) -> ArmParameter:
        if entry is None:
            return cls()
        if not isinstance(entry, dict):
            raise ValueError(
                f"json: cannot unmarshal {_json_kind(entry)} into Go struct field "
                f"ArmParameterFile.parameters of type azure.ArmParameter ({name})"
            )
        _, value = _field(entry, "value")
        _, reference = _field(entry, "reference")
        if reference is not None and not isinstance(reference, dict):
            raise ValueError(f"json: cannot unmarshal {_json_kind(reference)} into reference")
        return cls(value=value, reference=reference)

    def marshal(self) -> str:
        reference = "null"
        if self.reference is not None:
            vault = self.reference.get("keyVault") or {}
            reference = (
                f'{{"keyVault":{{"id":{_go_string(str(vault.get("id", "")))}}},'
                f'"secretName":{_go_string(str(self.reference.get("secretName", "")))},'
                f'"secretVersion":{_go_string(str(self.reference.get("secretVersion", "")))}}}'
            )
        return f'{{"value":{go_marshal(self.value)},"reference":{reference}}}'


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# ---- loadParameters ----------------------------------------------------------------------------


@dataclass
class LoadedParameters:
    """``loadParametersResult``: the resolved values and each parameter's variables."""

    parameters: dict[str, ArmParameter]
    env_mapping: dict[str, list[str]]


@dataclass
class _Substitution:
    """``evalParamEnvSubst``'s mapping function and what it saw."""

    environment: Mapping[str, str]
    principal: tuple[str, str]
    azd: Version
    mapped: list[str] = field(default_factory=list)
    has_unset: bool = False

    def __call__(self, name: str) -> str:
        if name == PRINCIPAL_ID_VARIABLE:
            return self.principal[0]
        if name == PRINCIPAL_TYPE_VARIABLE and self.azd >= PRINCIPAL_TYPE:
            return self.principal[1]
        self.mapped.append(name)
        if name not in self.environment:
            self.has_unset = True
        return self.environment.get(name, "")


def load_parameters(
    text: str,
    template: Mapping[str, ParameterDefinition],
    environment: Mapping[str, str],
    *,
    azd: Version,
    principal: tuple[str, str] = SIGNED_IN_PRINCIPAL,
) -> LoadedParameters:
    """azd's ``loadParameters`` at release ``azd`` (1.15.0 or later); raises :class:`AzdError`."""
    if azd < JSON_FIRST:
        raise ValueError("azd before 1.15.0 substituted the whole file first; not modelled")
    try:
        document = go_unmarshal(text)
    except ValueError as exc:
        raise AzdError(f"error unmarshalling Bicep template parameters: {exc}") from None
    if not isinstance(document, dict):
        raise AzdError(
            f"error unmarshalling Bicep template parameters: json: cannot unmarshal "
            f"{_json_kind(document)} into Go value of type azure.ArmParameterFile"
        )
    for key in ("$schema", "contentVersion"):
        found, value = _field(document, key)
        if found and value is not None and not isinstance(value, str):
            raise AzdError(
                f"error unmarshalling Bicep template parameters: json: cannot unmarshal "
                f"{_json_kind(value)} into Go struct field ArmParameterFile.{key} of type string"
            )
    _, entries = _field(document, "parameters")
    if entries is not None and not isinstance(entries, dict):
        raise AzdError(
            "error unmarshalling Bicep template parameters: json: cannot unmarshal "
            f"{_json_kind(entries)} into Go struct field ArmParameterFile.parameters"
        )
    decoded: dict[str, ArmParameter] = {}
    for name, entry in (entries or {}).items():
        try:
            decoded[name] = ArmParameter.decode(name, entry)
        except ValueError as exc:
            raise AzdError(f"error unmarshalling Bicep template parameters: {exc}") from None

    resolved: dict[str, ArmParameter] = {}
    env_mapping: dict[str, list[str]] = {}
    for name, parameter in decoded.items():
        definition = template.get(name)
        kind = definition.kind if definition is not None else None
        # Path A (1.23.4): an object or array parameter given as a string holding JSON.
        if (
            azd >= OBJECT_FROM_STRING
            and kind in ("object", "array")
            and parameter.reference is None
            and isinstance(parameter.value, str)
        ):
            substitution = _Substitution(environment, principal, azd)
            try:
                replaced = envsubst.eval_text(parameter.value, substitution)
            except envsubst.EnvsubstError as exc:
                raise AzdError(str(exc)) from None
            env_mapping[name] = substitution.mapped
            if replaced == "" and substitution.has_unset:
                continue
            try:
                value = go_unmarshal(replaced)
            except ValueError as exc:
                assert definition is not None
                raise AzdError(
                    f"substituting parameter '{name}' ({definition.arm_type}): {exc}: "
                    f"value '{replaced}' is not valid JSON"
                ) from None
            resolved[name] = ArmParameter(value=value)
            continue
        # Path B: the marshalled parameter, substituted as text, parsed again.
        substitution = _Substitution(environment, principal, azd)
        try:
            replaced = envsubst.eval_text(parameter.marshal(), substitution)
        except envsubst.EnvsubstError as exc:
            raise AzdError(f"substituting environment variables for {name}: {exc}") from None
        env_mapping[name] = substitution.mapped
        try:
            again = ArmParameter.decode(name, go_unmarshal(replaced))
        except ValueError as exc:
            raise AzdError(f"error unmarshalling Bicep template parameters: {exc}") from None
        if again.value is None and again.reference is None:
            continue
        if again.value is not None and again.reference is not None:
            raise AzdError(f"parameter {name} has both a value and a keyvault reference")
        if again.value == "" and substitution.has_unset:
            continue
        resolved[name] = again
    return LoadedParameters(parameters=resolved, env_mapping=env_mapping)


# ---- ensureParameters ---------------------------------------------------------------------------


def arm_parameter_file_value(kind: str, value: Any, default: Any) -> Any:
    """``armParameterFileValue``: the value deployed, or None for "no value"."""
    if value is None or not isinstance(value, str):
        return value
    if kind == "bool":
        return _GO_BOOLS.get(value)
    if kind == "int":
        if re.fullmatch(r"[+-]?[0-9]+", value) and _INT64[0] <= int(value) <= _INT64[1]:
            return int(value)
        return None
    if kind == "string":
        if value != "":
            return value
        if isinstance(default, str) and value != default:
            return value
        return None
    return value


@dataclass
class EnsuredParameters:
    """What azd sends to ARM, and the parameters it would have to prompt for."""

    values: dict[str, Any]
    prompts: list[str]


def ensure_parameters(
    template: Mapping[str, ParameterDefinition], loaded: LoadedParameters
) -> EnsuredParameters:
    """``ensureParameters`` without a terminal: a parameter azd would prompt for is listed."""
    values: dict[str, Any] = {}
    prompts: list[str] = []
    for name in sorted(template):
        definition = template[name]
        parameter = loaded.parameters.get(name)
        if parameter is not None:
            if parameter.reference is not None:
                values[name] = parameter.reference
                continue
            value = arm_parameter_file_value(definition.kind, parameter.value, definition.default)
            if value is not None:
                values[name] = value
                continue
        if definition.default is not None or definition.nullable:
            continue
        prompts.append(name)
    return EnsuredParameters(values=values, prompts=prompts)


# ---- ARM's own checks of the values it receives -------------------------------------------------


def _arm_type_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and value == int(value)
        )
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "bool": bool,
        "object": dict,
        "array": list,
    }
    return isinstance(value, expected[kind])


def arm_problems(name: str, definition: ParameterDefinition, value: Any) -> list[str]:
    """Why ARM would refuse ``value`` for this parameter (type, allowed values, limits)."""
    kind = definition.kind
    if not _arm_type_ok(kind, value):
        return [f"{name}: ARM refuses {_json_kind(value)} {value!r} for a {kind} parameter"]
    problems: list[str] = []
    limits = definition.constraints
    allowed = limits.get("allowed")
    if isinstance(allowed, list) and value not in allowed:
        problems.append(f"{name}: {value!r} is not one of the allowed values {allowed}")
    if kind == "int":
        if "minValue" in limits and value < limits["minValue"]:
            problems.append(f"{name}: {value} is below @minValue({limits['minValue']})")
        if "maxValue" in limits and value > limits["maxValue"]:
            problems.append(f"{name}: {value} is above @maxValue({limits['maxValue']})")
    if kind in ("string", "array"):
        if "minLength" in limits and len(value) < limits["minLength"]:
            problems.append(f"{name}: length {len(value)} is below @minLength")
        if "maxLength" in limits and len(value) > limits["maxLength"]:
            problems.append(f"{name}: length {len(value)} is above @maxLength")
    return problems


# ---- the template's parameters, from main.bicep ------------------------------------------------

_DECORATOR_LIMITS = ("allowed", "minValue", "maxValue", "minLength", "maxLength")


def template_parameters(root: Path) -> dict[str, ParameterDefinition]:
    """main.bicep's parameters as the compiled ARM template declares them."""
    template = Template.load(root / MAIN_BICEP)
    definitions: dict[str, ParameterDefinition] = {}
    for name, declaration in template.parameters.items():
        decorators = {d.get("type"): d.get("argument") for d in declaration.get("decorators") or []}
        arm_type = str(declaration.get("type"))
        if "secure" in decorators:
            arm_type = {"string": "securestring", "object": "secureObject"}.get(arm_type, arm_type)
        default = None
        if declaration.get("default") is not None:
            default = template.parameter_value(name)
            if isinstance(default, Symbol):
                default = f"[{default.expression}]"  # an ARM expression: a string
        limits = {k: decorators[k] for k in _DECORATOR_LIMITS if k in decorators}
        definitions[name] = ParameterDefinition(
            arm_type=arm_type,
            default=default,
            nullable=bool(declaration.get("nullable")),
            constraints=limits,
        )
    return definitions


# ---- the check ---------------------------------------------------------------------------------


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


def _text(version: Version) -> str:
    return ".".join(map(str, version))


def behaviours(minimum: Version) -> list[Version]:
    """One release per distinct loading behaviour azure.yaml allows: the minimum, then each
    later release that changed it."""
    return [minimum, *(change for change in BEHAVIOUR_CHANGES if change > minimum)]


def _expected(kind: str, example: str) -> Any:
    if kind in ("object", "array"):
        return json.loads(example)
    if kind == "int":
        return int(example)
    if kind == "bool":
        return _GO_BOOLS[example]
    return example


def _normalise(value: Any) -> Any:
    """Go decodes every JSON number as float64; compare 2048.0 and 2048 as equal."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, dict):
        return {key: _normalise(item) for key, item in value.items()}
    return value


def _same(left: Any, right: Any) -> bool:
    return _normalise(left) == _normalise(right) and type(_normalise(left)) is type(
        _normalise(right)
    )


def scenario_problems(
    text: str,
    template: Mapping[str, ParameterDefinition],
    environment: Mapping[str, str],
    *,
    azd: Version,
    label: str,
    documented: Mapping[str, str] | None = None,
) -> list[str]:
    """Problems azd or ARM would have with main.parameters.json in this environment."""
    where = f"azd {_text(azd)}, {label}"
    try:
        loaded = load_parameters(text, template, environment, azd=azd)
    except AzdError as exc:
        return [f"main.parameters.json ({where}): {exc}"]
    problems: list[str] = []
    for name in sorted(set(loaded.env_mapping) - set(template)):
        problems.append(f"main.parameters.json passes {name}, which main.bicep does not declare")
    ensured = ensure_parameters(template, loaded)
    for name in ensured.prompts:
        problems.append(f"{name} ({where}): no value and no default: azd would prompt")
    for name, value in sorted(ensured.values.items()):
        problems.extend(f"{p} ({where})" for p in arm_problems(name, template[name], value))
    for name, variables in sorted(loaded.env_mapping.items()):
        if name not in template or documented is None:
            continue
        for variable in variables:
            if variable not in documented:
                continue
            example = documented[variable]
            arrived = ensured.values.get(name)
            try:
                expected = _expected(template[name].kind, example)
            except (KeyError, ValueError):
                problems.append(f"{name}: the documented {variable} value {example!r} is invalid")
                continue
            if not _same(arrived, expected):
                problems.append(
                    f"{name} ({where}): the documented {variable} value {example!r} arrives "
                    f"as {arrived!r}"
                )
    return problems


def azd_problems(root: Path) -> list[str]:
    """main.parameters.json through azd's loading, for every behaviour and environment."""
    minimum = required_azd(root)
    if minimum is None:
        return ["azure.yaml: requiredVersions.azd must be a minimum, '>= X.Y.Z'"]
    if minimum < JSON_FIRST:
        return [f"azure.yaml: azd {_text(minimum)} is older than the 1.15.0 this check models"]
    text = (root / MAIN_PARAMETERS).read_text()
    try:
        go_unmarshal(text)
    except ValueError as exc:
        # The first thing every azd since 1.15.0 does, whatever the environment holds.
        return [f"{MAIN_PARAMETERS}: error unmarshalling Bicep template parameters: {exc}"]
    template = template_parameters(root)
    documented = documented_values(root)
    problems: list[str] = []
    if not documented:
        problems.append(f"{DEPLOYMENT_DOC}: no `azd env set NAME value` examples found")
    environments: list[tuple[str, dict[str, str], Mapping[str, str] | None]] = [
        ("no optional values set", dict(BASE_ENVIRONMENT), None),
        ("the documented values", {**BASE_ENVIRONMENT, **documented}, documented),
    ]
    workflow_environments, workflow_problems = deploy_environments(root, documented)
    problems += workflow_problems
    environments += [(label, env, None) for label, env in workflow_environments]
    for azd in behaviours(minimum):
        for label, environment, expected in environments:
            problems += scenario_problems(
                text, template, environment, azd=azd, label=label, documented=expected
            )
        read = set()
        try:
            loaded = load_parameters(text, template, {**BASE_ENVIRONMENT, **documented}, azd=azd)
            read = {v for variables in loaded.env_mapping.values() for v in variables}
        except AzdError:
            pass
        for name in sorted(set(documented) - read) if read else []:
            problems.append(f"{DEPLOYMENT_DOC}: azd env set {name} is read by no parameter")
    return list(dict.fromkeys(problems))
