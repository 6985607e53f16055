"""drone/envsubst v1.0.3, the substitution azd runs on ``main.parameters.json``, ported to Python.

azd (``cli/azd/go.mod`` of Azure/azure-dev pins ``github.com/drone/envsubst v1.0.3`` from 1.15
through 1.31.2) calls ``envsubst.Eval(text, mapping)``. This module ports that version
(drone/envsubst tag v1.0.3, commit 0351a447dc0531882e15ce0a2367c9f797927a10) line by line, so
the check sees what azd sees, quirks included:

* ``parse/scan.go``: the scanner works on a buffer it edits in place. ``$$`` and, in plain
  text, ``\\\\`` and ``\\/`` are escapes: the first character is dropped (``$${X}`` gives the text
  ``${X}``). A NUL character is the scanner's end of input (``eof = rune(0)``), so text after it
  is dropped, as in Go.
* ``parse/parse.go``: ``${NAME}`` where NAME is letters, digits and ``_``; ``${NAME=word}``,
  ``${NAME:=word}``, ``${NAME:-word}``, ``${NAME:?word}`` and ``${NAME:+word}`` all parse as a
  *default* (``word`` runs to the first ``}`` and may hold ``${...}``); ``${NAME-word}`` and
  ``${NAME+word}`` are errors ("missing closing brace"); ``${#NAME}``, ``${NAME,}``,
  ``${NAME^^}``, ``${NAME:1:2}``, ``${NAME/a/b}`` and the ``#``/``%`` trims parse too.
* ``template.go`` / ``funcs.go``: a function's arguments are evaluated before its parameter
  (the mapping is called for every name that appears, defaults included, in that order), and
  every default operator means "the value, or the word when the value is empty": unset and
  empty are the same (``toDefault``).

The ``#``/``%`` trims match with Go's ``path.Match`` (drone's ``path/match.go``), which this port
does not reimplement: evaluating one raises :class:`UnsupportedFunction` instead of guessing.
String lengths and substrings count UTF-8 bytes, as Go does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: ``var eof = rune(0)`` in scan.go.
EOF = "\x00"

# Tokens (scan.go).
_ILLEGAL, _EOF, _IDENT, _LBRACK, _RBRACK = range(5)

# Scanner modes (scan.go).
SCAN_IDENT = 1 << 0
SCAN_LBRACK = 1 << 1
SCAN_RBRACK = 1 << 2
SCAN_ESCAPE = 1 << 3


class EnvsubstError(ValueError):
    """A parse error, with drone/envsubst's message (parse.go's ``Err*`` values)."""


BAD_SUBSTITUTION = "bad substitution"
MISSING_CLOSING_BRACE = "missing closing brace"
PARSE_VARIABLE_NAME = "unable to parse variable name"
PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function"
PARSE_DEFAULT_FUNCTION = "unable to parse default function"


class UnsupportedFunction(EnvsubstError):
    """A function this port does not evaluate (the path.Match trims)."""


Accept = Callable[[str, int], bool]


def _accept_rune(r: str, i: int) -> bool:
    return True


def _accept_ident(r: str, i: int) -> bool:
    # Go's unicode.IsLetter / IsDigit; str.isalpha / isdigit are the closest Python has.
    return r.isalpha() or r.isdigit() or r == "_"


def _accept_colon(r: str, i: int) -> bool:
    return r == ":"


def _accept_one_hash(r: str, i: int) -> bool:
    return r == "#" and i == 1


def _accept_not_closing(r: str, i: int) -> bool:
    return r != "}"


def _accept_hash_func(r: str, i: int) -> bool:
    return r == "#" and i < 3


def _accept_percent_func(r: str, i: int) -> bool:
    return r == "%" and i < 3


def _accept_default_func(r: str, i: int) -> bool:
    if i == 1 and r == ":":
        return True
    return i == 2 and r in ("=", "-", "?", "+")


def _accept_replace_func(r: str, i: int) -> bool:
    if i == 1 and r == "/":
        return True
    return i == 2 and r in ("/", "#", "%")


def _accept_one_equal(r: str, i: int) -> bool:
    return i == 1 and r == "="


def _accept_one_colon(r: str, i: int) -> bool:
    return i == 1 and r == ":"


def _reject_colon_close(r: str, i: int) -> bool:
    return r not in (":", "}")


def _accept_slash(r: str, i: int) -> bool:
    return r == "/"


def _accept_not_slash(r: str, i: int) -> bool:
    return r != "/"


def _accept_casing_func(r: str, i: int) -> bool:
    return r in (",", "^") and i < 3


class _Scanner:
    """scan.go's scanner: positions index the (edited) buffer, one character wide each."""

    def __init__(self, buf: str) -> None:
        self.buf = buf
        self.pos = 0
        self.start = 0
        self.width = 0
        self.mode = 0
        self.accept: Accept = _accept_rune

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return EOF
        r = self.buf[self.pos]
        self.width = 1
        self.pos += 1
        return r

    def unread(self) -> None:
        self.pos -= self.width

    def skip(self) -> None:
        self.buf = self.buf[: self.pos - 1] + self.buf[self.pos :]

    def peek(self) -> str:
        r = self.read()
        self.unread()
        return r

    def string(self) -> str:
        return self.buf[self.start : self.pos]

    def scan(self) -> int:
        self.start = self.pos
        r = self.read()
        if r == EOF:
            return _EOF
        if self._scan_lbrack(r):
            return _LBRACK
        if self._scan_rbrack(r):
            return _RBRACK
        if self._scan_ident(r):
            return _IDENT
        return _ILLEGAL

    def _scan_ident(self, r: str) -> bool:
        if not self.mode & SCAN_IDENT:
            return False
        if self._scan_escaped(r):
            self.skip()
        elif not self.accept(r, self.pos - self.start):
            return False
        while True:
            r = self.read()
            if r == EOF:
                self.unread()
                break
            if self._scan_lbrack(r):
                self.unread()
                self.unread()
                break
            if self._scan_escaped(r):
                self.skip()
                continue
            if not self.accept(r, self.pos - self.start):
                self.unread()
                break
        return True

    def _scan_lbrack(self, r: str) -> bool:
        if not self.mode & SCAN_LBRACK:
            return False
        if r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def _scan_rbrack(self, r: str) -> bool:
        if not self.mode & SCAN_RBRACK:
            return False
        return r == "}"

    def _scan_escaped(self, r: str) -> bool:
        if not self.mode & SCAN_ESCAPE:
            return False
        if r == "$" and self.peek() == "$":
            return True
        if r != "\\":
            return False
        return self.peek() in ("/", "\\")


@dataclass
class Text:
    value: str


@dataclass
class Func:
    param: str
    name: str = ""
    args: list[Node] = field(default_factory=list)


Node = Text | Func


class _Parser:
    """parse.go's ``Tree``."""

    def __init__(self, text: str) -> None:
        self.scanner = _Scanner(text)

    def parse_any(self) -> list[Node]:
        # parse.go recurses once per token; a loop builds the same left-to-right list.
        nodes: list[Node] = []
        while True:
            self.scanner.accept = _accept_rune
            self.scanner.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE
            token = self.scanner.scan()
            if token == _IDENT:
                nodes.append(Text(self.scanner.string()))
            elif token == _EOF:
                return nodes
            elif token == _LBRACK:
                nodes.append(self.parse_func())
            else:
                raise EnvsubstError(BAD_SUBSTITUTION)

    def parse_func(self) -> Node:
        s = self.scanner
        if s.peek() == "#":
            return self.parse_len_func()
        s.accept = _accept_ident
        s.mode = SCAN_IDENT
        if s.scan() != _IDENT:
            raise EnvsubstError(PARSE_VARIABLE_NAME)
        name = s.string()
        following = s.peek()
        if following == ":":
            return self.parse_default_or_substr(name)
        if following == "=":
            return self.parse_default_func(name)
        if following in (",", "^"):
            return self.parse_simple_func(name, _accept_casing_func)
        if following == "/":
            return self.parse_replace_func(name)
        if following == "#":
            return self.parse_remove_func(name, _accept_hash_func)
        if following == "%":
            return self.parse_remove_func(name, _accept_percent_func)
        s.accept = _accept_ident
        s.mode = SCAN_RBRACK
        if s.scan() == _RBRACK:
            return Func(param=name)
        raise EnvsubstError(MISSING_CLOSING_BRACE)

    def parse_param(self, accept: Accept, mode: int) -> Node:
        s = self.scanner
        s.accept = accept
        s.mode = mode | SCAN_LBRACK
        token = s.scan()
        if token == _LBRACK:
            return self.parse_func()
        if token in (_IDENT, _RBRACK):
            return Text(s.string())
        raise EnvsubstError(PARSE_FUNC_SUBSTITUTION)

    def parse_default_or_substr(self, name: str) -> Node:
        s = self.scanner
        s.read()
        r = s.peek()
        s.unread()
        if r in ("=", "-", "?", "+"):
            return self.parse_default_func(name)
        return self.parse_substr_func(name)

    def _func_name(self, node: Func, accept: Accept, error: str) -> None:
        s = self.scanner
        s.accept = accept
        s.mode = SCAN_IDENT
        if s.scan() != _IDENT:
            raise EnvsubstError(error)
        node.name = s.string()

    def parse_substr_func(self, name: str) -> Node:
        node = Func(param=name)
        self._func_name(node, _accept_one_colon, BAD_SUBSTITUTION)
        node.args.append(self.parse_param(_reject_colon_close, SCAN_IDENT))
        s = self.scanner
        s.accept = _accept_colon
        s.mode = SCAN_IDENT | SCAN_RBRACK
        token = s.scan()
        if token == _RBRACK:
            return node
        if token != _IDENT:
            raise EnvsubstError(BAD_SUBSTITUTION)
        node.args.append(self.parse_param(_accept_not_closing, SCAN_IDENT))
        self.consume_rbrack()
        return node

    def parse_remove_func(self, name: str, accept: Accept) -> Node:
        node = Func(param=name)
        self._func_name(node, accept, BAD_SUBSTITUTION)
        node.args.append(self.parse_param(_accept_not_closing, SCAN_IDENT))
        self.consume_rbrack()
        return node

    def parse_replace_func(self, name: str) -> Node:
        node = Func(param=name)
        self._func_name(node, _accept_replace_func, BAD_SUBSTITUTION)
        node.args.append(self.parse_param(_accept_not_slash, SCAN_IDENT | SCAN_ESCAPE))
        s = self.scanner
        s.accept = _accept_slash
        s.mode = SCAN_IDENT
        if s.scan() != _IDENT:
            raise EnvsubstError(BAD_SUBSTITUTION)
        if s.peek() == "}":
            self.consume_rbrack()
            return node
        node.args.append(self.parse_param(_accept_not_closing, SCAN_IDENT | SCAN_ESCAPE))
        self.consume_rbrack()
        return node

    def parse_default_func(self, name: str) -> Node:
        node = Func(param=name)
        s = self.scanner
        accept = _accept_one_equal if s.peek() == "=" else _accept_default_func
        self._func_name(node, accept, PARSE_DEFAULT_FUNCTION)
        while True:
            if s.peek() == "}":
                self.consume_rbrack()
                return node
            node.args.append(self.parse_param(_accept_not_closing, SCAN_IDENT))

    def parse_simple_func(self, name: str, accept: Accept) -> Node:
        node = Func(param=name)
        self._func_name(node, accept, BAD_SUBSTITUTION)
        self.consume_rbrack()
        return node

    def parse_len_func(self) -> Node:
        node = Func(param="")
        self._func_name(node, _accept_one_hash, BAD_SUBSTITUTION)
        s = self.scanner
        s.accept = _accept_ident
        s.mode = SCAN_IDENT
        if s.scan() != _IDENT:
            raise EnvsubstError(BAD_SUBSTITUTION)
        node.param = s.string()
        self.consume_rbrack()
        return node

    def consume_rbrack(self) -> None:
        self.scanner.mode = SCAN_RBRACK
        if self.scanner.scan() != _RBRACK:
            raise EnvsubstError(BAD_SUBSTITUTION)


def parse(text: str) -> list[Node]:
    """The template's nodes, or :class:`EnvsubstError` with drone/envsubst's message."""
    return _Parser(text).parse_any()


# ---- funcs.go ----------------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _from_utf8(data: bytes) -> str:
    # Go slices bytes and may cut a character; Go's JSON decoder later reads such bytes as U+FFFD.
    return data.decode("utf-8", "replace")


def _go_atoi(text: str) -> int | None:
    """strconv.Atoi: optional sign, decimal digits only."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    return int(text)


def _to_substr(s: str, args: list[str]) -> str:
    data = _utf8(s)
    if not args:
        return s
    pos = _go_atoi(args[0])
    if pos is None:
        return s
    if pos < 0:
        pos = max(len(data) + pos, 0)
    if len(args) == 1:
        return _from_utf8(data[pos:]) if pos < len(data) else ""
    length = _go_atoi(args[1])
    if length is None:
        return s
    if pos + length >= len(data):
        return _from_utf8(data[pos:]) if pos < len(data) else ""
    return _from_utf8(data[pos : pos + length])


def _first(s: str, change: Callable[[str], str]) -> str:
    return change(s[0]) + s[1:] if s else s


def _replace_prefix(s: str, args: list[str]) -> str:
    if len(args) != 2:
        return s
    return s.replace(args[0], args[1], 1) if s.startswith(args[0]) else s


def _replace_suffix(s: str, args: list[str]) -> str:
    if len(args) != 2:
        return s
    if s.endswith(args[0]):
        s = s[: len(s) - len(args[0])] if args[0] else s
        s = s + args[1]
    return s


def _replace(s: str, args: list[str], count: int) -> str:
    if not args:
        return s
    new = args[1] if len(args) > 1 else ""
    return s.replace(args[0], new, count) if count > 0 else s.replace(args[0], new)


def _to_default(s: str, args: list[str]) -> str:
    if not s and args:
        return "".join(args)
    return s


def apply(name: str, value: str, args: list[str]) -> str:
    """funcs.go's function for ``name`` (template.go's ``lookupFunc``) applied to ``value``."""
    if name == ",":
        return _first(value, str.lower)
    if name == ",,":
        return value.lower()
    if name == "^":
        return _first(value, str.upper)
    if name == "^^":
        return value.upper()
    if name == "#" and not args:
        return str(len(_utf8(value)))
    if name in ("#", "##", "%", "%%"):
        raise UnsupportedFunction(f"${{...{name}...}} matches with Go's path.Match (not ported)")
    if name == ":":
        return _to_substr(value, args)
    if name == "/#":
        return _replace_prefix(value, args)
    if name == "/%":
        return _replace_suffix(value, args)
    if name == "/":
        return _replace(value, args, 1)
    if name == "//":
        return _replace(value, args, -1)
    return _to_default(value, args)


def execute(nodes: list[Node], mapping: Callable[[str], str]) -> str:
    """template.go's ``Execute``: arguments first, then the parameter, then the function."""
    pieces: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            pieces.append(node.value)
            continue
        args = [execute([arg], mapping) for arg in node.args]
        value = mapping(node.param)
        pieces.append(apply(node.name, value, args))
    return "".join(pieces)


def eval_text(text: str, mapping: Callable[[str], str]) -> str:
    """``envsubst.Eval``: parse, then execute (raises :class:`EnvsubstError`)."""
    return execute(parse(text), mapping)
