"""Entra ID's dynamic membership rule language: parse a rule, evaluate it against a user.

    rule = parse('(user.userType -eq "Guest") -and (user.companyName -eq "Fabrikam")')
    rule.matches({"userType": "Guest", "companyName": "fabrikam"})  # True
    rule.graph_properties  # frozenset({"userType", "companyName"}): what to $select

Users are read as Graph returns them (Graph's property names; `user.physicalDeliveryOfficeName`
reads `officeLocation`). `parse` raises `RuleSyntaxError` (with position and `kind`) for a
rule it would otherwise have to guess at. Used by the Graph emulator (dynamic groups) and the
operator console; never by the function app (an import contract in pyproject.toml). README.md
here says what is evaluated and how.
"""

from __future__ import annotations

from membership_rules.errors import RuleErrorKind, RuleSyntaxError
from membership_rules.expressions import Rule
from membership_rules.parsing import parse
from membership_rules.properties import Kind, UserProperty

__all__ = ["Kind", "Rule", "RuleErrorKind", "RuleSyntaxError", "UserProperty", "parse"]
