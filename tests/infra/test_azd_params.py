"""The emulation of azd's parameter loading follows drone/envsubst and armParameterFileValue."""

from __future__ import annotations

import json

import pytest

from infra.checks.azd_params import SubstitutionError, arm_value, substitute

from .conftest import REPO_ROOT


def test_substitution_pastes_values_unescaped_and_leaves_dollar_names_alone() -> None:
    text = '{"$schema": "x", "a": {"value": "${A}"}, "b": {"value": ${B=null}}}'
    out = substitute(text, {"A": 'say "hi"', "B": ""})
    assert out == '{"$schema": "x", "a": {"value": "say "hi""}, "b": {"value": null}}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


@pytest.mark.parametrize("op", ["=", ":=", ":-"])
def test_every_default_operator_applies_to_unset_and_empty_values(op: str) -> None:
    assert substitute(f"${{X{op}d}}", {}) == "d"
    assert substitute(f"${{X{op}d}}", {"X": ""}) == "d"
    assert substitute(f"${{X{op}d}}", {"X": "v"}) == "v"


def test_unsupported_envsubst_forms_are_refused() -> None:
    with pytest.raises(SubstitutionError):
        substitute("${X^^}", {"X": "v"})


@pytest.mark.parametrize(
    ("bicep_type", "value", "default", "expected"),
    [
        ("bool", "true", False, True),
        ("bool", "F", True, False),
        ("bool", "yes", False, None),  # not a Go bool: the parameter counts as unset
        ("int", "2048", 2048, 2048),
        ("int", "2k", 2048, None),
        ("string", "", "", None),  # empty equal to the default: unset
        ("string", "", "x", ""),  # empty, different default: kept
        ("object", "{}", {}, "{}"),  # strings pass unchanged: ARM would refuse them
        ("object", None, {}, None),
    ],
)
def test_arm_value_follows_azd(
    bicep_type: str, value: object, default: object, expected: object
) -> None:
    assert arm_value(bicep_type, value, default) == expected


def test_access_profiles_reaches_bicep_as_an_object() -> None:
    text = (REPO_ROOT / "infra" / "main.parameters.json").read_text()
    profiles = '{"p": {"groups": ["g"], "appRoles": []}}'
    document = json.loads(substitute(text, {"ACCESS_PROFILES": profiles}))
    assert document["parameters"]["accessProfiles"]["value"] == json.loads(profiles)
    unset = json.loads(substitute(text, {}))
    assert unset["parameters"]["accessProfiles"]["value"] is None  # Bicep's default {} applies
