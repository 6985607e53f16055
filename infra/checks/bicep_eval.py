"""Read the Bicep templates with pycep-parser and evaluate the parts the contract depends on.

Enough of Bicep to answer "which app settings, queues, tables and Graph permissions does a
deployment with these parameters create?": literals, parameter/variable references, string
interpolation of references, ``string()``, ``concat()``, ``union()``, ``empty()``, ``!``, ``&&``,
``||``, ``==``, ``!=``, ``x[key]`` and the
conditional operator. Anything else (resource properties, module outputs, ``uniqueString()``)
evaluates to a :class:`Symbol` carrying the expression's text, so two settings fed from the same
output compare equal and an unknown value is never mistaken for a literal.

pycep-parser drops the quotes of string literals, so a bare string is a reference when it names a
parameter, variable or loop item in scope, and a literal otherwise (Bicep identifiers cannot
contain ``.``, ``-`` or spaces, so literals such as queue names are never ambiguous).

pycep-parser 0.7.1 gets three precedences wrong: ``!a ? b : c`` parses as ``!(a ? b : c)``,
``x => x.value == y`` as ``x => x.(value == y)`` and ``a == b ? c : d`` as
``a == (b ? c : d)``. The templates therefore write ``empty(a) ? c : b``,
``x => (x.value == y)`` and ``(a == b) ? c : d``, which mean the same in Bicep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Symbol:
    """A value known only at deployment time, named by its Bicep expression."""

    expression: str

    def __str__(self) -> str:
        return f"<{self.expression}>"


@cache
def _parser() -> BicepParser:
    return BicepParser()


def parse_bicep(path: Path) -> dict[str, Any]:
    """Parse one ``.bicep`` file into pycep's JSON form (raises on a syntax pycep rejects)."""
    result: dict[str, Any] = dict(_parser().parse(file_path=path))
    return result


def render(expr: Any) -> str:
    """A readable text form of a pycep expression (for symbols and messages)."""
    if isinstance(expr, dict) and set(expr) == {"operator"}:
        op = expr["operator"]
        if op["type"] == "property_accessor":
            operands = op["operands"]
            return f"{render(operands['operand_1'])}.{render(operands['operand_2'])}"
        if op["type"] == "index_accessor":
            operands = op["operands"]
            return f"{render(operands['operand_1'])}[{render(operands['operand_2'])}]"
    if isinstance(expr, dict) and set(expr) == {"function"}:
        fn = expr["function"]
        args = ", ".join(render(v) for v in (fn.get("parameters") or {}).values() if v is not None)
        return f"{fn['type']}({args})"
    if isinstance(expr, str):
        return expr
    return json.dumps(expr, default=str, sort_keys=True)


def bicep_string(value: Any) -> Any:
    """Bicep's ``string()``: booleans lower case, objects and arrays as compact JSON."""
    if isinstance(value, Symbol):
        return Symbol(f"string({value.expression})")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        if _contains_symbol(value):
            return Symbol(f"string({render(value)})")
        return json.dumps(value, separators=(",", ":"))
    return value


def _contains_symbol(value: Any) -> bool:
    if isinstance(value, Symbol):
        return True
    if isinstance(value, dict):
        return any(_contains_symbol(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_symbol(v) for v in value)
    return False


def _unquote_key(key: str) -> str:
    if len(key) >= 2 and key[0] == key[-1] == "'":
        return key[1:-1]
    return key


@dataclass
class Template:
    """One parsed Bicep file bound to parameter values; variables evaluate on demand."""

    path: Path
    parsed: dict[str, Any]
    arguments: Mapping[str, Any] = field(default_factory=dict)
    _variables: dict[str, Any] = field(default_factory=dict, init=False)

    @classmethod
    def load(cls, path: Path, arguments: Mapping[str, Any] | None = None) -> Template:
        return cls(path=path, parsed=parse_bicep(path), arguments=dict(arguments or {}))

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.parsed.get("parameters") or {})

    @property
    def variables(self) -> dict[str, Any]:
        return dict(self.parsed.get("variables") or {})

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.parsed.get("resources") or {})

    @property
    def modules(self) -> dict[str, Any]:
        return dict(self.parsed.get("modules") or {})

    def parameter_value(self, name: str) -> Any:
        """The argument given for ``name``, else its default, else a :class:`Symbol`."""
        if name in self.arguments:
            return self.arguments[name]
        default = self.parameters[name].get("default")
        if default is None:
            return Symbol(name)
        return self.evaluate(default)

    def variable_value(self, name: str) -> Any:
        if name not in self._variables:
            self._variables[name] = Symbol(name)  # guards against a reference cycle
            self._variables[name] = self.evaluate(self.variables[name]["value"])
        return self._variables[name]

    def is_reference(self, text: str, local: Mapping[str, Any]) -> bool:
        return text in local or text in self.parameters or text in self.variables

    def evaluate(self, expr: Any, local: Mapping[str, Any] | None = None) -> Any:
        """Evaluate a pycep expression; ``local`` binds loop items."""
        scope = local or {}
        if isinstance(expr, str):
            return self._evaluate_string(expr, scope)
        if expr is None or isinstance(expr, bool | int | float):
            return expr
        if isinstance(expr, list):
            return [self.evaluate(item, scope) for item in expr]
        if isinstance(expr, dict):
            if set(expr) == {"function"}:
                return self._evaluate_function(expr, scope)
            if set(expr) == {"operator"}:
                return self._evaluate_operator(expr, scope)
            return {_unquote_key(k): self.evaluate(v, scope) for k, v in expr.items()}
        return Symbol(render(expr))

    def _evaluate_string(self, text: str, local: Mapping[str, Any]) -> Any:
        if text in local:
            return local[text]
        if text in self.parameters:
            return self.parameter_value(text)
        if text in self.variables:
            return self.variable_value(text)
        if "${" not in text:
            return text
        pieces: list[str] = []
        position = 0
        for match in _INTERPOLATION.finditer(text):
            pieces.append(text[position : match.start()])
            inner = match.group(1).strip()
            value = self._evaluate_string(inner, local) if self.is_reference(inner, local) else None
            if value is None or isinstance(value, Symbol | dict | list):
                return Symbol(text)
            pieces.append(str(bicep_string(value)))
            position = match.end()
        pieces.append(text[position:])
        return "".join(pieces)

    def _evaluate_function(self, expr: dict[str, Any], local: Mapping[str, Any]) -> Any:
        fn = expr["function"]
        name = fn["type"]
        args = [self.evaluate(v, local) for v in (fn.get("parameters") or {}).values()]
        args = [a for a in args if a is not None]
        if any(isinstance(a, Symbol) for a in args):
            return Symbol(render(expr))
        if name == "string" and len(args) == 1:
            return bicep_string(args[0])
        if name == "concat":
            if all(isinstance(a, list) for a in args):
                return [item for a in args for item in a]
            return "".join(str(bicep_string(a)) for a in args)
        if name == "union" and all(isinstance(a, dict) for a in args):
            merged: dict[str, Any] = {}
            for a in args:
                merged.update(a)
            return merged
        if name == "empty" and len(args) == 1:
            return args[0] in ("", [], {}, None)
        return Symbol(render(expr))

    def _evaluate_operator(self, expr: dict[str, Any], local: Mapping[str, Any]) -> Any:
        op = expr["operator"]
        operands = op.get("operands") or {}
        if op["type"] == "conditional":
            condition = self.evaluate(operands["condition"], local)
            if isinstance(condition, bool):
                branch = "true_value" if condition else "false_value"
                return self.evaluate(operands[branch], local)
        elif op["type"] == "not":
            value = self.evaluate(operands["bool_value"], local)
            if isinstance(value, bool):
                return not value
        elif op["type"] in ("and", "or", "equals", "not_equals"):
            left = self.evaluate(operands["operand_1"], local)
            right = self.evaluate(operands["operand_2"], local)
            if not isinstance(left, Symbol) and not isinstance(right, Symbol):
                if op["type"] == "equals":
                    return left == right
                if op["type"] == "not_equals":
                    return left != right
                if isinstance(left, bool) and isinstance(right, bool):
                    return (left and right) if op["type"] == "and" else (left or right)
        elif op["type"] == "index_accessor":
            container = self.evaluate(operands["operand_1"], local)
            key = self.evaluate(operands["operand_2"], local)
            if isinstance(container, dict) and isinstance(key, str) and key in container:
                return container[key]
            if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
                return container[key]
        elif op["type"] == "property_accessor":
            # a.b.c arrives right-nested; only objects known here (variables, parameters) resolve.
            path = render(expr).split(".")
            if self.is_reference(path[0], local):
                value = self._evaluate_string(path[0], local)
                for key in path[1:]:
                    if not isinstance(value, dict) or key not in value:
                        return Symbol(render(expr))
                    value = value[key]
                return value
        return Symbol(render(expr))

    def module_body(self, module_name: str) -> dict[str, Any]:
        """A module declaration's body (unwrapping loops and conditions)."""
        config: dict[str, Any] = self.modules[module_name]["config"]
        while "loop_type" in config or ("condition" in config and "config" in config):
            config = config["config"]
        return config

    def module_arguments(self, module_name: str) -> dict[str, Any]:
        """The evaluated ``params`` this template passes to one of its modules."""
        params = self.module_body(module_name).get("params") or {}
        return {_unquote_key(k): self.evaluate(v) for k, v in params.items()}

    def module_instances(self, module_name: str) -> list[dict[str, Any]]:
        """The evaluated ``params`` of each deployment of a module: none when its condition is
        false, one per item of a loop; a condition or loop that cannot be evaluated raises."""
        outer = self.modules[module_name]["config"]
        params = self.module_body(module_name).get("params") or {}
        condition = outer.get("condition")
        if "loop_type" not in outer and condition is not None:
            value = self.evaluate(condition)
            if not isinstance(value, bool):
                raise ValueError(f"{module_name}: condition is not known statically: {value}")
            if not value:
                return []
        scopes: list[dict[str, Any]] = [{}]
        loop = outer.get("loop_type")
        if loop is not None:
            items = self.evaluate(loop["detail"]["array_name"])
            if not isinstance(items, list):
                raise ValueError(f"{module_name}: loop array is not known statically: {items}")
            scopes = [{loop["detail"]["item_name"]: item} for item in items]
        return [{_unquote_key(k): self.evaluate(v, s) for k, v in params.items()} for s in scopes]

    def module(self, module_name: str) -> Template:
        """The module's template, bound to the arguments this template passes it."""
        relative = self.modules[module_name]["detail"]["path"]
        return Template.load(self.path.parent / relative, self.module_arguments(module_name))

    def resource_body(self, name: str) -> dict[str, Any]:
        """A resource's declaration body (unwrapping loops and conditions)."""
        config: dict[str, Any] = self.resources[name]["config"]
        while "loop_type" in config or ("condition" in config and "config" in config):
            config = config["config"]
        return config

    def resource_names(self, name: str) -> list[Any]:
        """The evaluated ``name`` of each instance a resource declaration creates."""
        outer = self.resources[name]["config"]
        body = self.resource_body(name)
        loop = outer.get("loop_type")
        if loop is None:
            return [self.evaluate(body["name"])]
        detail = loop["detail"]
        items = self.evaluate(detail["array_name"])
        if not isinstance(items, list):
            return [Symbol(render(body["name"]))]
        return [self.evaluate(body["name"], {detail["item_name"]: item}) for item in items]
