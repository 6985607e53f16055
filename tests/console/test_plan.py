"""``plan`` (issue 26 item 5): the groups each row's guest lands in, through the tenant's dynamic
groups' rules and through their access profiles, before anything is sent; ``status`` shows the
profile HR stated."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from devstack.demo import DEMO_SETTINGS
from devstack.seeds import (
    FABRIKAM_GUESTS,
    GROUP_PARTNERS,
    GROUP_PROJECT_X,
    PROFILED_GUEST,
    SAMPLE_MESSAGES_PATH,
    SAMPLE_PORTAL_CSV_PATH,
    SAMPLE_PROFILES_PATH,
    sample_tenant,
)
from devstack.stack import EXAMPLE_SETTINGS
from guest_console.bulk import read_rows
from guest_console.plan import plan_rows, read_rules
from guest_console.validation import judge_all
from guest_onboarding.config import Settings
from guest_onboarding.ports import DirectoryGroup
from local_functions_host.settings import load_local_settings
from tests.console.conftest import Operated, table_rows
from tests.console.test_bulk import PORTAL_HEADER
from tests.support import SETTINGS_ENV

SETTINGS = Settings.from_env({**SETTINGS_ENV, "GUEST_PROFILE_FIELDS": "companyName,department"})
ROWS = [
    {"email": "ada@fabrikam.example", "profile": {"companyName": "Fabrikam"}},
    {"email": "bob@fabrikam.example", "accessProfiles": ["fabrikam-project-x"]},
    {"email": "cy@northwind.example", "profile": {"companyName": "Northwind"}},
    {
        "email": "di@fabrikam.example",
        "groups": [GROUP_PARTNERS],
        "profile": {"companyName": "Fabrikam", "department": "Sales"},
    },
]


def dynamic(group_id: str, name: str, rule: str) -> DirectoryGroup:
    return DirectoryGroup(
        id=group_id, display_name=name, group_types=("DynamicMembership",), membership_rule=rule
    )


def jsonl(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "guests.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_profile_columns_of_the_portal_csv_fill_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "guests.csv"
    path.write_text(
        f"version:v1.0\n{PORTAL_HEADER},Company [companyName],Department [department]\n"
        "ada@fabrikam.example,https://myapps.microsoft.com,true,,Fabrikam,Sales\n"
        "bob@fabrikam.example,https://myapps.microsoft.com,true,,,\n",
        encoding="utf-8",
    )
    ada, bob = (json.loads(row.body) for row in read_rows(path))
    assert ada["profile"] == {"companyName": "Fabrikam", "department": "Sales"}
    assert "profile" not in bob  # empty cells state nothing


def test_each_row_lands_where_rules_and_profiles_say_and_unreadable_rules_are_named(
    tmp_path: Path,
) -> None:
    rules = read_rules(
        [
            dynamic("g-fab", "Fabrikam guests", '(user.companyName -eq "Fabrikam")'),
            dynamic(
                "g-sales",
                "Sales guests",
                '(user.userType -eq "Guest") -and (user.department -eq "Sales")',
            ),
            dynamic("g-members", "Members", '(user.userType -eq "Member")'),
            dynamic("g-bad", "Broken", "(user.companyName -eq "),
        ]
    )
    assert [(u.id, u.name) for u in rules.unreadable] == [("g-bad", "Broken")]
    accepted, rejected = judge_all(read_rows(jsonl(tmp_path, ROWS)), SETTINGS.policy)
    assert rejected == []
    planned = {row.email: row for row in plan_rows(accepted, SETTINGS.policy, rules)}
    assert planned["ada@fabrikam.example"].by_rule == ("Fabrikam guests",)
    assert planned["ada@fabrikam.example"].by_grant == ()
    assert planned["bob@fabrikam.example"].by_rule == ()
    assert planned["bob@fabrikam.example"].by_grant == (GROUP_PROJECT_X,)
    assert planned["cy@northwind.example"].lands_nowhere
    assert planned["di@fabrikam.example"].by_rule == ("Fabrikam guests", "Sales guests")
    assert planned["di@fabrikam.example"].by_grant == (GROUP_PARTNERS,)
    assert not any(row.lands_nowhere for e, row in planned.items() if e != "cy@northwind.example")


def with_profile_fields(operated: Operated) -> None:
    """The console and the app with GUEST_PROFILE_FIELDS, Graph granting User.ReadWrite.All."""
    values = {**operated.values, "GUEST_PROFILE_FIELDS": "companyName,department"}
    operated.settings_path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    stack = operated.stack
    stack.rt = dataclasses.replace(stack.rt, settings=Settings.from_env(values))
    seed = sample_tenant()
    seed["identity"]["permissions"] += ["User.ReadWrite.All"]
    stack.graph.control.reset(seed)


async def test_plan_reads_the_tenants_dynamic_groups_and_sends_nothing(
    operated: Operated, tmp_path: Path
) -> None:
    with_profile_fields(operated)
    result = await operated.console("plan", str(jsonl(tmp_path, ROWS)))
    assert result.exit_code == 0, result.stdout + result.stderr
    cells = {row[1]: row for row in table_rows(result.stdout) if "@" in row[1]}
    assert cells["ada@fabrikam.example"][2] == "Fabrikam guests"  # the sample's dynamic group
    assert cells["bob@fabrikam.example"][2] == "-"
    assert cells["bob@fabrikam.example"][3] == GROUP_PROJECT_X
    assert cells["cy@northwind.example"][2:] == ["-", "-", "lands in no group"]
    assert "1 dynamic group(s) read; 1 row(s) land in no group" in result.stdout
    assert operated.count() == 0  # nothing sent
    requests = operated.stack.graph.control.counters()["requests"]
    assert requests.get("GET /groups") == 1 and "POST /invitations" not in requests


async def test_plan_says_clearly_when_graph_refuses_the_read(
    operated: Operated, tmp_path: Path
) -> None:
    operated.stack.graph.control.reset(sample_tenant(without_permissions=["GroupMember.Read.All"]))
    result = await operated.console("plan", str(jsonl(tmp_path, ROWS[:1])))
    assert result.exit_code == 2
    assert "cannot read the tenant's dynamic groups" in result.stderr


async def test_status_shows_the_profile_hr_stated(operated: Operated, tmp_path: Path) -> None:
    with_profile_fields(operated)
    await operated.console("submit", str(jsonl(tmp_path, ROWS[:1])))
    assert sorted(await operated.stack.drain()) == ["done", "invited"]
    shown = await operated.console("status", "ada@fabrikam.example")
    assert shown.exit_code == 0
    lines = [line.strip("│ ") for line in shown.stdout.splitlines()]
    [profile_line] = [line for line in lines if line.startswith("profile ")]
    assert '"companyName": "Fabrikam"' in profile_line
    [step_line] = [line for line in lines if line.startswith("step: profile")]
    assert step_line.endswith("done")  # the profile step, written
    as_json = await operated.console("status", "ada@fabrikam.example", "--json")
    assert json.loads(as_json.stdout)[0]["profile"] == {"companyName": "Fabrikam"}


async def test_plan_over_the_demos_files_prints_the_expected_groups(
    operated: Operated, tmp_path: Path
) -> None:
    """What ``make demo`` runs before submitting (its settings: the example's, with
    ``GUEST_PROFILE_FIELDS``): only Ivan, sent with a profile and no group, lands in the
    sample tenant's dynamic group; Kim lands in Partners through ``groups`` only."""
    values = {
        **load_local_settings(EXAMPLE_SETTINGS),
        **DEMO_SETTINGS,
        "GRAPH_BASE_URL": operated.values["GRAPH_BASE_URL"],
    }
    operated.settings_path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    files = (SAMPLE_MESSAGES_PATH, SAMPLE_PORTAL_CSV_PATH, SAMPLE_PROFILES_PATH)
    result = await operated.console("plan", *map(str, files))
    assert result.exit_code == 1  # the samples' rows rejected on purpose
    cells = {row[1]: row for row in table_rows(result.stdout) if "@" in row[1]}
    by_rule = {email: row[2] for email, row in cells.items() if row[2] != "-"}
    assert by_rule == {PROFILED_GUEST: FABRIKAM_GUESTS}
    assert cells["kim@northwind.example"][3] == GROUP_PARTNERS
    assert len(cells) >= 8  # every accepted row of the three files is planned
