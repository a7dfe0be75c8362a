"""The one exception type for a user's mistake.

`UserError` is an `invoke.Exit`: raised anywhere (a task or a plain function under it),
Invoke prints the message to stderr and exits with its code, without a traceback.
Plain functions raise it too, so tests can call them directly and catch it.
"""

from __future__ import annotations

from collections.abc import Iterable

from invoke import Exit

LONG_WORD = 200  # a longer run of non-space characters is shortened in a message

# The command the user runs the tasks with. Hints say `inv ...` (a monorepo's tasks.py loads
# the suite); run as its own program, they name that program instead.
_program = "inv"


def set_program(name: str) -> None:
    """From now on, this process's messages name `name` in their hints (`lomash setup`)."""
    global _program
    _program = name


def as_typed(text: str) -> str:
    """`text` with each command it names (`inv ...` in backticks, or `inv ...` opening a line:
    "inv setup stopped at step ...") naming the program this run was started as."""
    if _program == "inv":
        return text
    import re

    return re.sub(r"(^|`)inv (?=[a-z-])", rf"\g<1>{_program} ", text, flags=re.MULTILINE)


def clean(text: str) -> str:
    """A message safe to print: secrets masked, control characters shown as escapes (a pasted
    name cannot move the cursor or recolour the terminal), overlong words shortened, hints
    naming the program run (`as_typed`)."""
    import re

    from lomash_tasks import masking

    text = as_typed(masking.mask(str(text)))
    text = re.sub(
        r"[\x00-\x08\x0b-\x1f\x7f-\x9f]",
        lambda m: m.group(0).encode("unicode_escape").decode("ascii"),
        text,
    )
    return re.sub(
        rf"\S{{{LONG_WORD + 1},}}",
        lambda m: f"{m.group(0)[:60]}…({len(m.group(0))} characters)",
        text,
    )


class UserError(Exit):
    """A mistake the user can fix: one paragraph saying what went wrong and what to do.

    The message is cleaned when it is made (see `clean`): it is printed by Invoke itself."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message=clean(message.rstrip()), code=code)

    @property
    def text(self) -> str:
        return str(self.message)

    def __str__(self) -> str:  # Exit's own __str__ is empty
        return self.text


def suggest(name: str, choices: Iterable[str]) -> str:
    """' Did you mean X?' for the nearest choice, or ''."""
    import difflib

    if len(name) > 100:  # nothing is that long; difflib on it would only cost time
        return ""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


class LockBusy(UserError):
    """A lock (`helpers.owner_lock`) is held by another process; `.holder` names it when the
    lock file could say (a `helpers.Holder`, or None)."""

    def __init__(self, path: object, holder: object, message: str | None = None) -> None:
        self.path = path
        self.holder = holder
        super().__init__(message or f"{path} is held by {holder or 'another process'}.")


class PollTimeout(UserError):
    """`helpers.poll_until(..., what=)` ran out of time; `.last` is the last value it saw."""

    def __init__(self, what: str, timeout: float, last: object) -> None:
        self.what = what
        self.timeout = timeout
        self.last = last
        super().__init__(f"{what} did not happen within {timeout:g} s (last seen: {last!r}).")
