"""invite_fn: one HR message (or one reminder resend) from the invitations queue."""

import azure.functions as func

bp = func.Blueprint()


@bp.function_name("invite_fn")
@bp.queue_trigger(
    arg_name="msg", queue_name="%INVITATIONS_QUEUE%", connection="AzureWebJobsStorage"
)
async def invite_fn(msg: func.QueueMessage) -> None:
    # Imported here, not at module level, so indexing the app stays cheap (cold start).
    from guest_onboarding.entrypoints import handle_invitation_message

    await handle_invitation_message(
        body=msg.get_body(),
        message_id=msg.id or "",
        dequeue_count=msg.dequeue_count or 1,
        inserted_at=msg.insertion_time,
    )
