"""Every rule example on Microsoft's dynamic membership rule pages (copied, with the URL and
the date read, into data/reference_examples.json): each one either evaluates as the page says
for the users listed, or is refused with the kind of refusal listed, never guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from membership_rules import RuleErrorKind, RuleSyntaxError, parse

DATA = json.loads(
    (Path(__file__).parent / "data" / "reference_examples.json").read_text(encoding="utf-8")
)
EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (source["url"], example) for source in DATA["sources"] for example in source["examples"]
]


def _id(example: tuple[str, dict[str, Any]]) -> str:
    return example[1]["rule"].strip()[:60]


def test_the_data_says_where_and_when_it_was_read() -> None:
    assert DATA["read"] == "2026-12-06"
    for source in DATA["sources"]:
        assert source["url"].startswith("https://learn.microsoft.com/entra/identity/users/")
        assert "MicrosoftDocs/entra-docs" in source["source"]
        assert source["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_each_example_evaluates_as_documented_or_is_refused(
    example: tuple[str, dict[str, Any]],
) -> None:
    _, entry = example
    if "refused" in entry:
        with pytest.raises(RuleSyntaxError) as refused:
            parse(entry["rule"])
        assert refused.value.kind is RuleErrorKind(entry["refused"]), str(refused.value)
        assert entry.get("reason_contains", "") in refused.value.reason
        text = entry.get("as_typed")
        if text is None:
            return
    else:
        text = entry["rule"]
    rule = parse(text)
    assert entry["matches"] or entry["does_not_match"]
    for user in entry["matches"]:
        assert rule.matches(user), f"{text!r} should match {user}"
    for user in entry["does_not_match"]:
        assert not rule.matches(user), f"{text!r} should not match {user}"


def test_every_refusal_kind_occurs_among_the_examples() -> None:
    """The pages exercise each way a rule is refused, so none of them goes untested."""
    kinds = {entry["refused"] for _, entry in EXAMPLES if "refused" in entry}
    assert kinds == {kind.value for kind in RuleErrorKind}
