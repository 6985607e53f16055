"""Rows are judged by the function app's own rules and settings: the console accepts exactly
what ``invite_fn`` accepts and rejects the rest with the code ``invite_fn`` would poison it
with, and says which column (or field) is at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.seeds import GRACE, GRACE_MAIL, GRACE_UPN, GROUP_PARTNERS, SAMPLE_MESSAGES_PATH
from guest_console.bulk import InputRow, read_rows
from guest_console.validation import Accepted, Rejected, judge, judge_all
from guest_onboarding.bootstrap import Runtime
from guest_onboarding.config import Settings
from guest_onboarding.entrypoints import handle_invitation_message
from tests.console.test_bulk import EXTRAS, PORTAL_HEADER
from tests.fakes import FakeDirectory, FakeLedger, FakeOutbox, FakeTenantHealth
from tests.support import SETTINGS_ENV


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(SETTINGS_ENV)


def test_the_sample_messages_are_judged_as_the_readme_says(settings: Settings) -> None:
    accepted, rejected = judge_all(read_rows(SAMPLE_MESSAGES_PATH), settings.policy)
    assert [a.line for a in accepted] == [1, 2, 3, 4, 5, 10]
    assert [(r.line, r.column, r.code) for r in rejected] == [
        (6, "email", "ForbiddenCharacter"),
        (7, "email", "DomainBlocked"),
        (8, "group", "UnknownField"),
        (9, "groups", "GroupNotAllowed"),
        (11, "", "InvalidJson"),
    ]
    base64_line = next(a for a in accepted if a.line == 10)
    assert json.loads(base64_line.body)["email"] == "frank@tailspin.example"  # sent as plain JSON


async def test_the_console_and_invite_fn_agree_on_every_sample(settings: Settings) -> None:
    """The oracle is the function app itself: each sample line through ``invite_fn``'s
    entrypoint on fakes, poisoned or not, against the console's verdict."""
    for row in read_rows(SAMPLE_MESSAGES_PATH):
        outbox = FakeOutbox()
        directory = FakeDirectory()  # the sample tenant's sponsor, as samples/tenant.json has her
        directory.add_user(GRACE_MAIL, user_type="Member", user_id=GRACE, upn=GRACE_UPN)
        rt = Runtime(
            settings=settings,
            directory=directory,
            ledger=FakeLedger(),
            outbox=outbox,
            health=FakeTenantHealth(),
        )
        await handle_invitation_message(body=row.body, message_id=f"m{row.line}", rt=rt)
        poisoned = outbox.poison.get(f"{settings.invitations_queue}-poison", [])
        verdict = judge(row, settings.policy)
        if isinstance(verdict, Rejected):
            assert [p["error"]["code"] for p in poisoned] == [verdict.code], row.line
        else:
            assert poisoned == [], row.line


def csv_row(tmp_path: Path, cells: str) -> InputRow:
    path = tmp_path / "invite.csv"
    path.write_text(f"version:v1.0\n{PORTAL_HEADER}{EXTRAS}\n{cells}\n", encoding="utf-8")
    (row,) = read_rows(path)
    return row


@pytest.mark.parametrize(
    ("cells", "column", "code"),
    [
        ("dave@blocked.example,,,,,,,,,", "[inviteeEmail]", "DomainBlocked"),
        ("carol+x@fabrikam.example,,,,,,,,,", "[inviteeEmail]", "ForbiddenCharacter"),
        (
            "ada@fabrikam.example,https://evil.example/,,,,,,,,",
            "[inviteRedirectURL]",
            "RedirectNotAllowed",
        ),
        (
            "ada@fabrikam.example,,,,,99999999-9999-9999-9999-999999999999,,,,",
            "[groups]",
            "GroupNotAllowed",
        ),
        ("ada@fabrikam.example,,,,,not-a-guid,,,,", "[groups]", "InvalidField"),
        ("ada@fabrikam.example,,,,,,x:y,,,", "[appRoles]", "InvalidField"),
        (
            "ada@fabrikam.example,,,,,,,no-such-profile,,",
            "[accessProfiles]",
            "UnknownAccessProfile",
        ),
        ("ada@fabrikam.example,,,,,,,,," + "x" * 129, "[externalId]", "FieldTooLong"),
        ("ada@fabrikam.example,,maybe,,,,,,,", "[sendEmail]", "InvalidField"),
        (
            "ada@fabrikam.example,,,Reset at hxxps://evil[.]example,,,,,,",
            "[customizedMessageBody]",
            "LinkNotAllowed",
        ),
        ("ada@fabrikam.example,,,,Ada\u202eLovelace,,,,,", "[displayName]", "UnsafeCharacter"),
    ],
)
def test_a_rejected_csv_row_names_its_column(
    tmp_path: Path, settings: Settings, cells: str, column: str, code: str
) -> None:
    verdict = judge(csv_row(tmp_path, cells), settings.policy)
    assert isinstance(verdict, Rejected)
    assert (verdict.line, verdict.column, verdict.code) == (3, column, code)


def test_a_valid_csv_row_is_accepted_with_its_canonical_address(
    tmp_path: Path, settings: Settings
) -> None:
    row = csv_row(tmp_path, f"Ada@Fabrikam.Example,,true,Hi,Ada,{GROUP_PARTNERS},,,,HR-1")
    verdict = judge(row, settings.policy)
    assert isinstance(verdict, Accepted)
    assert verdict.email == "ada@fabrikam.example"
    assert json.loads(verdict.body)["groups"] == [GROUP_PARTNERS]


def test_sponsors_are_judged_by_the_apps_rules(tmp_path: Path, settings: Settings) -> None:
    """The [sponsors] column reaches the message as a list; more than five is refused at that
    column, as invite_fn would. (Whether each sponsor exists is Graph's to say, at invite_fn.)"""
    row = csv_row(tmp_path, "ada@fabrikam.example,,,,,,,,pm@contoso.example;x@contoso.example,")
    verdict = judge(row, settings.policy)
    assert isinstance(verdict, Accepted)
    assert json.loads(verdict.body)["sponsors"] == ["pm@contoso.example", "x@contoso.example"]
    six = ";".join(f"s{i}@contoso.example" for i in range(6))
    verdict = judge(csv_row(tmp_path, f"ada@fabrikam.example,,,,,,,,{six},"), settings.policy)
    assert isinstance(verdict, Rejected)
    assert (verdict.column, verdict.code) == ("[sponsors]", "TooManySponsors")


def test_offboarding_rows_are_accepted_and_settling_messages_are_not_submitted(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "leavers.jsonl"
    lines = [
        {"email": "ada@fabrikam.example", "action": "offboard"},
        {"email": "bob@fabrikam.example", "action": "offboard", "groups": [GROUP_PARTNERS]},
        {"heldOffboarding": {"email": "ada@fabrikam.example", "heldAt": "2026-11-01T08:00:00Z"}},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    accepted, rejected = judge_all(read_rows(path), settings.policy)
    assert [a.line for a in accepted] == [1]
    assert [(r.line, r.code) for r in rejected] == [(2, "InvalidField"), (3, "UnknownField")]
