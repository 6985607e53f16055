"""The environment-read scan finds reads however they are spelled, and flags what it can't read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra.checks.code_reads import environment_reads, setting_defaults, storage_setting


def _package(tmp_path: Path, source: str) -> Path:
    package = tmp_path / "guest_onboarding"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(textwrap.dedent(source))
    return tmp_path


@pytest.mark.parametrize(
    ("source", "key"),
    [
        ("import os\nX = os.environ['A_SETTING']\n", "A_SETTING"),
        ("import os\nX = os.environ.get('A_SETTING')\n", "A_SETTING"),
        ("import os\nX = os.getenv('A_SETTING', 'x')\n", "A_SETTING"),
        ("from os import getenv\nX = getenv('A_SETTING')\n", "A_SETTING"),
        ("from os import environ\nX = environ.get('A_SETTING')\n", "A_SETTING"),
        ("def f(env):\n    return env['A_SETTING']\n", "A_SETTING"),
        ("import os\nNAME = 'A_SETTING'\nX = os.environ.get(NAME)\n", "A_SETTING"),
        ("import os\nP = 'A_'\nX = os.environ.get(P + 'SETTING')\n", "A_SETTING"),
        ("import os\nP = 'A'\nX = os.environ.get(f'{P}_SETTING')\n", "A_SETTING"),
        (
            """
            import os
            def read(env):
                prefix = 'A' + '_'
                return env.get(prefix + 'SETTING')
            """,
            "A_SETTING",
        ),
        (
            """
            import os
            def settings(env):
                def get(name):
                    return env.get(name, '')
                return get('A_SETTING')
            """,
            "A_SETTING",
        ),
    ],
)
def test_scan_finds_the_read(tmp_path: Path, source: str, key: str) -> None:
    reads = environment_reads(_package(tmp_path, source))
    assert [r.key for r in reads] == [key]


def test_scan_reports_a_key_it_cannot_resolve(tmp_path: Path) -> None:
    root = _package(tmp_path, "import os\ndef f(a, b):\n    return os.environ[a + b]\n")
    (read,) = environment_reads(root)
    assert read.key is None and read.line == 3


def test_scan_ignores_dict_gets_that_are_not_the_environment(tmp_path: Path) -> None:
    root = _package(tmp_path, "def f(body):\n    return body.get('groups', [])\n")
    assert environment_reads(root) == []


def test_setting_defaults_resolves_constant_values(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        "URL = 'https://x'\nSETTING_DEFAULTS: dict[str, str] = {'A': URL, 'B': ''}\n"
        "STORAGE_SETTING = 'AzureWebJobsStorage'\n",
    )
    assert setting_defaults(root) == {"A": "https://x", "B": ""}
    assert storage_setting(root) == "AzureWebJobsStorage"


def test_setting_defaults_must_stay_a_literal(tmp_path: Path) -> None:
    root = _package(tmp_path, "SETTING_DEFAULTS = dict(A='x')\n")
    with pytest.raises(ValueError, match="SETTING_DEFAULTS"):
        setting_defaults(root)
