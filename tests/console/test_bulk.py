"""Input files for ``submit``: the portal's bulk-invite CSV as downloaded, spreadsheet quirks,
JSON lines, and files that are neither (named by line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guest_console.bulk import read_rows
from guest_console.errors import FileFormatError

#: Line 2 of the portal's template, as downloaded.
PORTAL_HEADER = (
    "Email address to invite [inviteeEmail] Required,"
    "Redirection url [inviteRedirectURL] Required,"
    "Send invitation message (true or false) [sendEmail],"
    "Customized invitation message [customizedMessageBody]"
)
EXTRAS = ",Display name [displayName],Groups [groups],App roles [appRoles],Access profiles [accessProfiles],Sponsors [sponsors],External id [externalId]"  # noqa: E501
G1 = "11111111-1111-1111-1111-111111111111"
G2 = "22222222-2222-2222-2222-222222222222"
SP = "33333333-3333-3333-3333-333333333333"
ROLE = "44444444-4444-4444-4444-444444444444"


def write(tmp_path: Path, content: bytes, name: str = "invite.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def messages(path: Path) -> list[dict[str, object]]:
    return [json.loads(row.body) for row in read_rows(path)]


def test_the_portal_template_as_downloaded(tmp_path: Path) -> None:
    content = (
        "version:v1.0\r\n"
        f"{PORTAL_HEADER}\r\n"
        "ada@fabrikam.example,https://myapps.microsoft.com,true,Welcome to Project X\r\n"
        "bob@northwind.example,https://myapps.microsoft.com,FALSE,\r\n"
    ).encode()
    path = write(tmp_path, content)
    rows = read_rows(path)
    assert [r.line for r in rows] == [3, 4]
    assert messages(path) == [
        {
            "email": "ada@fabrikam.example",
            "redirectUrl": "https://myapps.microsoft.com",
            "sendInvitationMessage": True,
            "customizedMessageBody": "Welcome to Project X",
        },
        {
            "email": "bob@northwind.example",
            "redirectUrl": "https://myapps.microsoft.com",
            "sendInvitationMessage": False,
        },
    ]
    assert rows[0].columns["email"] == "[inviteeEmail]"
    assert rows[0].columns["sendInvitationMessage"] == "[sendEmail]"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no BOM", "BOM"])
def test_spreadsheet_quirks(tmp_path: Path, bom: bytes) -> None:
    """Excel's 'CSV UTF-8': BOM, CRLF, padded version line, quoted commas and line breaks,
    non-ASCII, empty rows in the middle and at the end."""
    content = (
        bom
        + (
            "version:v1.0,,,,,,,,,\r\n"
            f"{PORTAL_HEADER}{EXTRAS}\r\n"
            'ada@fabrikam.example,,,"Hello, Ada!\r\nSee you on Monday.",Ada Lovelace,'
            f'"{G1}; {G2}","{SP}:{ROLE}",fabrikam-project-x,sponsor@contoso.example,HR-1\r\n'
            ",,,,,,,,,\r\n"
            "zoë@fabrikam.example,,,,Zoë,,,,,HR-2\r\n"
            ",,,,,,,,,\r\n"
            "\r\n"
        ).encode()
    )
    path = write(tmp_path, content)
    rows = read_rows(path)
    assert [r.line for r in rows] == [3, 6]  # the row with a line break spans 3-4
    first, second = messages(path)
    assert first == {
        "email": "ada@fabrikam.example",
        "customizedMessageBody": "Hello, Ada!\r\nSee you on Monday.",
        "displayName": "Ada Lovelace",
        "groups": [G1, G2],
        "appRoles": [{"resourceId": SP, "appRoleId": ROLE}],
        "accessProfiles": ["fabrikam-project-x"],
        "sponsors": ["sponsor@contoso.example"],
        "externalId": "HR-1",
    }
    assert second == {"email": "zoë@fabrikam.example", "displayName": "Zoë", "externalId": "HR-2"}


def test_an_unknown_bracketed_column_is_passed_on_and_a_plain_one_ignored(
    tmp_path: Path,
) -> None:
    content = (
        "version:v1.0\n"
        "Email [inviteeEmail],Redirect [inviteRedirectURL],Group [group],Notes for HR\n"
        f"ada@fabrikam.example,,{G1},call her first\n"
    ).encode()
    assert messages(write(tmp_path, content)) == [{"email": "ada@fabrikam.example", "group": G1}]


def test_send_email_must_be_true_or_false(tmp_path: Path) -> None:
    content = f"version:v1.0\n{PORTAL_HEADER}\nada@fabrikam.example,,yes,\n".encode()
    (row,) = read_rows(write(tmp_path, content))
    assert row.problem is not None
    assert (row.problem.column, row.problem.code) == ("[sendEmail]", "InvalidField")


def test_the_templates_examples_row_is_refused(tmp_path: Path) -> None:
    content = (
        f"version:v1.0\n{PORTAL_HEADER}\n"
        "Example:    example@example.com,https://myapplications.microsoft.com,true,Hello\n"
    ).encode()
    (row,) = read_rows(write(tmp_path, content))
    assert row.problem is not None and row.problem.column == "[inviteeEmail]"


def test_a_row_wider_than_the_header_is_refused(tmp_path: Path) -> None:
    content = (f"version:v1.0\n{PORTAL_HEADER}\nada@fabrikam.example,,true,Hello, Ada,\n").encode()
    (row,) = read_rows(write(tmp_path, content))
    assert row.problem is not None and row.problem.column == "column 5"


@pytest.mark.parametrize(
    ("content", "name", "line", "says"),
    [
        (
            f"{PORTAL_HEADER}\nada@fabrikam.example,,,\n",
            "x.csv",
            1,
            "line 1 must be 'version:v1.0'",
        ),
        (b"email,redirect\nada@fabrikam.example,\n", "x.csv", 1, "version:v1.0"),
        (f"{PORTAL_HEADER}\n".encode(), "x.txt", 1, "version:v1.0"),
        (b"version:v2.0\nx\n", "x.csv", 1, "expected 'version:v1.0'"),
        (b"\nversion:v1.0\nEmail,Redirect\n", "x.csv", 3, "no [inviteeEmail] column"),
        (b"version:v1.0\n", "x.csv", 2, "header row is missing"),
        (
            f"version:v1.0\n{PORTAL_HEADER},Again [inviteeEmail]\n".encode(),
            "x.csv",
            2,
            "[inviteeEmail] twice",
        ),
        (b"version:v1.0\n" + PORTAL_HEADER.encode() + b"\n\xff\xfe,,,\n", "x.csv", 3, "UTF-8"),
    ],
)
def test_a_file_that_is_not_the_portals_format_names_the_line(
    tmp_path: Path, content: bytes | str, name: str, line: int, says: str
) -> None:
    raw = content.encode() if isinstance(content, str) else content
    with pytest.raises(FileFormatError) as caught:
        read_rows(write(tmp_path, raw, name))
    assert caught.value.line == line
    assert says in str(caught.value)


def test_json_lines_keep_their_line_numbers(tmp_path: Path) -> None:
    content = b'{"email": "a@fabrikam.example"}\n\n  \nnot json\n{"email": "b@fabrikam.example"}\n'
    rows = read_rows(write(tmp_path, content, "hr.jsonl"))
    assert [(r.line, r.body) for r in rows] == [
        (1, '{"email": "a@fabrikam.example"}'),
        (4, "not json"),
        (5, '{"email": "b@fabrikam.example"}'),
    ]
