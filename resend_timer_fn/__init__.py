"""resend_timer_fn: the reminder sweep, on the RESEND_SCHEDULE (six-field NCRONTAB)."""

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("resend_timer_fn")
@bp.timer_trigger(arg_name="timer", schedule="%RESEND_SCHEDULE%", run_on_startup=False)
async def resend_timer_fn(timer: func.TimerRequest) -> None:
    # Imported here, not at module level, so indexing the app stays cheap (cold start).
    from guest_onboarding.entrypoints import run_reminder_sweep

    await run_reminder_sweep(past_due=timer.past_due)
