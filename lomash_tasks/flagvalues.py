"""Numbers given as flags or config values: a bad one is a UserError naming the flag."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from lomash_tasks.errors import UserError


def number(
    value: Any, name: str, cast: Callable[[str], Any] = float, minimum: float | None = 0
) -> Any:
    """`value` as a number (`cast`), at least `minimum`; a UserError naming `name` otherwise."""
    try:
        result = cast(str(value).strip())
    except (TypeError, ValueError):
        result = None
    if result is not None and not math.isfinite(result):
        result = None  # nan and inf are no deadline and no count
    if result is None or (minimum is not None and result < minimum):
        kind = "a whole number" if cast is int else "a number"
        floor = f" of at least {minimum:g}" if minimum is not None else ""
        raise UserError(f"{name} must be {kind}{floor}, not {value!r}.")
    return result


def seconds(value: Any, name: str) -> float:
    """A deadline in seconds: a finite number greater than 0 (0 or less would never wait)."""
    try:
        result = number(value, name, minimum=None)
    except UserError:
        result = None
    if result is None or result <= 0:
        raise UserError(f"{name} must be a number of seconds greater than 0, not {value!r}.")
    return result
