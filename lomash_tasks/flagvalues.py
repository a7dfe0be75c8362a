"""Numbers given as flags or config values: a bad one is a UserError naming the flag."""

from __future__ import annotations

from typing import Any, Callable

from .errors import UserError


def number(value: Any, name: str, cast: Callable[[str], Any] = float,
           minimum: float | None = 0) -> Any:
    """`value` as a number (`cast`), at least `minimum`; a UserError naming `name` otherwise."""
    try:
        result = cast(str(value).strip())
    except (TypeError, ValueError):
        result = None
    if result is None or (minimum is not None and result < minimum):
        kind = "a whole number" if cast is int else "a number"
        floor = f" of at least {minimum:g}" if minimum is not None else ""
        raise UserError(f"{name} must be {kind}{floor}, not {value!r}.")
    return result
