"""`POST /invitations` on the directory: the address rules, the tenant's invitation policy,
a new guest (or the existing user), its sponsors, and the email."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from graph_emulator.errors import bad_request
from graph_emulator.model import Invitation, Mail, User
from graph_emulator.tenant import Tenant

# Graph refuses invitation addresses containing any of these characters.
FORBIDDEN_ADDRESS_CHARACTERS = frozenset('~!#$%^&*()+=[]{}\\/|;:"<>?,')


@dataclass
class InvitationRequest:
    """What ``POST /invitations`` asks for, once its body is validated."""

    address: str
    display_name: str | None
    redirect_url: str
    send_message: bool
    message_body: str | None
    language: str | None
    cc: list[str]
    reset_redemption: bool
    sponsors: list[str] = field(default_factory=list)


def validate_address(address: str) -> None:
    """Refuse what Graph refuses: malformed addresses and forbidden characters."""
    local, _, domain = address.rpartition("@")
    if not local or not domain or "." not in domain or any(ch.isspace() for ch in address):
        raise bad_request(f"The specified email address '{address}' is not valid.")
    bad = sorted(set(address) & FORBIDDEN_ADDRESS_CHARACTERS)
    if bad:
        raise bad_request(
            f"The specified email address '{address}' contains characters that are not "
            f"allowed: {' '.join(bad)}"
        )


def invite_guest(
    tenant: Tenant,
    request: InvitationRequest,
    *,
    redeem_base_url: str,
    replication_lag_ms: int,
    lookup_lag_seconds: float,
) -> tuple[Invitation, User, str]:
    """Invite (or re-invite) an address; returns the invitation, the user and the redeem URL.

    The tenant's invitation policy is checked first. An existing user with the address is
    reused, so the same `invitedUser.id` comes back and no second user is made (Microsoft
    Entra B2B docs: "B2B collaboration API and customization", "Determine if a user was already
    invited"; "Resend invitations to guest users": the same user gets the email again, as
    here when asked for); a new guest is created pending
    acceptance, with its sponsors, invisible to look-ups for ``lookup_lag_seconds``. An
    email is recorded only when asked for.
    """
    validate_address(request.address)
    tenant.policy.check(request.address)
    for sponsor in request.sponsors:
        tenant.check_sponsor(sponsor)
    now = tenant.clock.now()
    existing = tenant.find_by_address(request.address)
    if existing:
        user = existing[0]
        if request.reset_redemption and user.user_type == "Guest":
            user.external_user_state = "PendingAcceptance"
            user.state_changed_at = now
    else:
        user = User(
            id=str(uuid.uuid4()),
            seq=len(tenant.user_order),
            display_name=request.display_name or request.address.split("@")[0],
            mail=request.address,
            user_principal_name=tenant.guest_upn(request.address),
            user_type="Guest",
            creation_type="Invitation",
            external_user_state="PendingAcceptance",
            state_changed_at=now,
            created_at=now,
        )
        user.sponsors = list(dict.fromkeys(request.sponsors))
        user.visible_at = now + lookup_lag_seconds
        tenant.add_user(user)
        if replication_lag_ms > 0:
            tenant.replicating_until[user.id] = time.monotonic() + replication_lag_ms / 1000
    invitation = Invitation(
        id=str(uuid.uuid4()), user_id=user.id, redirect_url=request.redirect_url
    )
    tenant.invitations[invitation.id] = invitation
    redeem_url = f"{redeem_base_url}/redeem/{invitation.id}"
    if request.send_message:
        tenant.mailbox.append(
            Mail(
                id=str(uuid.uuid4()),
                to=request.address,
                cc=request.cc,
                redeem_url=redeem_url,
                redirect_url=request.redirect_url,
                message_body=request.message_body,
                # Graph ignores the language when a customised body is given.
                language=None if request.message_body else request.language,
                time=now,
                user_id=user.id,
                invitation_id=invitation.id,
                display_name=request.display_name,
            )
        )
    return invitation, user, redeem_url
