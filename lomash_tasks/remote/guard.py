"""The production guard: `db.migrate --target production` needs `--yes` under CI, and asks for
the target's name to be typed otherwise. Destructive tasks never take a target at all."""

from __future__ import annotations

import sys

from lomash_tasks import console as _console
from lomash_tasks.errors import UserError
from lomash_tasks.remote.targets import Target


def confirm(target: Target, what: str, yes: bool, out: _console.Console | None = None) -> None:
    if not target.production or yes:
        return
    out = out or _console.get()
    if _console.in_ci():
        raise UserError(
            f"Target '{target.name}' is production: under CI, {what} needs --yes "
            f"(nothing was done)."
        )
    with out._lock:
        out.out.write(
            f"Target '{target.name}' is production: {what}. Type the target's name to go on: "
        )
        out.out.flush()
    answer = sys.stdin.readline() if sys.stdin is not None else ""
    if answer.strip() != target.name:
        raise UserError(
            f"Not confirmed (the answer was not '{target.name}'): nothing was done "
            f"on {target.name}."
        )
