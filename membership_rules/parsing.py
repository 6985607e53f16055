"""Rule text to `Rule`: a lark LALR grammar of Entra's rule language, then one walk over the
parse tree that resolves properties, checks types and builds the expression.

The syntax, from "Manage rules for dynamic membership groups in Microsoft Entra ID"
(https://learn.microsoft.com/entra/identity/users/groups-dynamic-membership; MicrosoftDocs/
entra-docs docs/identity/users/groups-dynamic-membership.md at 11d44a5c9fbb, read 2026-12-06),
with this module's reading where the page is silent or contradicts itself:

- A rule is ``object.property operator value`` joined by ``-and``, ``-or``, ``-not`` and
  parentheses; at most 3,072 characters ("Rule syntax for a single expression").
- Precedence, highest first (section "Operator precedence"): the comparison operators, then
  ``-not``, then ``-and``, then ``-or``; ``-and`` and ``-or`` group left to right.
- The page lists ``-any -all`` below ``-or``, which would make ``user.otherMails -any _ -eq "a"
  -and user.city -eq "x"`` mean an -any over a condition naming ``user.city``. This parser takes
  ``-any``/``-all`` as binding a collection property to the parenthesised condition that follows
  it; an unparenthesised condition (the page's device examples write ``-any _ -startsWith
  "..."``) is one comparison and must end its group: anything after it is refused as
  ambiguous rather than guessed.
- Operators are matched ignoring case and "can be used with or without the hyphen (-)
  prefix" (section "Supported expression operators"); this parser extends that to ``-and``,
  ``-or``, ``-not`` (the page "Create simpler, more efficient rules" writes
  ``user.city -eq "Lagos" or user.city -startswith "Lag"``). An en dash (U+2013, as the page
  prints ``-eq`` in its precedence examples) is not a hyphen: it is refused with a hint.
- Property names are matched ignoring case although the page calls them case sensitive: its own
  examples write ``mailNickName`` and ``mailNickname``, ``employeehiredate``.
- Values: strings in double quotes, in which a backtick escapes a double quote or a backtick
  (`` `" ``, the page's "escape both quotation marks" example) and any other backtick is refused;
  strings in single quotes, in which ``''`` is one quote (the page's "two single quotation
  marks", and ``['value']`` in its memberOf example); the page's `` `"Sales`" `` (escaped quotes
  with no quotes around them) is the string ``"Sales"`` with its quotes; ``true``, ``false``;
  ``null`` and ``$null`` (GitHub MicrosoftDocs/azure-docs#6123 and #113292 report ``$null``
  working where ``null`` did not); lists ``[...]`` after ``-in`` / ``-notIn``. A quoted
  ``"null"`` is the string (section "Use of null values"). Numbers, dates and ``system.now``
  parse but no evaluated property takes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from membership_rules.errors import RuleErrorKind, RuleSyntaxError
from membership_rules.expressions import (
    And,
    Comparison,
    Expression,
    Not,
    Or,
    Pattern,
    Quantified,
    Quantifier,
    Rule,
    Test,
    Text,
    TextList,
    Value,
)
from membership_rules.patterns import PatternError, compile_pattern
from membership_rules.properties import (
    GRAPH_NAME_HINTS,
    NOT_EVALUATED,
    USER_PROPERTIES,
    Kind,
    UserProperty,
    custom_extension,
)

#: "The total length of the body of your membership rule can't exceed 3,072 characters."
MAX_RULE_LENGTH = 3072
#: Parentheses and -not nested deeper than this are refused (this evaluator's limit).
MAX_NESTING = 100

_WORD_END = r"(?![A-Za-z0-9_])"
#: Each comparison operator (lower case, hyphen removed): the positive test and its negation.
_OPERATORS: dict[str, tuple[Test, bool]] = {
    "eq": (Test.EQUALS, False),
    "ne": (Test.EQUALS, True),
    "startswith": (Test.STARTS_WITH, False),
    "notstartswith": (Test.STARTS_WITH, True),
    "endswith": (Test.ENDS_WITH, False),
    "notendswith": (Test.ENDS_WITH, True),
    "contains": (Test.CONTAINS, False),
    "notcontains": (Test.CONTAINS, True),
    "match": (Test.MATCHES, False),
    "notmatch": (Test.MATCHES, True),
    "in": (Test.IN, False),
    "notin": (Test.IN, True),
}
GRAMMAR = rf"""
?start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: unary (AND unary)*
?unary: NOT unary -> negation
      | primary
?primary: "(" or_expr ")" -> group
        | comparison
        | PROPERTY QUANTIFIER "(" or_expr ")" -> quantified
        | PROPERTY QUANTIFIER comparison -> bare_quantified
        | DIRECT_REPORTS DQ_STRING -> direct_reports

comparison: (PROPERTY | ITEM) (OPERATOR | ORDER_OPERATOR) value
value: DQ_STRING | SQ_STRING | BQ_STRING | TRUE | FALSE | NULL | NUMBER | DATETIME
     | SYSTEM_NOW (SHIFT DURATION)?
     | LIST_OPEN (value ("," value)*)? "]" -> list

OR: /-?or{_WORD_END}/i
AND: /-?and{_WORD_END}/i
NOT: /-?not{_WORD_END}/i
QUANTIFIER: /-?(any|all){_WORD_END}/i
OPERATOR: /-?({"|".join(_OPERATORS)}){_WORD_END}/i
ORDER_OPERATOR: /-?(ge|le){_WORD_END}/i
DIRECT_REPORTS: /direct\s+reports\s+for{_WORD_END}/i
PROPERTY: /[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*/
ITEM: /_(?![A-Za-z0-9_.])/
DQ_STRING: /"(?:[^"`]|`["`])*"/
BQ_STRING: /`"(?:[^"`]|`["`])*`"/
SQ_STRING: /'(?:[^']|'')*'/
TRUE: /true{_WORD_END}/i
FALSE: /false{_WORD_END}/i
NULL: /\$?null{_WORD_END}/i
DATETIME.2: /\d{{4}}-\d{{2}}-\d{{2}}(T[0-9:.]+)?Z?{_WORD_END}/i
NUMBER: /-?\d+(\.\d+)?{_WORD_END}/
SYSTEM_NOW: /system\.now{_WORD_END}/i
SHIFT: /-(plus|minus){_WORD_END}/i
LIST_OPEN: "["
DURATION: /P[0-9A-Z.]+{_WORD_END}/i
WS: /\s+/
%ignore WS
"""
_PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False, propagate_positions=True)


#: How a parser error names what it expected.
_EXPECTED_NAMES = {
    "PROPERTY": "a property such as user.department",
    "ITEM": "_",
    "NOT": "-not",
    "LPAR": "(",
    "RPAR": ")",
    "OPERATOR": "an operator such as -eq",
    "QUANTIFIER": "-any or -all",
    "AND": "-and",
    "OR": "-or",
    "DQ_STRING": 'a "quoted string"',
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "LIST_OPEN": "[",
    "RSQB": "]",
    "COMMA": ",",
    "$END": "the end of the rule",
}
#: Characters copied from web pages that look like the ones the language uses.
_LOOKALIKES = {
    "\u2013": "an en dash, which web pages print for '-': type a hyphen",
    "\u2014": "an em dash: type a hyphen",
    "\u2212": "a minus sign: type a hyphen",
    "\u201c": 'a typographic quotation mark: type "',
    "\u201d": 'a typographic quotation mark: type "',
    "\u2018": "a typographic apostrophe: type '",
    "\u2019": "a typographic apostrophe: type '",
}


def parse(rule: str) -> Rule:
    """The rule, parsed; RuleSyntaxError (with position and kind) for anything this evaluator
    would have to guess at: text that is not a rule, a property or operator it does not know,
    a value of the wrong type, a pattern .NET and Python read differently, or a construct it
    does not evaluate."""
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            rule,
            MAX_RULE_LENGTH,
            RuleErrorKind.SYNTAX,
            f"a rule is at most {MAX_RULE_LENGTH:,} characters; this one has {len(rule):,}",
        )
    try:
        tree = _PARSER.parse(rule)
    except UnexpectedInput as exc:
        raise _syntax_error(rule, exc) from None
    return Rule(text=rule, expression=_Builder(rule).expression(tree, inside=None, depth=0))


def _syntax_error(rule: str, exc: UnexpectedInput) -> RuleSyntaxError:
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = rule[position]
        expected = _describe_expected(exc.allowed)
        if char in _LOOKALIKES:
            reason = f"{char!r} is {_LOOKALIKES[char]}"
        elif char == '"' or char == "`":
            reason = (
                'a string that is not closed, or that holds a backtick not followed by " or '
                '` (inside double quotes, `" is a quotation mark and `` a backtick)'
            )
        elif char == "'":
            reason = "a string in single quotes that is not closed"
        elif char.isalnum() and "DQ_STRING" in exc.allowed:
            word = rule[position:].split(maxsplit=1)[0]
            reason = f'{word!r} is not a value: strings are written in quotes ("{word}")'
        else:
            reason = f"unexpected {char!r}; expected {expected}"
        return RuleSyntaxError(rule, position, RuleErrorKind.SYNTAX, reason)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = _describe_expected(exc.expected)
        if token.type == "$END":
            return RuleSyntaxError(
                rule, len(rule), RuleErrorKind.SYNTAX, f"the rule ends early; expected {expected}"
            )
        position = token.start_pos if token.start_pos is not None else 0
        reason = f"unexpected {str(token)!r}; expected {expected}"
        return RuleSyntaxError(rule, position, RuleErrorKind.SYNTAX, reason)
    return RuleSyntaxError(rule, 0, RuleErrorKind.SYNTAX, str(exc))


def _describe_expected(names: set[str] | frozenset[str]) -> str:
    described = sorted({_EXPECTED_NAMES[name] for name in names if name in _EXPECTED_NAMES})
    return " or ".join(described) if described else "something else"


@dataclass(frozen=True)
class _Subject:
    """The left side of a comparison: a property, or the item `_` (property None)."""

    prop: UserProperty | None
    token: Token


class _Builder:
    """One rule's parse tree to its expression, refusing what is wrong or not evaluated."""

    def __init__(self, rule: str) -> None:
        self.rule = rule

    def error(self, at: Token | int, kind: RuleErrorKind, reason: str) -> RuleSyntaxError:
        position = at if isinstance(at, int) else (at.start_pos or 0)
        return RuleSyntaxError(self.rule, position, kind, reason)

    # ----- expressions -------------------------------------------------------------------------

    def expression(self, tree: Tree[Token], *, inside: Token | None, depth: int) -> Expression:
        """``inside``: the -any/-all keyword whose condition this is, or None at the top."""
        if depth > MAX_NESTING:
            raise self.error(
                tree.meta.start_pos,
                RuleErrorKind.NOT_EVALUATED,
                f"nested more than {MAX_NESTING} levels deep",
            )
        kind = tree.data
        if kind == "or_expr" or kind == "and_expr":
            operands = [child for child in tree.children if isinstance(child, Tree)]
            self.refuse_open_ended(tree)
            built = tuple(self.expression(o, inside=inside, depth=depth + 1) for o in operands)
            return Or(built) if kind == "or_expr" else And(built)
        if kind == "negation":
            return Not(self.expression(_subtree(tree, -1), inside=inside, depth=depth + 1))
        if kind == "group":
            return self.expression(_subtree(tree, 0), inside=inside, depth=depth + 1)
        if kind == "comparison":
            return self.comparison(tree, inside=inside)
        if kind == "quantified" or kind == "bare_quantified":
            return self.quantified(tree, inside=inside, depth=depth)
        if kind == "direct_reports":
            raise self.error(
                _first_token(tree),
                RuleErrorKind.NOT_EVALUATED,
                "a Direct Reports rule depends on managers, which are not evaluated",
            )
        raise self.error(tree.meta.start_pos, RuleErrorKind.SYNTAX, f"unexpected {kind}")

    def refuse_open_ended(self, chain: Tree[Token]) -> None:
        """An unparenthesised -any/-all condition followed by -and/-or is ambiguous (see the
        module docstring): refuse it, pointing at the operator that follows."""
        children = chain.children
        for index, child in enumerate(children[:-1]):
            if isinstance(child, Tree) and _ends_open(child):
                follower = children[index + 1]
                assert isinstance(follower, Token)
                raise self.error(
                    follower,
                    RuleErrorKind.SYNTAX,
                    f"{str(follower)!r} after an -any/-all condition without parentheses is "
                    "ambiguous: write the condition in parentheses, "
                    'as in user.otherMails -any (_ -contains "x")',
                )

    def quantified(self, tree: Tree[Token], *, inside: Token | None, depth: int) -> Expression:
        prop_token, keyword = _token(tree, 0), _token(tree, 1)
        if inside is not None:
            raise self.error(
                keyword, RuleErrorKind.SYNTAX, "an -any/-all inside another one's condition"
            )
        prop = self.resolve(prop_token)
        if prop.kind is not Kind.STRING_COLLECTION:
            raise self.error(
                keyword,
                RuleErrorKind.NOT_FOR_PROPERTY,
                f"{prop.rule_name} is a {prop.kind.value}; -any and -all take a multi-valued "
                "property (otherMails, proxyAddresses)",
            )
        quantifier = Quantifier(str(keyword).lstrip("-").lower())
        condition = self.expression(_subtree(tree, 0), inside=keyword, depth=depth + 1)
        return Quantified(prop, quantifier, condition)

    def comparison(self, tree: Tree[Token], *, inside: Token | None) -> Comparison:
        subject_token, operator = _token(tree, 0), _token(tree, 1)
        if subject_token.type == "ITEM":
            if inside is None:
                raise self.error(
                    subject_token,
                    RuleErrorKind.SYNTAX,
                    "_ stands for an item of a collection and belongs inside -any or -all",
                )
            subject = _Subject(None, subject_token)
        else:
            prop = self.resolve(subject_token)
            if inside is not None:
                raise self.error(
                    subject_token,
                    RuleErrorKind.SYNTAX,
                    f"inside {str(inside)!r} the condition compares _ (the item), not "
                    f"{subject_token}",
                )
            subject = _Subject(prop, subject_token)
        if operator.type == "ORDER_OPERATOR":
            raise self.error(
                operator,
                RuleErrorKind.NOT_FOR_PROPERTY,
                f"{operator} compares dates (employeeHireDate), not {_name(subject)}",
            )
        test, negated = _OPERATORS[str(operator).lstrip("-").lower()]
        value = self.value(_subtree(tree, 0), subject, operator, test)
        return Comparison(subject.prop, test, negated, value)

    # ----- properties and values -------------------------------------------------------------

    def resolve(self, token: Token) -> UserProperty:
        """The user property ``object.property`` names, or the reason it is refused."""
        obj, _, name = str(token).partition(".")
        if obj.lower() == "device":
            raise self.error(token, RuleErrorKind.NOT_EVALUATED, "device rules are not evaluated")
        if obj.lower() != "user":
            raise self.error(
                token,
                RuleErrorKind.UNKNOWN_PROPERTY,
                f"{token} is not a user property: user rules name properties as user.<name>",
            )
        key = name.lower()
        found = USER_PROPERTIES.get(key) or custom_extension(name)
        if found is not None:
            return found
        if key in NOT_EVALUATED:
            raise self.error(token, RuleErrorKind.NOT_EVALUATED, NOT_EVALUATED[key])
        hint = GRAPH_NAME_HINTS.get(key)
        reason = f"{token} is not a property Entra's rules know"
        if hint is not None:
            reason += f" (Graph's {name} is user.{hint} in rules)"
        raise self.error(token, RuleErrorKind.UNKNOWN_PROPERTY, reason)

    def value(self, tree: Tree[Token], subject: _Subject, operator: Token, test: Test) -> Value:
        """The comparison's value, checked against the operator and the subject's type."""
        kind = subject.prop.kind if subject.prop is not None else Kind.STRING
        first = _first_token(tree)
        if tree.data == "list":
            if test is not Test.IN:
                raise self.error(
                    first, RuleErrorKind.NOT_FOR_PROPERTY, "a [...] list goes with -in or -notIn"
                )
            if kind is Kind.BOOLEAN:
                raise self.error(operator, RuleErrorKind.NOT_FOR_PROPERTY, _boolean_ops(subject))
            items = tuple(self.text(_first_token(item), subject) for item in _subtrees(tree))
            return TextList(items)
        if test is Test.IN:
            raise self.error(
                first, RuleErrorKind.NOT_FOR_PROPERTY, f"{operator} takes a [...] list of strings"
            )
        if first.type == "NULL":
            if test is not Test.EQUALS:
                raise self.error(
                    operator, RuleErrorKind.NOT_FOR_PROPERTY, "null is compared with -eq or -ne"
                )
            return None
        if kind is Kind.BOOLEAN:
            if test is not Test.EQUALS:
                raise self.error(operator, RuleErrorKind.NOT_FOR_PROPERTY, _boolean_ops(subject))
            if first.type not in ("TRUE", "FALSE"):
                raise self.error(
                    first,
                    RuleErrorKind.NOT_FOR_PROPERTY,
                    f"{_name(subject)} is a boolean: compare it with true or false, unquoted",
                )
            return first.type == "TRUE"
        text = self.text(first, subject)
        if test is Test.MATCHES:
            try:
                return Pattern(text.text, compile_pattern(text.text))
            except PatternError as exc:
                raise self.error(
                    (first.start_pos or 0) + 1 + exc.offset, RuleErrorKind.PATTERN, exc.reason
                ) from None
        return text

    def text(self, token: Token, subject: _Subject) -> Text:
        """A string value; NOT_FOR_PROPERTY for a boolean, number or date in its place."""
        raw = str(token)
        if token.type == "DQ_STRING":
            return Text(_unescape(raw[1:-1]))
        if token.type == "BQ_STRING":
            return Text(_unescape(raw))
        if token.type == "SQ_STRING":
            return Text(raw[1:-1].replace("''", "'"))
        what = {"TRUE": "a boolean", "FALSE": "a boolean", "NULL": "null"}.get(
            token.type, "a number or a date"
        )
        raise self.error(
            token,
            RuleErrorKind.NOT_FOR_PROPERTY,
            f"{_name(subject)} holds strings; {raw} is {what}: write a quoted string",
        )


def _unescape(text: str) -> str:
    """Backtick escapes (`` `" `` and ``` `` ```; the grammar admits no others) resolved."""
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        out.append(next(chars, "") if char == "`" else char)
    return "".join(out)


def _name(subject: _Subject) -> str:
    return subject.prop.rule_name if subject.prop is not None else "_"


def _boolean_ops(subject: _Subject) -> str:
    return f"{_name(subject)} is a boolean: it is compared with -eq or -ne only"


def _ends_open(tree: Tree[Token]) -> bool:
    """Whether the expression ends in an unparenthesised -any/-all condition."""
    node: Tree[Token] | Token = tree
    while isinstance(node, Tree) and node.data in ("negation", "and_expr", "or_expr"):
        node = node.children[-1]
    return isinstance(node, Tree) and node.data == "bare_quantified"


def _subtrees(tree: Tree[Token]) -> Iterator[Tree[Token]]:
    return (child for child in tree.children if isinstance(child, Tree))


def _subtree(tree: Tree[Token], index: int) -> Tree[Token]:
    child = [c for c in tree.children if isinstance(c, Tree)][index]
    return child


def _token(tree: Tree[Token], index: int) -> Token:
    child = tree.children[index]
    assert isinstance(child, Token)
    return child


def _first_token(tree: Tree[Token]) -> Token:
    """The first token under ``tree`` (every rule's tree holds at least one), found without
    recursion: a rule may nest a thousand parentheses deep."""
    pending: list[Tree[Token] | Token] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, Token):
            return node
        pending.extend(reversed(node.children))
    raise AssertionError(f"no token under {tree.data}")
