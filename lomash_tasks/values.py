"""One reader for the values a user gives: config keys, `INVOKE_*` variables, flags.

Every kind of value is read here, the same way wherever it comes from: booleans, numbers,
whole numbers (in a range: ports), seconds, durations (`--timeout 90`, `90s`, `2m`), choices.
A value that cannot be read raises `BadValue`, a `UserError` in one style:

    <name> must be <what it takes>, not <the value given>.

`name` is what the user typed or set (`--timeout`, `db.timeout`); callers that know more about
where the value came from (the registry names its file; settings name the INVOKE_* variable)
frame the same `problem` with that context. Cheap to import: `inv --list` loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lomash_tasks.errors import UserError, suggest

D = TypeVar("D", float, None)
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
BOOLEAN_WORDS = ", ".join(w for pair in zip(TRUE_WORDS, FALSE_WORDS) for w in pair)
DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_EXAMPLES = "e.g. 90, 90s, 2m or 1.5"
TIMEOUT_HELP = f" A duration ({DURATION_EXAMPLES}); 0 is refused: it would give up at once."
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([smh]?)\s*$", re.IGNORECASE)


class BadValue(UserError):
    """A value that cannot be read: `name`, the `problem` ("must be …, not …") and a `hint`
    (" Did you mean 'x'?", or "")."""

    def __init__(self, name: str, problem: str, hint: str = "") -> None:
        self.name = name
        self.problem = problem
        self.hint = hint
        super().__init__(f"{name} {problem}.{hint}")

    @property
    def sentence(self) -> str:
        """The problem and its hint, for a caller that names the key itself."""
        return f"{self.problem}.{self.hint}"


def boolean(value: Any, name: str) -> bool:
    """True for true/yes/on/1, False for false/no/off/0 (any case); refused otherwise."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadValue(name, f"must be true or false ({BOOLEAN_WORDS}; any case), not {value!r}")


def number(
    value: Any, name: str, cast: Callable[[str], Any] = float, minimum: float | None = 0
) -> Any:
    """`value` as a finite number (`cast`: float or int), at least `minimum`."""
    result = _finite(value, cast)
    if result is None or (minimum is not None and result < minimum):
        kind = "a whole number" if cast is int else "a number"
        floor = f" of at least {minimum:g}" if minimum is not None else ""
        raise BadValue(name, f"must be {kind}{floor}, not {value!r}")
    return result


def whole(value: Any, name: str, low: int, high: int) -> int:
    """A whole number from `low` to `high` (a port, a Redis index)."""
    result = _finite(value, int)
    if result is None or not low <= result <= high:
        raise BadValue(name, f"must be a whole number from {low} to {high}, not {value!r}")
    return int(result)


def port(value: Any, name: str) -> int:
    return whole(value, name, 1, 65535)


def seconds(value: Any, name: str) -> float:
    """A deadline in seconds as config holds it: a finite number greater than 0 (0 or less
    would never wait)."""
    result = _finite(value, float)
    if result is None or result <= 0:
        raise BadValue(name, f"must be a number of seconds greater than 0, not {value!r}")
    return float(result)


def duration(value: Any, name: str) -> float:
    """Seconds from a duration as a user types it: 90, 90s, 2m, 1.5, 1h (greater than 0)."""
    found = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    result = float(found.group(1)) * DURATION_UNITS[found.group(2).lower()] if found else None
    if result is None or not 0 < result < math.inf:
        raise BadValue(
            name,
            f"must be a number of seconds greater than 0 ({DURATION_EXAMPLES}), not {value!r}",
        )
    return result


def timeout_flag(value: Any, default: D, name: str = "--timeout") -> float | D:
    """A `--timeout` flag: the configured `default` when not given; otherwise a duration
    (`duration`). 0 is refused, never read as "the default": every task's timeout is a
    deadline for something to happen, which 0 would give up on before it starts."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return duration(value, name)


def choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """One of `choices` (any case; returned as written there)."""
    options = list(choices)
    word = str(value).strip().lower() if isinstance(value, str) else None
    if word in options:
        return word
    shown = str(value).strip() if isinstance(value, str) else value
    raise BadValue(
        name, f"must be one of {', '.join(options)}, not {shown!r}", suggest(str(shown), options)
    )


def text(value: Any, name: str) -> str:
    """A string (a number is taken as its text; a boolean or a list is refused)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadValue(name, f"must be a string, not {value!r}")
    return str(value).strip()


def _finite(value: Any, cast: Callable[[str], Any]) -> Any:
    if isinstance(value, bool):
        return None
    try:
        result = cast(str(value).strip())
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None  # nan and inf are no deadline, no count
