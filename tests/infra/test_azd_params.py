"""azd's parameter loading, reimplemented in infra/checks/azd_params.py, on azd's own cases.

Sources (Azure/azure-dev at tag azure-dev-cli_1.23.4, commit 13c2368a2285):
``cli/azd/pkg/infra/provisioning/bicep/bicep_provider_test.go`` (``Test_armParameterFileValue``,
``TestBicepPlan``, ``TestBicepPlanKeyVaultRef``, ``TestBicepPlanParameterTypes`` with
``prepareBicepMocks``' template and ``test/functional/testdata/mock-samples/webapp/infra/
main.parameters.json``, ``TestObjectParameterEnvSubst``, ``TestHelperEvalParamEnvSubst``,
``TestArrayParameterViaEnvVarSimple``) and the functional test of #6694
(``Test_CLI_InfraCreateAndDelete``: ``MY_ARRAY`` / ``MY_OBJECT`` into the storage sample's
``"${MY_ARRAY}"`` / ``"${MY_OBJECT}"``). drone/envsubst's cases are ``eval_test.go`` and
``parse/parse_test.go`` at v1.0.3.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.checks import envsubst
from infra.checks.azd_params import (
    OBJECT_FROM_STRING,
    AzdError,
    ParameterDefinition,
    arm_parameter_file_value,
    ensure_parameters,
    go_marshal,
    load_parameters,
)

from .conftest import REPO_ROOT

AZD_1_17 = (1, 17, 0)
AZD_1_23_4 = OBJECT_FROM_STRING


# ---- Test_armParameterFileValue -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "kind", "value", "default", "expected"),
    [
        ("NilValue", "string", None, None, None),
        ("StringWithValue", "string", "value", None, "value"),
        ("EmptyString", "string", "", None, None),
        ("EmptyStringWithNonEmptyDefault", "string", "", "not-empty", ""),
        ("EmptyStringWithEmptyDefault", "string", "", "", None),
        ("ValidBool", "bool", True, None, True),
        ("ActualBool", "bool", "true", None, True),
        ("InvalidBool", "bool", "NotABool", None, None),
        ("ValidInt", "int", "42", None, 42),
        ("ActualInt", "int", 42, None, 42),
        ("InvalidInt", "int", "NotAnInt", None, None),
        ("Array", "array", ["a", "b", "c"], None, ["a", "b", "c"]),
    ],
)
def test_arm_parameter_file_value(
    case: str, kind: str, value: Any, default: Any, expected: Any
) -> None:
    assert arm_parameter_file_value(kind, value, default) == expected


# ---- TestBicepPlan, TestBicepPlanKeyVaultRef, TestBicepPlanParameterTypes ----------------------

#: test/functional/testdata/mock-samples/webapp/infra/main.parameters.json (azd 1.23.4).
MOCK_SAMPLE_PARAMETERS = """{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "environmentName": {"value": "${AZURE_ENV_NAME}"},
    "location": {"value": "${AZURE_LOCATION}"},
    "kvSecret": {
      "reference": {
        "keyVault": {
          "id": "/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP/providers/\
Microsoft.KeyVault/vaults/VAULT"
        },
        "secretName": "secretName"
      }
    },
    "regularString": {"value": "test"},
    "emptyString": {"value": null},
    "regularObject": {"value": {"test": "test"}},
    "emptyObject": {"value": {}},
    "regularArray": {"value": ["test"]},
    "emptyArray": {"value": []}
  }
}"""

#: prepareBicepMocks' template (its object/array names and types are crossed, as there).
MOCK_TEMPLATE = {
    "environmentName": ParameterDefinition("string"),
    "location": ParameterDefinition("string"),
    "kvSecret": ParameterDefinition("securestring"),
    "regularString": ParameterDefinition("string", default=""),
    "emptyString": ParameterDefinition("string", default=""),
    "regularObject": ParameterDefinition("array", default=[]),
    "emptyObject": ParameterDefinition("array", default=[]),
    "regularArray": ParameterDefinition("object", default={}),
    "emptyArray": ParameterDefinition("object", default={}),
}
MOCK_ENV = {"AZURE_LOCATION": "westus2", "AZURE_SUBSCRIPTION_ID": "SUBSCRIPTION_ID",
            "AZURE_ENV_NAME": "test-env"}  # fmt: skip


@pytest.mark.parametrize("azd", [AZD_1_17, AZD_1_23_4])
def test_bicep_plan_parameter_types(azd: tuple[int, ...]) -> None:
    loaded = load_parameters(MOCK_SAMPLE_PARAMETERS, MOCK_TEMPLATE, MOCK_ENV, azd=azd)
    ensured = ensure_parameters(MOCK_TEMPLATE, loaded)
    values = ensured.values
    assert values["location"] == "westus2" and values["environmentName"] == "test-env"
    assert values["kvSecret"]["secretName"] == "secretName"  # TestBicepPlanKeyVaultRef
    assert values["regularString"] == "test"
    assert "emptyString" not in values  # null: not configured, the default applies
    assert values["regularObject"] == {"test": "test"} and values["emptyObject"] == {}
    assert values["regularArray"] == ["test"] and values["emptyArray"] == []
    assert ensured.prompts == []


# ---- evalParamEnvSubst: TestObjectParameterEnvSubst, TestHelperEvalParamEnvSubst, ... ----------


def one_parameter(kind: str, value: str, default: Any = None) -> tuple[str, dict[str, Any]]:
    text = json.dumps({"parameters": {"p": {"value": value}}})
    return text, {"p": ParameterDefinition(kind, default=default)}


def test_object_parameter_env_subst() -> None:
    text, template = one_parameter("object", "${MY_OBJECT}")
    loaded = load_parameters(text, template, {"MY_OBJECT": '{"key":"value"}'}, azd=AZD_1_23_4)
    assert loaded.parameters["p"].value == {"key": "value"}
    assert loaded.env_mapping["p"] == ["MY_OBJECT"]


def test_helper_eval_param_env_subst() -> None:
    text, template = one_parameter("string", "${VAR1}-${VAR2}")
    environment = {"VAR1": "value1", "VAR2": "value2", "UNSET_VAR": ""}
    loaded = load_parameters(text, template, environment, azd=AZD_1_23_4)
    assert loaded.parameters["p"].value == "value1-value2"
    assert loaded.env_mapping["p"] == ["VAR1", "VAR2"]


def test_array_parameter_via_env_var_simple() -> None:
    text, template = one_parameter("array", '["val1","val2"]')
    loaded = load_parameters(text, template, {}, azd=AZD_1_23_4)
    assert loaded.parameters["p"].value == ["val1", "val2"] and loaded.env_mapping["p"] == []


def test_functional_sample_array_and_object_from_variables() -> None:
    text = json.dumps(
        {"parameters": {"arrayValue": {"value": "${MY_ARRAY}"},
                        "objectValue": {"value": "${MY_OBJECT}"}}}
    )  # fmt: skip
    template = {
        "arrayValue": ParameterDefinition("array", default=[]),
        "objectValue": ParameterDefinition("object", default={}),
    }
    environment = {"MY_ARRAY": '["item1","item2"]', "MY_OBJECT": '{"key":"value"}'}
    values = ensure_parameters(
        template, load_parameters(text, template, environment, azd=AZD_1_23_4)
    ).values
    assert values == {"arrayValue": ["item1", "item2"], "objectValue": {"key": "value"}}
    # Unset: left out ("Omit unset parameters"), so the template's default applies.
    unset = ensure_parameters(template, load_parameters(text, template, {}, azd=AZD_1_23_4))
    assert unset.values == {} and unset.prompts == []


def test_before_1_23_4_a_json_value_breaks_the_string_it_is_pasted_into() -> None:
    text, template = one_parameter("object", "${MY_OBJECT}")
    with pytest.raises(AzdError, match="error unmarshalling Bicep template parameters"):
        load_parameters(text, template, {"MY_OBJECT": '{"key":"value"}'}, azd=AZD_1_17)


def test_set_but_empty_object_variable_is_not_json() -> None:
    text, template = one_parameter("object", "${MY_OBJECT}", default={})
    with pytest.raises(AzdError, match=r"substituting parameter 'p' \(object\).*not valid JSON"):
        load_parameters(text, template, {"MY_OBJECT": ""}, azd=AZD_1_23_4)
    # Before 1.23.4 the empty string reached ARM as a string for an object parameter.
    loaded = load_parameters(text, template, {"MY_OBJECT": ""}, azd=AZD_1_17)
    assert ensure_parameters(template, loaded).values == {"p": ""}


def test_empty_string_is_left_out_only_when_a_variable_is_undefined() -> None:
    text, template = one_parameter("string", "${X=}", default="fallback")
    assert load_parameters(text, template, {}, azd=AZD_1_23_4).parameters == {}
    loaded = load_parameters(text, template, {"X": ""}, azd=AZD_1_23_4)
    assert ensure_parameters(template, loaded).values == {"p": ""}  # defined: "" is the value


def test_the_signed_in_principal_is_azds_not_the_environments() -> None:
    text, template = one_parameter("string", "${AZURE_PRINCIPAL_ID}")
    loaded = load_parameters(
        text, template, {"AZURE_PRINCIPAL_ID": "from-env"}, azd=AZD_1_23_4, principal=("me", "User")
    )
    assert loaded.parameters["p"].value == "me" and loaded.env_mapping["p"] == []


def test_a_file_that_is_not_json_fails_before_any_substitution() -> None:
    text = '{"parameters": {"p": {"value": ${P=null}}}}'
    with pytest.raises(AzdError, match="error unmarshalling Bicep template parameters"):
        load_parameters(text, {"p": ParameterDefinition("object")}, {}, azd=AZD_1_23_4)


def test_go_marshal_escapes_html_and_sorts_keys() -> None:
    assert go_marshal({"b": "<&>", "a": 2048}) == '{"a":2048,"b":"\\u003c\\u0026\\u003e"}'


# ---- drone/envsubst v1.0.3 (eval_test.go, parse/parse_test.go) ---------------------------------

ENVSUBST_CASES: list[tuple[dict[str, str], str, str]] = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11}",
     "ideas/thoughts.for.today"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11:5}", "ideas"),
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=${default_var}-suffix}", "foo: foo1-suffix"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}", "foo: prefixfoo1-suffix"),
    ({}, "${var:=xyz}", "xyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ//abc/xyz}", "xyzABC123ABCxyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/abc/xyz}", "xyzABC123ABCabc"),
    ({"var01": "abcdEFGH28ij"}, "${var=${var01^^}}", "ABCDEFGH28IJ"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    ({"var01": "abcdEFGH28ij"}, "some text ${var01}$${var$${var01}$var01${var01}",
     "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij"),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({"stringZ": "foo/bar"}, r"${stringZ/\//-}", "foo-bar"),
    ({"stringZ": "foo/bar/baz"}, r"${stringZ//\//-}", "foo-bar-baz"),
    ({"stringZ": "foo.bar"}, "${stringZ/./}", "foobar"),
    ({}, "}text", "}text"),
    ({}, "http://github.com", "http://github.com"),
    ({}, "$$string", "$string"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "text", "expected"), ENVSUBST_CASES)
def test_envsubst_eval(params: dict[str, str], text: str, expected: str) -> None:
    assert envsubst.eval_text(text, lambda name: params.get(name, "")) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${}", envsubst.PARSE_VARIABLE_NAME),
        ("${A", envsubst.MISSING_CLOSING_BRACE),
        ("${A-b}", envsubst.MISSING_CLOSING_BRACE),  # only ':-' is a default
        ("${A:1:2", envsubst.BAD_SUBSTITUTION),
    ],
)
def test_envsubst_parse_errors(text: str, message: str) -> None:
    with pytest.raises(envsubst.EnvsubstError, match=message):
        envsubst.eval_text(text, lambda name: "")


def test_a_default_ends_at_the_first_closing_brace() -> None:
    # So "${P={}}" yields "{}" when P is unset, and the value plus "}" when it is set.
    assert envsubst.eval_text("${P={}}", lambda name: "") == "{}"
    assert envsubst.eval_text("${P={}}", lambda name: '{"a":1}') == '{"a":1}}'


def test_the_trims_are_refused_rather_than_guessed() -> None:
    with pytest.raises(envsubst.UnsupportedFunction):
        envsubst.eval_text("${filename%.*}", lambda name: "bash.string.txt")


def test_this_repositorys_parameters_file_is_json() -> None:
    json.loads((REPO_ROOT / "infra" / "main.parameters.json").read_text())
