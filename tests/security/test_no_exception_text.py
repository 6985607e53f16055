"""No free exception text in logs (issue 24, item 6): an exception's message can quote an
address or a body (a Graph 5xx's did, on the ``retry`` line), so log lines, and what a function
raises for the host to log, carry codes, exception types and Graph request ids only. Oracle:
every log record captured, formatted whole (traceback included), and the exception the host
would log, searched for the text the exception carried."""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from guest_onboarding.adapters.graph.budget_record import SharedRecord
from guest_onboarding.entrypoints import run_reminder_sweep
from guest_onboarding.errors import ServiceUnavailable
from tests.security.conftest import Tenant, make_tenant

ADA = "ada@fabrikam.example"
#: What Graph's (or anyone's) error text quoted: it must reach no log line.
QUOTED = "victim.person@fabrikam.example"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def host_would_log(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def graph_5xx() -> ServiceUnavailable:
    return ServiceUnavailable(
        f"upstream failed for {QUOTED}", code="ServiceUnavailable", status=503, request_id="r-42"
    )


async def test_a_graph_5xx_quoting_an_address_reaches_no_retry_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = make_tenant()
    tenant.directory.fail_next["invite"] = [graph_5xx()]
    with pytest.raises(ServiceUnavailable) as raised:  # the queue delivers it again
        await tenant.invite({"email": ADA}, "m")
    logged = everything_logged(caplog)
    assert QUOTED not in logged and "upstream failed" not in logged
    assert QUOTED not in host_would_log(raised.value)
    retry = [r.getMessage() for r in caplog.records if '"outcome": "retry"' in r.getMessage()]
    assert retry and '"error": "ServiceUnavailable"' in retry[0]  # the code, and
    assert '"request_id": "r-42"' in retry[0]  # Graph's request id to find the rest


async def test_an_unexpected_exception_is_logged_by_its_type_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = make_tenant()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError(f"no row for {QUOTED}")

    monkeypatch.setattr(tenant.directory, "find_users", broken)
    with pytest.raises(KeyError) as raised:
        await tenant.invite({"email": ADA}, "m")
    assert QUOTED not in everything_logged(caplog)
    assert QUOTED not in host_would_log(raised.value)
    assert '"exception": "KeyError"' in everything_logged(caplog)


async def test_a_sweep_step_failure_is_logged_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant: Tenant = make_tenant()
    assert await tenant.invite({"email": ADA}, "m") == "invited"
    user = next(u for u in tenant.directory.users.values() if u.mail == ADA)
    tenant.directory.users[user.id] = dataclasses.replace(user, external_user_state="Accepted")
    caplog.set_level(logging.DEBUG)
    tenant.directory.fail_next["get_user"] = [graph_5xx()]  # looking up who left the list
    await run_reminder_sweep(rt=tenant.rt)
    logged = everything_logged(caplog)
    assert "a***@fabrikam.example failed" in logged  # the failure is logged, masked
    assert QUOTED not in logged and "upstream failed" not in logged
    assert "r-42" in logged


class TalkativeStore:
    """A shared Graph budget whose Storage error quotes what it was given."""

    async def update(self, bucket: str, change: Callable[[Mapping[str, float] | None], Any]) -> Any:
        raise ConnectionError(f"refused while writing {QUOTED}")

    def forget(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_the_shared_budget_outage_line_carries_no_exception_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    record = SharedRecord(TalkativeStore(), lambda: 0.0, 0.05)

    def booked(current: Mapping[str, float] | None) -> tuple[dict[str, float], None]:
        return {"next_slot": 1.0}, None

    await record.update("writes", booked)
    logged = everything_logged(caplog)
    assert "unavailable" in logged and "ConnectionError" in logged
    assert QUOTED not in logged
