"""assign_fn: one assignment step (a group membership, an app role or a sponsor link) from the
assignments queue."""

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("assign_fn")
@bp.queue_trigger(
    arg_name="msg", queue_name="%ASSIGNMENTS_QUEUE%", connection="AzureWebJobsStorage"
)
async def assign_fn(msg: func.QueueMessage) -> None:
    # Imported here, not at module level, so indexing the app stays cheap (cold start).
    from guest_onboarding.entrypoints import handle_assignment_message

    await handle_assignment_message(
        body=msg.get_body(),
        message_id=msg.id or "",
        dequeue_count=msg.dequeue_count or 1,
        inserted_at=msg.insertion_time,
    )
