"""``python -m bench.walk``: the files one HR message walks through, from ``invite_fn`` to the
Graph call and the ledger write, counted by tracing a real delivery.

One new guest's HR message is handed to ``invite_fn``'s trigger function, in this process, on
the real adapters (msgraph-sdk to the Graph emulator, Azure Tables and Queues on Azurite), with
a profiler (``sys.setprofile``) watching every Python function call. A call counts when its code
lives in this repository (the SDKs, the standard library and generated code such as a
dataclass's ``__init__`` do not). For each such call the chain of repository files on the call
stack is taken, outermost first, consecutive frames in the same file merged; coroutines resumed
by the event loop keep their awaiting callers in that chain, so a resumption is the same walk.

Reported: every file entered, and every *re-entry*: a call into a file that is already open
further down the same chain (``a.py -> b.py -> a.py``), each distinct (caller, callee) pair
once. Imports are not calls; they are done before the trace starts. The target (issue 22):
at most 15 files, no re-entry.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import environment
from devstack.stack import local_stack

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Folders of the repository that are not the app (the trace's own tooling).
NOT_THE_APP = ("bench", "devstack", "tests", ".venv", "node_modules")


def _repository_file(filename: str) -> str | None:
    """``filename`` relative to the repository, or None when it is not the app's code."""
    path = Path(filename)
    if not path.is_absolute():
        return None  # generated code ("<string>", "<frozen ...>")
    try:
        relative = path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return None
    if relative.parts and relative.parts[0] in NOT_THE_APP:
        return None
    return relative.as_posix()


class Walk:
    """What the profiler saw: files entered, and re-entries (caller file, callee file)."""

    def __init__(self) -> None:
        self.files: dict[str, int] = {}
        self.reentries: dict[tuple[str, str], tuple[str, ...]] = {}

    def chain(self, frame: FrameType | None) -> list[str]:
        files: list[str] = []
        while frame is not None:
            name = _repository_file(frame.f_code.co_filename)
            if name is not None and (not files or files[-1] != name):
                files.append(name)
            frame = frame.f_back
        files.reverse()
        return files

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        name = _repository_file(frame.f_code.co_filename)
        if name is None:
            return
        chain = self.chain(frame)
        self.files.setdefault(name, len(self.files) + 1)
        if len(chain) >= 2 and name in chain[:-2]:
            self.reentries.setdefault((chain[-2], name), tuple(chain))


@contextmanager
def profiled(walk: Walk) -> Iterator[None]:
    sys.setprofile(walk)
    try:
        yield
    finally:
        sys.setprofile(None)


def hr_body() -> str:
    """A new guest with two groups and an app role (the sample tenant's allow-lists)."""
    from devstack.seeds import GROUP_PARTNERS, GROUP_PROJECT_X, PORTAL_SP, READER_ROLE

    return json.dumps(
        {
            "email": "walk@fabrikam.example",
            "displayName": "Walk Through",
            "groups": [GROUP_PROJECT_X, GROUP_PARTNERS],
            "appRoles": [{"resourceId": PORTAL_SP, "appRoleId": READER_ROLE}],
        }
    )


async def _deliver(settings: dict[str, str], walk: Walk) -> str:
    import azure.functions as func

    from guest_onboarding import bootstrap
    from guest_onboarding.config import Settings

    # The blueprint's one function, as the host calls it (imported by name: the function
    # folders are not type-checked packages).
    [function] = importlib.import_module("invite_fn").bp._function_builders
    invite = function._function.get_user_function()

    rt = bootstrap.build_runtime(Settings.from_env(settings))
    bootstrap.set_runtime(rt)
    # Everything the delivery imports lazily is imported by a first, untraced delivery of a
    # message that is rejected before any I/O; the traced one then walks only calls.
    message = func.QueueMessage(body=b'{"email": "not an address"}', id="warm-up")
    await invite(message)
    message = func.QueueMessage(body=hr_body().encode(), id="walk-1")
    try:
        with profiled(walk):
            await invite(message)
    finally:
        bootstrap.set_runtime(None)
        await rt.aclose()
    return "delivered"


def measure() -> dict[str, Any]:
    walk = Walk()
    with (
        tempfile.TemporaryDirectory(prefix="bench-walk-") as tmp,
        local_stack(workdir=Path(tmp), start_host=False) as stack,
        environment(stack.emulator.identity_environment()),
    ):
        asyncio.run(_deliver(stack.settings, walk))
    return {
        "files": list(walk.files),
        "file_count": len(walk.files),
        "reentries": [
            {"caller": caller, "callee": callee, "chain": list(chain)}
            for (caller, callee), chain in walk.reentries.items()
        ],
        "reentry_count": len(walk.reentries),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.walk", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    result = measure()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for n, name in enumerate(result["files"], 1):
        print(f"{n:3d}  {name}")
    print(f"files: {result['file_count']}")
    for entry in result["reentries"]:
        print(f"re-entry: {entry['caller']} -> {entry['callee']}")
    print(f"re-entries: {result['reentry_count']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
