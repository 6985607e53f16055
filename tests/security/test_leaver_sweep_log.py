"""The leavers' part of the sweep logs a failing guest without the exception's text (review
A9): an error's message can quote an address (a Graph 5xx's did), so the line carries the masked
guest, the error's code and type only. Oracle: every log record captured, formatted whole
(traceback included)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from devstack.seeds import GROUP_PROJECT_X as GROUP_X
from guest_onboarding.entrypoints import run_reminder_sweep
from tests.security.conftest import make_tenant
from tests.security.test_no_exception_text import QUOTED, everything_logged
from tests.support import T0

ADA = "ada@fabrikam.example"


async def test_a_failing_leaver_is_logged_by_code_and_type_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant()
    ends = (T0.date() + timedelta(days=5)).isoformat()
    assert await tenant.invite({"email": ADA, "groups": [GROUP_X], "accessEndsOn": ends}) == (
        "invited"
    )
    await tenant.drain_assignments()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise KeyError(f"no brake for {QUOTED}")

    monkeypatch.setattr(tenant.ledger, "brake", broken)
    caplog.set_level(logging.DEBUG)
    tenant.clock.now = T0 + timedelta(days=6)
    await run_reminder_sweep(rt=tenant.rt)
    logged = everything_logged(caplog)
    assert "leaver a***@fabrikam.example failed" in logged  # logged, masked
    assert '"exception": "KeyError"' in logged
    assert QUOTED not in logged and "no brake for" not in logged
