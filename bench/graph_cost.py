"""Client CPU per Graph call: our lean adapter against the SDK's typed path and plain httpx.

Runs a zero-latency Graph emulator in a child process (its CPU is not counted) and measures
``time.process_time()`` in this process around each batch of calls:

- per write: ``GraphDirectory.invite`` / ``client.invitations.post(Invitation(...))`` /
  a raw ``httpx`` POST with a bearer token (JSON body read in every case);
- per listed guest: ``GraphDirectory.pending_guests`` / the SDK's typed ``PageIterator``.

Targets (issue 8): our write CPU at most 1.5x raw httpx; our listing at most 0.05 ms per guest.

    .venv/bin/python -m bench.graph_cost --out bench-results/graph_cost.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from graph_emulator.process import RunningEmulator, start_emulator
from guest_onboarding.adapters.graph import GRAPH_SCOPE, GraphClient, GraphDirectory
from guest_onboarding.adapters.graph.pacer import GraphPacer, bucket_rules
from guest_onboarding.domain.invitation import Invitation as InvitationContent

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "samples" / "tenant.json"
REDIRECT = "https://myapps.microsoft.com"
WRITE_TARGET_RATIO = 1.5
LIST_TARGET_MS_PER_GUEST = 0.05


def typed_client(credential: Any, base_url: str) -> tuple[Any, httpx.AsyncClient]:
    """The SDK as its README builds it (default middleware), pointed at ``base_url``."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter, options
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    host = httpx.URL(base_url).host
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host]
    )
    http_client = GraphClientFactory.create_with_default_middleware(options=options)
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter), http_client


async def cpu_per_write(
    paths: dict[str, Callable[[int], Awaitable[object]]], *, count: int, warmup: int, rounds: int
) -> dict[str, float]:
    """Median over ``rounds`` of this process's CPU milliseconds per call, for each path.

    The paths take turns round by round, so drift (caches, the emulator's growing tenant, CPU
    frequency) hits them alike; ``warmup`` unmeasured calls each come first.
    """
    for call in paths.values():
        for i in range(warmup):
            await call(-1 - i)
    per_round = max(1, count // rounds)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(rounds):
        for name, call in paths.items():
            start = time.process_time()
            for i in range(r * per_round, (r + 1) * per_round):
                await call(i)
            samples[name].append((time.process_time() - start) * 1000 / per_round)
    result = {name: statistics.median(values) for name, values in samples.items()}
    for name, value in result.items():
        print(f"  {name:<34} {value:8.3f} ms CPU per call", file=sys.stderr)
    return result


def seed_pending(emulator: RunningEmulator, count: int) -> None:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["generatedPendingGuests"] = {"count": count, "createdDaysAgo": 5}
    emulator.control.reset(seed)
    emulator.control.set_limits(throttling=False)


async def measure(emulator: RunningEmulator, args: argparse.Namespace) -> dict[str, Any]:
    from azure.identity.aio import DefaultAzureCredential
    from msgraph.generated.models.invitation import Invitation
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core.tasks.page_iterator import PageIterator

    emulator.control.reset()
    emulator.control.set_limits(throttling=False)
    credential = DefaultAzureCredential()
    # As the app sends every call: through the pacer (per process, at rates never reached here).
    rules = bucket_rules(writes_per_second=1e6, reads_per_second=1e6, invitations_per_minute=6e7)
    ours = GraphDirectory(
        GraphClient.create(
            base_url=emulator.base_url,
            credential=credential,
            pacer=GraphPacer(rules, store=None),
        )
    )
    client, typed_http = typed_client(credential, emulator.base_url)
    token = (await credential.get_token(GRAPH_SCOPE)).token
    raw = httpx.AsyncClient(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {token}"}
    )

    def address(kind: str, i: int) -> str:
        return f"bench-{kind}-{i + 1000}@fabrikam.example"

    async def invite_ours(i: int) -> object:
        content = InvitationContent(redirect_url=REDIRECT, send_message=False)
        return (await ours.invite(address("ours", i), content)).user_id

    async def invite_typed(i: int) -> object:
        body = Invitation(
            invited_user_email_address=address("typed", i),
            invite_redirect_url=REDIRECT,
            send_invitation_message=False,
        )
        result = await client.invitations.post(body)
        return result.invited_user.id

    async def invite_raw(i: int) -> object:
        response = await raw.post(
            "/invitations",
            json={
                "invitedUserEmailAddress": address("raw", i),
                "inviteRedirectUrl": REDIRECT,
                "sendInvitationMessage": False,
            },
        )
        response.raise_for_status()
        return response.json()["invitedUser"]["id"]

    print(f"writes ({args.writes} each):", file=sys.stderr)
    write = await cpu_per_write(
        {
            "graph_directory_invite": invite_ours,
            "sdk_typed_invitations_post": invite_typed,
            "raw_httpx_post": invite_raw,
        },
        count=args.writes,
        warmup=args.warmup,
        rounds=args.rounds,
    )

    async def list_ours() -> int:
        return sum([1 async for _ in ours.pending_guests()])

    async def list_typed() -> int:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="externalUserState eq 'PendingAcceptance'",
            select=[
                "id",
                "mail",
                "externalUserState",
                "externalUserStateChangeDateTime",
                "createdDateTime",
            ],
            top=999,
        )
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        first = await client.users.get(RequestConfiguration(query_parameters=query))
        seen = 0

        def count(_user: object) -> bool:
            nonlocal seen
            seen += 1
            return True

        await PageIterator(first, client.request_adapter).iterate(count)
        return seen

    async def cpu_per_guest(label: str, lister: Callable[[], Awaitable[int]], n: int) -> float:
        seed_pending(emulator, n)
        await lister()  # warm-up pass (imports, connections)
        start = time.process_time()
        listed = await lister()
        cpu_ms = (time.process_time() - start) * 1000 / max(listed, 1)
        if listed != n:
            raise RuntimeError(f"{label}: listed {listed} guests, seeded {n}")
        print(f"  {label:<34} {cpu_ms:8.4f} ms CPU per guest ({n})", file=sys.stderr)
        return cpu_ms

    print("listing:", file=sys.stderr)
    listing = {
        "graph_directory_pending_guests": await cpu_per_guest(
            "GraphDirectory.pending_guests", list_ours, args.guests
        ),
        "sdk_typed_page_iterator": await cpu_per_guest(
            "SDK typed PageIterator", list_typed, args.typed_guests
        ),
    }

    await raw.aclose()
    await typed_http.aclose()
    await ours.aclose()  # closes the shared credential too

    write_ratio = write["graph_directory_invite"] / write["raw_httpx_post"]
    return {
        "unit": "milliseconds of client CPU (time.process_time)",
        "writes_per_path": args.writes,
        "write_rounds": args.rounds,
        "guests_listed": {"ours": args.guests, "typed": args.typed_guests},
        "write_ms_per_call": write,
        "list_ms_per_guest": listing,
        "write_ratio_vs_raw_httpx": write_ratio,
        "targets": {
            "write_ratio_max": WRITE_TARGET_RATIO,
            "list_ms_per_guest_max": LIST_TARGET_MS_PER_GUEST,
            "write_ok": write_ratio <= WRITE_TARGET_RATIO,
            "list_ok": listing["graph_directory_pending_guests"] <= LIST_TARGET_MS_PER_GUEST,
        },
    }


def print_table(result: dict[str, Any]) -> None:
    write, listing, targets = (
        result["write_ms_per_call"],
        result["list_ms_per_guest"],
        result["targets"],
    )
    raw = write["raw_httpx_post"]
    print("| path | client CPU | vs raw httpx |")
    print("| --- | ---: | ---: |")
    for name, value in write.items():
        print(f"| write: {name} | {value:.3f} ms/call | {value / raw:.2f}x |")
    for name, value in listing.items():
        print(f"| list: {name} | {value:.4f} ms/guest | |")
    print(
        f"\nwrite ratio {result['write_ratio_vs_raw_httpx']:.2f}x "
        f"(target <= {WRITE_TARGET_RATIO}x: {'ok' if targets['write_ok'] else 'MISSED'}); "
        f"listing {listing['graph_directory_pending_guests']:.4f} ms/guest "
        f"(target <= {LIST_TARGET_MS_PER_GUEST}: {'ok' if targets['list_ok'] else 'MISSED'})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--writes", type=int, default=200, help="measured writes per path")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured writes per path")
    parser.add_argument("--rounds", type=int, default=5, help="write rounds (median reported)")
    parser.add_argument("--guests", type=int, default=5000, help="pending guests, our path")
    parser.add_argument(
        "--typed-guests", type=int, default=1000, help="pending guests, typed SDK path (slow)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        emulator = start_emulator(seed_path=SEED, log_path=Path(tmp) / "graph-emulator.log")
        saved = {k: os.environ.get(k) for k in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
        try:
            os.environ.update(emulator.identity_environment())
            result = asyncio.run(measure(emulator, args))
        finally:
            emulator.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    print_table(result)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
