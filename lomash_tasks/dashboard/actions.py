"""What the page's buttons do: each one runs the task itself, as `lomash TASK ...` would from a
terminal, with the dashboard's config (so every guard of the task holds: a non-local database
or Redis is refused, nothing is done without `--yes`, which the page passes only after the
developer typed the service's name).

    restart   services.restart --service S
    migrate   db.migrate --service S
    replay    stripe.replay FIXTURE              (a shipped fixture, to the order service)
    flush     cache.flush --service S --yes      destructive: the page asks first
    reset     db.reset --service S --yes         destructive: the page asks first

`check()` validates a request before anything runs (an unknown action or service, a service
without a database or cache, a destructive action not confirmed, a fixture not shipped);
`run()` runs the task and returns its exit code and masked output.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lomash_tasks import masking
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace

TIMEOUT = 900.0  # the task's own deadlines come first (db.timeout, start_timeout)
OUTPUT_LINES = 200


@dataclass(frozen=True)
class Action:
    name: str
    task: str
    title: str
    needs: str = "service"  # service | database | cache | fixture
    destructive: bool = False


ACTIONS = {
    a.name: a
    for a in (
        Action("restart", "services.restart", "Restart the service"),
        Action("migrate", "db.migrate", "Apply its pending migrations", needs="database"),
        Action(
            "replay", "stripe.replay", "Replay a Stripe event to the order service", needs="fixture"
        ),
        Action("flush", "cache.flush", "Empty its Redis index", needs="cache", destructive=True),
        Action(
            "reset",
            "db.reset",
            "Drop, recreate, migrate and seed its database",
            needs="database",
            destructive=True,
        ),
    )
}


@dataclass(frozen=True)
class Request:
    action: Action
    argv: list[str]  # the task and its flags
    label: str  # what it acts on (a service, a fixture)


@dataclass
class Result:
    action: str
    target: str
    ok: bool
    code: int
    command: str
    output: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(ws: Workspace, name: str, params: dict[str, Any], fixtures: list[str]) -> Request:
    """The task to run for a button; a UserError (nothing run) when the request is wrong."""
    action = ACTIONS.get(name)
    if action is None:
        raise KeyError(name)
    if action.needs == "fixture":
        fixture = str(params.get("fixture") or "")
        if fixture not in fixtures:
            raise UserError(
                f"Unknown fixture {fixture!r}: the page replays the shipped ones "
                f"({', '.join(fixtures)})."
            )
        return Request(action, [action.task, fixture], fixture)
    if not isinstance(params.get("service"), str) or not params["service"].strip():
        raise UserError(f"{action.name} needs a service (alias or full name).")
    svc = ws.registry.service(params["service"])  # an unknown name lists the valid ones
    if action.needs == "database" and not svc.has_database:
        raise UserError(f"{svc.name} has no database: nothing to {action.name}.")
    if action.needs == "cache" and not svc.has_cache:
        raise UserError(f"{svc.name} has no cache: it owns no Redis index.")
    argv = [action.task, "--service", svc.name]
    if action.destructive:
        typed = str(params.get("confirm") or "").strip()
        if typed not in (svc.name, svc.alias):
            raise UserError(
                f"{action.task} on {svc.name} destroys data: type the service's "
                f"name ({svc.alias}) to confirm. Nothing was done."
            )
        argv.append("--yes")  # the page asked; the task's other guards still hold
    return Request(action, argv, svc.name)


def command(config_file: Path, request: Request) -> list[str]:
    """`lomash -f CONFIG TASK ...` with this Python: the suite's own program."""
    return [
        sys.executable,
        "-m",
        "lomash_tasks.tasks.program",
        "-f",
        str(config_file),
        *request.argv,
    ]


def run(ws: Workspace, config_file: Path, request: Request) -> Result:
    from lomash_tasks import commands

    argv = command(config_file, request)
    shown = "inv " + " ".join(request.argv)
    began = time.monotonic()
    try:
        done = commands.run(argv, cwd=ws.root, timeout=TIMEOUT, check=False)
    except UserError as err:  # not started, or past the deadline
        return Result(
            request.action.name,
            request.label,
            False,
            -1,
            shown,
            masking.mask(err.text),
            time.monotonic() - began,
        )
    text = "\n".join(
        (done.stdout + ("\n" if done.stdout and done.stderr else "") + done.stderr)
        .strip()
        .splitlines()[-OUTPUT_LINES:]
    )
    return Result(
        request.action.name,
        request.label,
        done.code == 0,
        done.code,
        shown,
        masking.mask(text),
        time.monotonic() - began,
    )
