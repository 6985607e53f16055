"""What the application code reads from its environment, found statically (no import).

Two sources, so that a new read cannot hide:

* ``SETTING_DEFAULTS`` in ``guest_onboarding/config.py`` (the declared settings and defaults);
* an AST scan of every module under ``guest_onboarding/`` for environment reads:
  ``os.environ[...]``, ``os.environ.get(...)``, ``os.getenv(...)``, the same on a name bound to
  the environment (``env``, ``environ``), and calls to a helper whose parameter it uses as such a
  key (``def get(name): return env.get(name)`` makes ``get("X")`` a read of ``X``).

Keys are resolved through string constants, module-level and function-local string assignments,
``+`` and f-strings. A key that cannot be resolved is reported, never ignored.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "guest_onboarding"
CONFIG_MODULE = Path(PACKAGE) / "config.py"
ENV_NAMES = frozenset({"env", "environ", "environment"})


@dataclass(frozen=True)
class EnvRead:
    key: str | None  # None: the key could not be resolved statically
    file: str
    line: int
    source: str


def setting_defaults(root: Path) -> dict[str, str]:
    """``SETTING_DEFAULTS`` from config.py, which must stay a literal dict of strings."""
    path = root / CONFIG_MODULE
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = _module_constants(tree)
    for node in tree.body:
        target, value = _assignment(node)
        if target == "SETTING_DEFAULTS" and isinstance(value, ast.Dict):
            result: dict[str, str] = {}
            for key, item in zip(value.keys, value.values, strict=True):
                k = _resolve(key, constants) if key is not None else None
                v = _resolve(item, constants)
                if k is None or v is None:
                    raise ValueError(f"{path}: SETTING_DEFAULTS must map string constants")
                result[k] = v
            return result
    raise ValueError(f"{path}: no literal SETTING_DEFAULTS dict found")


def storage_setting(root: Path) -> str:
    """``STORAGE_SETTING`` from config.py (the Functions connection name, AzureWebJobsStorage)."""
    path = root / CONFIG_MODULE
    constants = _module_constants(ast.parse(path.read_text(), filename=str(path)))
    if "STORAGE_SETTING" not in constants:
        raise ValueError(f"{path}: no STORAGE_SETTING string constant found")
    return constants["STORAGE_SETTING"]


def environment_reads(root: Path) -> list[EnvRead]:
    """Every environment read in the package, with its resolved key (or None)."""
    reads: list[EnvRead] = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        reads.extend(_reads_in_module(tree, str(path.relative_to(root))))
    return reads


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name):
            return target.id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    return None, None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        name, value = _assignment(node)
        if name is not None and value is not None:
            resolved = _resolve(value, constants)
            if resolved is not None:
                constants[name] = resolved
    return constants


def _resolve(node: ast.expr | None, names: dict[str, str]) -> str | None:
    """The string an expression always evaluates to, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _resolve(node.left, names), _resolve(node.right, names)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion != -1:
                    return None
                part = _resolve(value.value, names)
            else:
                part = _resolve(value, names)
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)
    return None


def _is_environment(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENV_NAMES
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _direct_key(node: ast.AST) -> ast.expr | None:
    """The key expression if ``node`` reads the environment directly."""
    if isinstance(node, ast.Subscript) and _is_environment(node.value):
        return node.slice
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in {"get", "pop", "setdefault"} and _is_environment(func.value):
                return node.args[0]
            if func.attr == "getenv":
                return node.args[0]
        if isinstance(func, ast.Name) and func.id == "getenv":
            return node.args[0]
    return None


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _local_strings(function: ast.AST, constants: dict[str, str]) -> dict[str, str]:
    names = dict(constants)
    for node in ast.walk(function):
        if isinstance(node, ast.stmt):
            name, value = _assignment(node)
            if name is not None and value is not None:
                resolved = _resolve(value, names)
                if resolved is not None:
                    names[name] = resolved
    return names


def _reads_in_module(tree: ast.Module, file: str) -> list[EnvRead]:
    constants = _module_constants(tree)
    # Helpers that read the environment with one of their own parameters as the key.
    wrappers: dict[str, int] = {}
    for function in _functions(tree):
        params = [a.arg for a in function.args.args]
        for node in ast.walk(function):
            key = _direct_key(node)
            if isinstance(key, ast.Name) and key.id in params:
                wrappers[function.name] = params.index(key.id)

    # Innermost function first, so a read is resolved with its own function's local names.
    scopes: dict[int, dict[str, str]] = {}
    params_of: dict[int, set[str]] = {}
    for function in _functions(tree):
        local = _local_strings(function, constants)
        for node in ast.walk(function):
            scopes[id(node)] = local
            params_of[id(node)] = {a.arg for a in function.args.args}

    reads: list[EnvRead] = []
    for node in ast.walk(tree):
        key = _direct_key(node)
        if key is None and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            index = wrappers.get(node.func.id)
            if index is not None and len(node.args) > index:
                key = node.args[index]
        if key is None:
            continue
        if isinstance(key, ast.Name) and key.id in params_of.get(id(node), set()):
            continue  # a wrapper's own parameter: its callers are the reads
        names = scopes.get(id(node), constants)
        lineno = getattr(node, "lineno", 0)
        reads.append(EnvRead(_resolve(key, names), file, lineno, ast.unparse(node)))
    return reads
