"""``python -m bench.walk``: the files one HR message walks through, from ``invite_fn`` to the
Graph call and the ledger write, counted by tracing a real delivery (issue 22: at most 15 files,
none entered again from further down its own call chain).

One new guest's HR message is handed to ``invite_fn``'s trigger function, in this process, on
the real adapters (msgraph-sdk to the Graph emulator, Azure Tables and Queues on Azurite), with
a profiler (``sys.setprofile``) watching every Python function call from the trigger until the
ledger records the invitation (the ``Invited`` write, right after ``POST /invitations``). A call
counts when its code lives in this repository (the SDKs, the standard library and generated code
such as a dataclass's ``__init__`` do not). For each such call the chain of repository files on
the call stack is taken, outermost first, consecutive frames in the same file merged; coroutines
resumed by the event loop keep their awaiting callers in that chain.

Two counts, both printed:

- **to the ports** (the measure of the issue): the walk ends where a port's adapter is entered
  (``adapters/graph/directory.py`` for the Graph call, ``adapters/storage/ledger.py`` for the
  write): that file counts, what it calls to do its job (pacing, codecs) does not;
- **everything**: every repository file a call entered, adapters' internals included.

A *re-entry* is a call into a file already open further down the same chain
(``a.py -> b.py -> a.py``), each (caller, callee) pair once. Imports are not calls: a first,
untraced delivery (a rejected body) imports what the traced one needs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
from guest_onboarding.domain.changes import Change, Invited
from guest_onboarding.ports import Ledger

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


ADAPTERS = "guest_onboarding/adapters/"


class Walk:
    """What the profiler saw: files entered (all of them, and those up to the ports), and
    re-entries (caller file, callee file)."""

    def __init__(self) -> None:
        self.files: dict[str, int] = {}
        self.to_the_ports: dict[str, int] = {}
        self.reentries: dict[tuple[str, str], tuple[str, ...]] = {}

    @staticmethod
    def _before_the_ports(chain: list[str]) -> bool:
        """A file of the app's own layers, or the adapter a port call enters (not what that
        adapter calls, nor a task it started: pacing, codecs, clients)."""
        *outer, name = chain
        if any(file.startswith(ADAPTERS) for file in outer):
            return False
        return not name.startswith(ADAPTERS) or bool(outer)

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
        if self._before_the_ports(chain):
            self.to_the_ports.setdefault(name, len(self.to_the_ports) + 1)
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


class _LedgerUntilInvited:
    """The ledger, which ends the trace once the invitation is recorded (the ledger write)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)

    async def update(self, email: str, change: Change, *, etag: str | None = None) -> bool:
        written = await self._ledger.update(email, change, etag=etag)
        if isinstance(change, Invited):
            sys.setprofile(None)
        return written


async def _deliver(settings: dict[str, str], walk: Walk) -> str:
    import azure.functions as func

    from guest_onboarding import bootstrap, entrypoints
    from guest_onboarding.config import Settings

    # The blueprint's one function, as the host calls it (imported by name: the function
    # folders are not type-checked packages).
    [function] = importlib.import_module("invite_fn").bp._function_builders
    invite = function._function.get_user_function()

    built = bootstrap.build_runtime(Settings.from_env(settings))
    rt = dataclasses.replace(built, ledger=_LedgerUntilInvited(built.ledger))
    entrypoints.set_runtime(rt)
    # Everything the delivery imports lazily is imported by a first, untraced delivery of a
    # message that is rejected before any I/O; the traced one then walks only calls.
    message = func.QueueMessage(body=b'{"email": "not an address"}', id="warm-up")
    await invite(message)
    message = func.QueueMessage(body=hr_body().encode(), id="walk-1")
    try:
        with profiled(walk):
            await invite(message)
    finally:
        entrypoints.set_runtime(None)
        await built.aclose()
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
        "to_the_ports": list(walk.to_the_ports),
        "to_the_ports_count": len(walk.to_the_ports),
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
    for n, name in enumerate(result["to_the_ports"], 1):
        print(f"{n:3d}  {name}")
    print(f"files to the ports: {result['to_the_ports_count']}")
    print(f"files, adapters' internals included: {result['file_count']}")
    for entry in result["reentries"]:
        print(f"re-entry: {entry['caller']} -> {entry['callee']}")
    print(f"re-entries: {result['reentry_count']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
