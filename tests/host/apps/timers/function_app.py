"""Test app: timer functions that record ``past_due``.

``tick`` runs on TICK_SCHEDULE; its first scheduled invocation takes 2.5 s when
TICK_SLOW_FIRST is set, so the next occurrence fires late. ``nightly`` runs on NIGHTLY_SCHEDULE
with the schedule monitor on.
"""

import os
import time

import azure.functions as func

from tests.host.apps.recording import record

app = func.FunctionApp()
_ticks = 0


@app.function_name("tick")
@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    global _ticks
    _ticks += 1
    # The worker passes azure.functions.timer.TimerRequest, which adds schedule_status.
    status = getattr(timer, "schedule_status", None)
    record("tick", past_due=timer.past_due, status=status, n=_ticks)
    if _ticks == 1 and os.environ.get("TICK_SLOW_FIRST") == "1":
        time.sleep(2.5)


@app.function_name("nightly")
@app.timer_trigger(
    arg_name="timer",
    schedule="%NIGHTLY_SCHEDULE%",
    run_on_startup=False,
    use_monitor=True,
)
async def nightly(timer: func.TimerRequest) -> None:
    record("nightly", past_due=timer.past_due)


@app.function_name("at_startup")
@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
async def at_startup(timer: func.TimerRequest) -> None:
    record("at_startup", past_due=timer.past_due)
