"""Find the functions of a v2-model app: import ``function_app`` and read ``get_functions()``."""

from __future__ import annotations

import importlib
import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from azure.functions.decorators.function_app import FunctionRegister
from azure.functions.decorators.queue import QueueTrigger
from azure.functions.decorators.timer import TimerTrigger

from local_functions_host.settings import resolve_binding_expression

QueueArgumentKind = Literal["message", "str", "bytes"]


class IndexingError(RuntimeError):
    """The app cannot be imported or declares no FunctionApp."""


@dataclass(frozen=True)
class QueueTriggerBinding:
    """A queue trigger with its binding expressions resolved."""

    queue_name: str
    connection: str
    argument_kind: QueueArgumentKind


@dataclass(frozen=True)
class TimerTriggerBinding:
    """A timer trigger with its schedule resolved."""

    schedule: str
    run_on_startup: bool
    use_monitor: bool | None


@dataclass(frozen=True)
class IndexedFunction:
    """One function the local host can run."""

    name: str
    user_function: Callable[..., Any]
    trigger_argument: str
    trigger: QueueTriggerBinding | TimerTriggerBinding

    @property
    def is_async(self) -> bool:
        """True for ``async def`` functions, which run on the host's event loop."""
        return inspect.iscoroutinefunction(self.user_function)


@dataclass(frozen=True)
class SkippedFunction:
    """A function the local host does not run, and why."""

    name: str
    reason: str


def import_function_app(app_dir: Path) -> FunctionRegister:
    """Import ``function_app`` from ``app_dir`` (put first on sys.path) and return its app.

    A fresh import each call, so one process can index several apps one after another.
    Raises IndexingError when the module is missing, fails to import, or holds no FunctionApp.
    """
    app_file = app_dir / "function_app.py"
    if not app_file.exists():
        raise IndexingError(f"{app_file} is missing")
    directory = str(app_dir)
    if directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)
    sys.modules.pop("function_app", None)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module("function_app")
    except Exception as error:
        raise IndexingError(f"importing {app_file} failed: {error!r}") from error
    return _find_app(module, app_file)


def _find_app(module: ModuleType, app_file: Path) -> FunctionRegister:
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    if len(apps) != 1:
        raise IndexingError(f"{app_file} must define exactly one FunctionApp, found {len(apps)}")
    return apps[0]


def _queue_argument_kind(user_function: Callable[..., Any], argument: str) -> QueueArgumentKind:
    # The Python worker hands str/bytes-annotated parameters the body; anything else a QueueMessage.
    try:
        annotation = typing.get_type_hints(user_function).get(argument)
    except Exception:
        annotation = inspect.signature(user_function).parameters[argument].annotation
    if annotation in (str, "str"):
        return "str"
    if annotation in (bytes, "bytes"):
        return "bytes"
    return "message"


def index_functions(
    app: FunctionRegister, settings: Mapping[str, str]
) -> tuple[list[IndexedFunction], list[SkippedFunction]]:
    """Return the queue- and timer-triggered functions of ``app``, and those skipped with why.

    Raises SettingsError when a ``%SETTING%`` in a trigger does not resolve.
    """
    indexed: list[IndexedFunction] = []
    skipped: list[SkippedFunction] = []
    for function in app.get_functions():
        name = function.get_function_name() or function.get_user_function().__name__
        trigger = function.get_trigger()
        others = [b for b in function.get_bindings() if b is not trigger]
        user_function = function.get_user_function()
        if others:
            kinds = ", ".join(sorted(b.get_binding_name() for b in others))
            skipped.append(SkippedFunction(name, f"bindings not supported locally: {kinds}"))
            continue
        if isinstance(trigger, QueueTrigger):
            binding: QueueTriggerBinding | TimerTriggerBinding = QueueTriggerBinding(
                queue_name=resolve_binding_expression(trigger.queue_name, settings).lower(),
                connection=trigger.connection or "AzureWebJobsStorage",
                argument_kind=_queue_argument_kind(user_function, trigger.name),
            )
        elif isinstance(trigger, TimerTrigger):
            binding = TimerTriggerBinding(
                schedule=resolve_binding_expression(trigger.schedule, settings),
                run_on_startup=bool(trigger.run_on_startup),
                use_monitor=trigger.use_monitor,
            )
        else:
            kind = trigger.get_binding_name() if trigger is not None else "no trigger"
            skipped.append(SkippedFunction(name, f"trigger not supported locally: {kind}"))
            continue
        indexed.append(IndexedFunction(name, user_function, trigger.name, binding))
    return indexed, skipped
