"""The ledger's step columns are named once and read forever: a row written by the deployed
version must be read by the next one, or a redelivery after an upgrade redoes (or loses) every
step. The names are written out here for known ids, as Azure Tables stores them (property
names of letters, digits and underscores; no hyphen)."""

from __future__ import annotations

import re

from guest_onboarding.domain.invitation import (
    app_role_step_key,
    group_step_key,
    is_step_key,
    sponsor_step_key,
)

GROUP = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
PORTAL = "0B2F3A4C-1D2E-4F50-8A9B-0C1D2E3F4A5B"
READER = "00000000-0000-0000-0000-000000000000"
SPONSOR = "c0ffee00-1234-4abc-9def-00000000beef"
#: Azure Tables: a property name is a C# identifier, at most 255 characters.
TABLE_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


def test_step_keys_are_the_stored_column_names() -> None:
    assert group_step_key(GROUP) == "g_6f9619ff8b86d011b42d00c04fc964ff"
    assert (
        app_role_step_key(PORTAL, READER)
        == "r_0b2f3a4c1d2e4f508a9b0c1d2e3f4a5b_00000000000000000000000000000000"
    )
    assert sponsor_step_key(SPONSOR) == "s_c0ffee0012344abc9def00000000beef"


def test_an_id_in_either_case_names_the_same_step() -> None:
    assert group_step_key(GROUP) == group_step_key(GROUP.lower())
    assert app_role_step_key(PORTAL.lower(), READER) == app_role_step_key(PORTAL, READER)


def test_step_columns_are_told_from_the_rows_other_columns() -> None:
    for key in (
        group_step_key(GROUP),
        app_role_step_key(PORTAL, READER),
        sponsor_step_key(SPONSOR),
    ):
        assert TABLE_PROPERTY.fullmatch(key) and is_step_key(key)
    for other in ("email", "status", "send_count", "sponsor_contact", "reminders_sent", "guest"):
        assert not is_step_key(other)
