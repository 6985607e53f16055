"""What the console refuses before it touches storage."""

from __future__ import annotations


class ConsoleError(Exception):
    """Something the operator must fix (a file, an option); the message says what and where."""


class FileFormatError(ConsoleError):
    """An input file that is neither JSON lines nor the portal's bulk-invite CSV."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}, line {line}: {message}")
        self.path = path
        self.line = line
