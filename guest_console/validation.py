"""Every row judged by the function app's own rules and settings before anything is sent.

A row is parsed exactly as ``invite_fn`` parses a queue message
(``messages.parse_invitation_queue_message`` with the configured policy), so what the console
accepts the app accepts, and a rejection carries the same code the app would poison it with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from guest_console.bulk import InputRow
from guest_onboarding.domain.policy import Policy
from guest_onboarding.errors import InvalidMessage
from guest_onboarding.internal_messages import HeldOffboarding, ReminderRequest
from guest_onboarding.messages import HrMessage, parse_invitation_queue_message
from guest_onboarding.wire import decode_body


@dataclass(frozen=True, kw_only=True)
class Accepted:
    path: str
    line: int
    email: str  # canonical
    body: str  # the HR message as plain UTF-8 JSON, what is sent


@dataclass(frozen=True, kw_only=True)
class Rejected:
    path: str
    line: int
    column: str  # "[inviteeEmail]" in a CSV, the field name in JSON lines, "" if none
    code: str
    message: str


#: Rejections whose message names no field: the field each rule is about.
_FIELD_OF_CODE = {
    "DomainBlocked": "email",
    "DomainNotAllowed": "email",
    "UnknownAccessProfile": "accessProfiles",
    "GroupNotAllowed": "groups",
    "AppRoleNotAllowed": "appRoles",
    "RedirectNotAllowed": "redirectUrl",
    "CcNotAllowed": "ccRecipient",
    "TooManyCcRecipients": "ccRecipient",
    "TooManySponsors": "sponsors",
}
_HR_FIELDS = frozenset(HrMessage.model_fields)
_QUOTED = re.compile(r"'([A-Za-z][A-Za-z0-9]*)")
_LEADING = re.compile(r"([A-Za-z][A-Za-z0-9]*) ")


def _field(exc: InvalidMessage) -> str | None:
    """The HR field a rejection is about: the field its message names ("unknown field
    'group'", "'groups.0': ...", "email has ..."), else the field of the rule."""
    for name in _QUOTED.findall(exc.message):
        if exc.code == "UnknownField" or name in _HR_FIELDS:
            return str(name)
    if "cc recipient" in exc.message:
        return "ccRecipient"
    leading = _LEADING.match(exc.message)
    if leading and leading.group(1) in _HR_FIELDS:
        return leading.group(1)
    return _FIELD_OF_CODE.get(exc.code)


def _column(row: InputRow, field: str | None) -> str:
    if field is None:
        return ""
    if field in row.columns:
        return str(row.columns[field])
    return f"[{field}]" if row.columns else field


def judge(row: InputRow, policy: Policy) -> Accepted | Rejected:
    """``row`` accepted (with its canonical address) or rejected (code, column, reason)."""
    if row.problem is not None:
        return Rejected(
            path=row.path,
            line=row.line,
            column=row.problem.column,
            code=row.problem.code,
            message=row.problem.message,
        )
    try:
        result = parse_invitation_queue_message(row.body, policy)
    except InvalidMessage as exc:
        return Rejected(
            path=row.path,
            line=row.line,
            column=_column(row, _field(exc)),
            code=exc.code,
            message=exc.message,
        )
    if isinstance(result, ReminderRequest):
        return Rejected(
            path=row.path,
            line=row.line,
            column=_column(row, "reminder"),
            code="UnknownField",
            message="unknown field 'reminder': reminders are queued by the sweep, not submitted",
        )
    if isinstance(result, HeldOffboarding):
        return Rejected(
            path=row.path,
            line=row.line,
            column=_column(row, "heldOffboarding"),
            code="UnknownField",
            message="unknown field 'heldOffboarding': held offboardings are settled by release",
        )
    return Accepted(path=row.path, line=row.line, email=result.email, body=decode_body(row.body))


def judge_all(rows: Iterable[InputRow], policy: Policy) -> tuple[list[Accepted], list[Rejected]]:
    """Every row judged; accepted and rejected in file order."""
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for row in rows:
        verdict = judge(row, policy)
        if isinstance(verdict, Accepted):
            accepted.append(verdict)
        else:
            rejected.append(verdict)
    return accepted, rejected
