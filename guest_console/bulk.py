"""Input files for ``submit``: JSON lines (one HR message a line, plain or base64), or the Entra
portal's bulk-invite CSV as it is downloaded, with this project's extra columns.

The portal's file: line 1 ``version:v1.0``; line 2 the header, whose columns are known by the
property name in brackets (``Email address to invite [inviteeEmail] Required``); then one row
per guest. Spreadsheets add a BOM, CRLF, quoted commas and line breaks, trailing commas and
empty rows; all of them are read here. A row becomes the HR message the app validates: columns
map to HR fields (lists separated by ``;``), and a bracketed column this file does not know is
passed on under its own name, so the app's rules refuse it as ``UnknownField`` rather than
dropping it silently (a typo such as ``[group]`` must not lose an assignment). A column named
by a profile attribute (``[companyName]``, ``[department]``, ``[jobTitle]``, ... Graph's names,
``domain.profile.ProfileField``) fills the message's ``profile``; an empty cell states nothing
(JSON lines clear an attribute with ``null``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from guest_console.errors import FileFormatError
from guest_onboarding.domain.profile import profile_field

PORTAL_VERSION = "version:v1.0"
#: Portal columns and the HR field each fills.
PORTAL_COLUMNS = {
    "inviteeEmail": "email",
    "inviteRedirectURL": "redirectUrl",
    "sendEmail": "sendInvitationMessage",
    "customizedMessageBody": "customizedMessageBody",
}
#: This project's extra columns that hold lists (``;``-separated).
LIST_COLUMNS = frozenset({"groups", "accessProfiles", "sponsors"})
#: ``resourceId:appRoleId`` pairs, ``;``-separated.
APP_ROLES_COLUMN = "appRoles"
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")
#: The first cell of the examples row the portal's template ships with (to be removed).
_EXAMPLE_ROW = "example:"


@dataclass(frozen=True, kw_only=True)
class RowProblem:
    """A row the CSV itself makes unusable (before the app's rules are asked)."""

    column: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class InputRow:
    """One HR message read from a file: where it starts and the text to validate and send."""

    path: str
    line: int
    body: str
    #: HR field name -> the column it came from (``[inviteeEmail]``); empty for JSON lines.
    columns: dict[str, str] = field(default_factory=dict)
    problem: RowProblem | None = None


def read_rows(path: Path) -> list[InputRow]:
    """Every HR message in ``path``: the portal's CSV when it starts with ``version:``, else
    JSON lines. ``FileFormatError`` names the line that is wrong."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(name, 0, f"cannot read the file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileFormatError(
            name, line, "not UTF-8 text (in a spreadsheet, save as 'CSV UTF-8')"
        ) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    if _first_cell(first).lower().startswith("version:"):
        return read_portal_csv(text, name)
    if path.suffix.lower() == ".csv" or "[inviteeEmail]" in first:
        raise FileFormatError(
            name,
            1,
            f"not the portal's bulk-invite format: line 1 must be '{PORTAL_VERSION}' "
            "(download the template from Entra ID > Users > Bulk operations > Bulk invite)",
        )
    return read_json_lines(text, name)


def _first_cell(line: str) -> str:
    return next(csv.reader([line]), [""])[0].strip() if line.strip() else ""


def read_json_lines(text: str, path: str) -> list[InputRow]:
    """One message per non-blank line, as written (the app's rules judge each)."""
    return [
        InputRow(path=path, line=number, body=line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _header(cells: list[str], path: str, line: int) -> list[str | None]:
    """The property name of each header cell (None for a column without one)."""
    names: list[str | None] = []
    for cell in cells:
        found = _BRACKETED.findall(cell)
        names.append(found[0].strip() if found else None)
    known = [n for n in names if n is not None]
    if "inviteeEmail" not in known:
        raise FileFormatError(
            path,
            line,
            "the header has no [inviteeEmail] column: not the portal's bulk-invite header",
        )
    repeated = sorted({n for n in known if known.count(n) > 1})
    if repeated:
        raise FileFormatError(path, line, f"the header names [{repeated[0]}] twice")
    return names


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def _message(
    names: list[str | None], cells: list[str]
) -> tuple[dict[str, object], RowProblem | None]:
    """The HR message a row stands for, and what makes it unusable (if anything)."""
    message: dict[str, object] = {}
    profile: dict[str, str] = {}
    for name, cell in zip(names, cells, strict=False):
        value = cell.strip()
        if name is None or not value:
            continue
        field_name = PORTAL_COLUMNS.get(name, name)
        if name == "sendEmail":
            if value.lower() not in {"true", "false"}:
                return message, RowProblem(
                    column=f"[{name}]",
                    code="InvalidField",
                    message=f"sendEmail must be true or false, got {value!r}",
                )
            message[field_name] = value.lower() == "true"
        elif name in LIST_COLUMNS:
            message[field_name] = _split(value)
        elif profile_field(name) is not None:
            profile[name] = value
        elif name == APP_ROLES_COLUMN:
            pairs = [pair.partition(":") for pair in _split(value)]
            message[field_name] = [
                {"resourceId": resource.strip(), "appRoleId": role.strip()}
                for resource, _, role in pairs
            ]
        else:
            message[field_name] = value
    if profile:
        message["profile"] = profile
    extra = [cell for cell in cells[len(names) :] if cell.strip()]
    if extra:
        return message, RowProblem(
            column=f"column {len(names) + 1}",
            code="InvalidField",
            message="the row has more cells than the header has columns (a comma not quoted?)",
        )
    return message, None


def read_portal_csv(text: str, path: str) -> list[InputRow]:
    """The rows of the portal's bulk-invite CSV (the ``version`` line and the header first)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileFormatError(path, start, f"not readable as CSV: {exc}") from None
    records = [(line, cells) for line, cells in records if any(c.strip() for c in cells)]
    if not records:
        raise FileFormatError(path, 1, f"the file is empty (expected '{PORTAL_VERSION}')")
    version_line, version = records[0]
    if version[0].strip().lower() != PORTAL_VERSION or any(c.strip() for c in version[1:]):
        raise FileFormatError(
            path, version_line, f"expected '{PORTAL_VERSION}', got {','.join(version)!r}"
        )
    if len(records) < 2:
        raise FileFormatError(path, version_line + 1, "the header row is missing")
    header_line, header_cells = records[1]
    names = _header(header_cells, path, header_line)
    columns = {PORTAL_COLUMNS.get(n, n): f"[{n}]" for n in names if n is not None}
    rows = []
    for line, cells in records[2:]:
        message, problem = _message(names, cells)
        if cells[0].strip().lower().startswith(_EXAMPLE_ROW):
            problem = RowProblem(
                column=columns["email"],
                code="InvalidEmail",
                message="this is the template's examples row: remove it",
            )
        rows.append(
            InputRow(
                path=path,
                line=line,
                body=json.dumps(message, ensure_ascii=False),
                columns=columns,
                problem=problem,
            )
        )
    return rows
