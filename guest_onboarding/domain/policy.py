"""The allow-lists every message is checked against, by whoever acts on it, and who an HR
message may onboard at all.

Built once from settings (:mod:`guest_onboarding.config`); :mod:`guest_onboarding.messages`
checks HR messages with it, and the assignment handler re-checks every step it reads.

Guests only (:func:`onboardable`): a guest pipeline must not change employees' access. A member
of the tenant (the CFO, anyone whose ``userType`` is not ``Guest``) found under a message's
address is refused (``MemberNotGuest``) and gets nothing, no group, app role or sponsor, unless
``ALLOW_MEMBERS`` says this deployment onboards members too. An address the directory finds on
more than one user (mail, UPN, ``otherMails``, ``proxyAddresses``) names nobody in particular:
refused (``AmbiguousAddress``), never "the first hit".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from guest_onboarding.domain.addresses import domain_matches, domain_of
from guest_onboarding.domain.invitation import AppRoleRef, Invitation
from guest_onboarding.domain.redirects import RedirectAllowList, RedirectError, parse_url
from guest_onboarding.errors import InvalidMessage


@dataclass(frozen=True, kw_only=True)
class AccessProfile:
    """A named bundle of groups and app roles (``ACCESS_PROFILES``)."""

    groups: tuple[str, ...] = ()
    app_roles: tuple[AppRoleRef, ...] = ()
    #: Default sponsors (object ids or UPNs) for guests onboarded with this profile.
    sponsors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What a message may ask for. Domains are canonical (``addresses.canonical_domain``);
    group ids and role keys are compared in lower case."""

    default_redirect_url: str
    allowed_redirects: RedirectAllowList
    allowed_email_domains: frozenset[str] = frozenset()
    blocked_email_domains: frozenset[str] = frozenset()
    #: Domains a ``ccRecipient`` may be in; empty refuses every cc.
    allowed_cc_domains: frozenset[str] = frozenset()
    access_profiles: Mapping[str, AccessProfile] = field(default_factory=dict)
    allowed_group_ids: frozenset[str] = frozenset()
    allowed_app_roles: frozenset[str] = frozenset()
    #: The profile attributes this deployment writes (``GUEST_PROFILE_FIELDS``, Graph's names;
    #: ``domain.profile.ProfileField``): an HR message naming another is refused.
    profile_fields: frozenset[str] = frozenset()
    #: Allow-listed groups that cannot take members (dynamic groups, found at the first
    #: delivery of a process: ``handlers.groups``), each with the reason a refusal gives.
    unassignable_groups: Mapping[str, str] = field(default_factory=dict)
    #: Derived once: every group and app role key a message may ask for.
    group_allow_list: frozenset[str] = field(init=False)
    app_role_allow_list: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        profiles = self.access_profiles.values()
        groups = {g.lower() for p in profiles for g in p.groups}
        roles = {r.key() for p in profiles for r in p.app_roles}
        object.__setattr__(
            self,
            "group_allow_list",
            frozenset(groups | {g.lower() for g in self.allowed_group_ids}),
        )
        object.__setattr__(
            self,
            "app_role_allow_list",
            frozenset(roles | {r.lower() for r in self.allowed_app_roles}),
        )

    def check_guest_domain(self, email: str) -> None:
        """``DomainBlocked`` / ``DomainNotAllowed`` for a (canonical) address the domain lists
        refuse."""
        domain = domain_of(email)
        if domain_matches(domain, self.blocked_email_domains):
            raise InvalidMessage("DomainBlocked", f"the domain {domain} is blocked")
        if self.allowed_email_domains and not domain_matches(domain, self.allowed_email_domains):
            raise InvalidMessage("DomainNotAllowed", f"the domain {domain} is not allowed")

    def check_cc(self, email: str) -> None:
        """A cc recipient (canonical) must be in ``allowed_cc_domains`` and never blocked: the
        redeem link goes to them, on every reminder too."""
        domain = domain_of(email)
        if domain_matches(domain, self.blocked_email_domains):
            raise InvalidMessage("DomainBlocked", f"the cc recipient's domain {domain} is blocked")
        if not domain_matches(domain, self.allowed_cc_domains):
            raise InvalidMessage(
                "CcNotAllowed",
                f"the cc recipient's domain {domain} is not in ALLOWED_CC_DOMAINS"
                if self.allowed_cc_domains
                else "ccRecipient is refused: ALLOWED_CC_DOMAINS is empty",
            )

    def profiles(self, names: Iterable[str]) -> list[AccessProfile]:
        """The named profiles (``UnknownAccessProfile`` for a name that is not defined)."""
        found = []
        for name in names:
            profile = self.access_profiles.get(name)
            if profile is None:
                raise InvalidMessage(
                    "UnknownAccessProfile", f"access profile '{name}' is not defined"
                )
            found.append(profile)
        return found

    def check_group(self, group_id: str) -> None:
        """``GroupNotAllowed`` off the allow-lists, ``DynamicGroupNotAssignable`` for one known to
        take no members."""
        if group_id.lower() not in self.group_allow_list:
            raise InvalidMessage("GroupNotAllowed", f"group {group_id} is not on the allow-list")
        reason = self.unassignable_groups.get(group_id.lower())
        if reason is not None:
            raise InvalidMessage("DynamicGroupNotAssignable", reason)

    def check_groups(self, group_ids: Iterable[str]) -> None:
        """:meth:`check_group` for each, in order."""
        for group_id in group_ids:
            self.check_group(group_id)

    def settings_naming(self, group_id: str) -> list[str]:
        """The settings that put ``group_id`` on the allow-list (``ACCESS_PROFILES['name']``,
        ``ALLOWED_GROUP_IDS``), for messages an operator acts on."""
        group = group_id.lower()
        named = [
            f"ACCESS_PROFILES[{name!r}]"
            for name, profile in self.access_profiles.items()
            if group in (g.lower() for g in profile.groups)
        ]
        if group in self.allowed_group_ids:
            named.append("ALLOWED_GROUP_IDS")
        return named

    def check_app_role(self, role: AppRoleRef) -> None:
        if role.key() not in self.app_role_allow_list:
            raise InvalidMessage(
                "AppRoleNotAllowed",
                f"app role {role.app_role_id} on {role.resource_id} is not on the allow-list",
            )

    def as_allowed_now(self, invitation: Invitation, email: str) -> Invitation:
        """A stored invitation (a reminder re-sends it) as today's allow-lists allow it: a guest
        whose domain is blocked now gets nothing (``InvalidMessage``), a cc no longer allowed is
        dropped, a redirect no longer allowed gives way to the default one."""
        self.check_guest_domain(email)
        cc = invitation.cc_recipient
        if cc is not None and not self.allows_cc(cc):
            cc = None
        try:
            redirect = self.check_redirect(invitation.redirect_url)
        except InvalidMessage:
            redirect = self.default_redirect_url
        return dataclasses.replace(invitation, cc_recipient=cc, redirect_url=redirect)

    def allows_cc(self, email: str) -> bool:
        """``check_cc`` as a yes or no."""
        try:
            self.check_cc(email)
        except InvalidMessage:
            return False
        return True

    def check_redirect(self, url: str) -> str:
        """``url`` rebuilt from its parsed parts if an allowed prefix covers it, else
        ``RedirectNotAllowed`` with the reason."""
        try:
            parsed = parse_url(url)
        except RedirectError as exc:
            raise InvalidMessage("RedirectNotAllowed", f"redirectUrl: {exc}") from None
        if not self.allowed_redirects.allows(parsed):
            raise InvalidMessage("RedirectNotAllowed", "redirectUrl is not under an allowed prefix")
        return parsed.text()


#: Graph's ``userType`` of an external user.
GUEST = "Guest"


class Account(Protocol):
    """What the rule reads of a directory user."""

    @property
    def user_type(self) -> str | None: ...


A = TypeVar("A", bound=Account)


def onboardable(matches: Sequence[A], *, allow_members: bool) -> A | None:
    """The one existing user a message may onboard among the directory's ``matches`` for its
    address, or None when nobody has it. ``AmbiguousAddress`` for several matches,
    ``MemberNotGuest`` for a user who is not a guest (unless ``allow_members``)."""
    if not matches:
        return None
    if len(matches) > 1:
        raise InvalidMessage(
            "AmbiguousAddress",
            "the address belongs to more than one user of the tenant (mail, user principal "
            "name, other mails or proxy addresses): which one is meant cannot be told",
        )
    (user,) = matches
    check_guest(user, allow_members=allow_members)
    return user


def check_guest(user: Account, *, allow_members: bool) -> None:
    """``MemberNotGuest`` unless ``user`` is a guest (or ``allow_members``)."""
    if user.user_type != GUEST and not allow_members:
        kind = user.user_type or "user without a user type"
        raise InvalidMessage(
            "MemberNotGuest",
            f"the address belongs to a {kind} of the tenant, not a guest: this pipeline "
            "onboards guests only (ALLOW_MEMBERS)",
        )
