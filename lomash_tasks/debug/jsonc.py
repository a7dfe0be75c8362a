"""JSON with comments (JSONC), as VS Code reads `launch.json`: `//` and `/* */` comments and
trailing commas are allowed. Errors name the line and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class JsoncError(ValueError):
    message: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


def strip(text: str) -> str:
    """`text` with comments and trailing commas blanked out; every position is kept.

    Comment characters become spaces (newlines stay), so a JSON error's line and column in the
    result are the same as in the original text.
    """
    out = list(text)
    i, n = 0, len(text)
    last_comma = None  # index of a comma not yet followed by a value
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    break  # an unterminated string: leave it for json to report
                i += 1
            i += 1
            last_comma = None
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "/":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if ch == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end < 0:
                line, col = _position(text, i)
                raise JsoncError("a /* comment is never closed", line, col)
            for j in range(i, end + 2):
                if out[j] != "\n":
                    out[j] = " "
            i = end + 2
            continue
        if ch == ",":
            last_comma = i
        elif ch in "]}":
            if last_comma is not None:
                out[last_comma] = " "
            last_comma = None
        elif not ch.isspace():
            last_comma = None
        i += 1
    return "".join(out)


def loads(text: str) -> Any:
    """Parse JSONC text; a `JsoncError` with the line and column when it is malformed."""
    if text.startswith("\ufeff"):
        text = text[1:]
    cleaned = strip(text)
    if not cleaned.strip():
        return None
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError as err:
        raise JsoncError(err.msg, err.lineno, err.colno) from None


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column
