"""`POST /invitations`: invite a guest, or re-invite (re-send to) an existing address."""

from __future__ import annotations

from typing import Any

from graph_emulator.calls import GraphRequest, GraphResponse, reference_id, route
from graph_emulator.errors import bad_request
from graph_emulator.inviting import InvitationRequest, invite_guest
from graph_emulator.query import METADATA
from graph_emulator.routes.permissions import INVITE
from graph_emulator.tenant import MAX_SPONSORS, Tenant, too_many_sponsors


def _cc_address(entry: Any) -> str:
    address = entry.get("emailAddress", {}).get("address") if isinstance(entry, dict) else None
    if not isinstance(address, str):
        raise bad_request("ccRecipients entries need emailAddress.address.")
    return address


def _sponsor_id(entry: Any) -> str:
    # A sponsor is named by `@odata.id` (a Graph URL) or by `id` (what the SDK's model sends).
    if isinstance(entry, dict) and "@odata.id" in entry:
        return reference_id(entry["@odata.id"])
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
        return str(entry["id"])
    raise bad_request("invitedUserSponsors entries need '@odata.id' or 'id'.")


def parse_invitation(body: dict[str, Any]) -> InvitationRequest:
    """The invitation a request body asks for, or 400 as Graph answers."""
    address = body.get("invitedUserEmailAddress")
    redirect = body.get("inviteRedirectUrl")
    if not isinstance(address, str) or not address.strip():
        raise bad_request("The invitedUserEmailAddress property is required.")
    if not isinstance(redirect, str) or not redirect.strip():
        raise bad_request("The inviteRedirectUrl property is required.")
    info = body.get("invitedUserMessageInfo") or {}
    if not isinstance(info, dict):
        raise bad_request("invitedUserMessageInfo must be an object.")
    cc_entries = info.get("ccRecipients") or []
    if len(cc_entries) > 1:
        raise bad_request("Only one recipient is supported in ccRecipients.")
    sponsors = body.get("invitedUserSponsors") or []
    if not isinstance(sponsors, list):
        raise bad_request("invitedUserSponsors must be an array.")
    if len(sponsors) > MAX_SPONSORS:
        raise too_many_sponsors()
    return InvitationRequest(
        address=address,
        display_name=body.get("invitedUserDisplayName"),
        redirect_url=redirect,
        send_message=bool(body.get("sendInvitationMessage", False)),
        message_body=info.get("customizedMessageBody"),
        language=info.get("messageLanguage"),
        cc=[_cc_address(entry) for entry in cc_entries],
        reset_redemption=bool(body.get("resetRedemption", False)),
        sponsors=[_sponsor_id(entry) for entry in sponsors],
    )


def invite(tenant: Tenant, request: GraphRequest, params: dict[str, str]) -> GraphResponse:
    """POST /invitations: create or re-invite a guest, record the email when one is sent."""
    body = request.json_object()
    asked = parse_invitation(body)
    invitation, user, redeem_url = invite_guest(
        tenant,
        asked,
        redeem_base_url=request.origin,
        replication_lag_ms=request.replication_lag_ms,
        lookup_lag_seconds=request.lookup_lag_seconds,
    )
    status = "PendingAcceptance" if user.external_user_state == "PendingAcceptance" else "Completed"
    response = {
        "@odata.context": f"{METADATA}#invitations/$entity",
        "id": invitation.id,
        "inviteRedeemUrl": redeem_url,
        "invitedUserDisplayName": asked.display_name,
        "invitedUserType": body.get("invitedUserType", "Guest"),
        "invitedUserEmailAddress": asked.address,
        "sendInvitationMessage": asked.send_message,
        "resetRedemption": asked.reset_redemption,
        "inviteRedirectUrl": asked.redirect_url,
        "status": status,
        "invitedUserMessageInfo": {
            "messageLanguage": asked.language,
            "customizedMessageBody": asked.message_body,
            "ccRecipients": [{"emailAddress": {"name": None, "address": a}} for a in asked.cc],
        },
        "invitedUser": {"id": user.id},
    }
    return GraphResponse(201, response)


ROUTES = (route("POST", "/invitations", INVITE, invite),)
