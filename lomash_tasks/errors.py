"""The one exception type for a user's mistake.

`UserError` is an `invoke.Exit`: raised anywhere (a task or a plain function under it),
Invoke prints the message to stderr and exits with its code, without a traceback.
Plain functions raise it too, so tests can call them directly and catch it.
"""

from __future__ import annotations

from typing import Iterable

from invoke import Exit


class UserError(Exit):
    """A mistake the user can fix: one paragraph saying what went wrong and what to do."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message=message.rstrip(), code=code)

    @property
    def text(self) -> str:
        return str(self.message)

    def __str__(self) -> str:  # Exit's own __str__ is empty
        return self.text


def suggest(name: str, choices: Iterable[str]) -> str:
    """' Did you mean X?' for the nearest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""
