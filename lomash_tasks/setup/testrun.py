"""`inv test`: each service's own test script, against its own test database.

    chosen = select(ws, services, kind)            # (service, its script) or why it is skipped
    result = run(ws, env, svc, script, kind, ...)  # one service: env file, database, script

For each service, in its environment (`test` unless config `test.env` says another):
1. its env file (`.env.test`) is made when missing, aligned with the stack as `env.copy --env
   test` makes it (an existing one is never rewritten);
2. its test database is reset (unit tests excepted): a copy of its template database, made once
   per change of init.sql or its migrations, seeded with the environment's seed profile;
3. its own script runs (`test:unit`, `test:integration`, `test:e2e`, or `test` without a kind),
   through its package manager, in its folder, with the env file's values in the environment
   (over the caller's: a developer's shell DATABASE_URL never reaches a test), NODE_ENV=test
   unless the file says otherwise, and a deadline (`test.timeout`).
Its exit code is the result; the output is streamed as it comes, one prefix per service.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

KINDS = ("unit", "integration", "e2e")
SCRIPTS = {
    "unit": ("test:unit",),
    "integration": ("test:integration", "test:int"),
    "e2e": ("test:e2e",),
    "": ("test",),
}


@dataclass
class TestRun:
    service: str
    script: str = ""
    code: int | None = None
    seconds: float = 0.0
    reset: Any = None  # environments.ResetResult
    env_file: str = ""  # the env file used (relative), and whether it was made now
    env_made: bool = False
    skipped: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and (self.skipped != "" or self.code == 0)

    @property
    def result_text(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.error:
            return f"failed: {self.error}"
        return "passed" if self.code == 0 else f"failed (exit {self.code})"


def check_kind(kind: str | None) -> str:
    value = (kind or "").strip().lower()
    if value and value not in KINDS:
        from lomash_tasks.errors import suggest

        raise UserError(
            f"Unknown --kind '{kind}'.{suggest(value, KINDS)} Kinds: "
            f"{', '.join(KINDS)} (the scripts test:unit, test:integration, "
            f"test:e2e); without --kind, each service's `test` script."
        )
    return value


def script_for(ws: Workspace, svc: Service, kind: str) -> str | None:
    scripts = ws.facts(svc).scripts
    return next((name for name in SCRIPTS[kind] if name in scripts), None)


def select(
    ws: Workspace, names: Iterable[str] | None, kind: str
) -> list[tuple[Service, str | None]]:
    """Each service with its script for `kind` (None: it has none). A service named on the
    command line without the script is a mistake, said with the scripts it has."""
    named = list(names or [])
    services = ws.registry.select(named) if named else list(ws.registry.services)
    chosen = [(svc, script_for(ws, svc, kind)) for svc in services]
    if named:
        for svc, script in chosen:
            if script is None:
                facts = ws.facts(svc)
                tests = [s for s in facts.scripts if s.startswith("test")]
                raise UserError(
                    f"{svc.name} has no {' or '.join(SCRIPTS[kind])} script in "
                    f"{facts.relative}/package.json (its test scripts: "
                    f"{', '.join(tests) or 'none'}). Add one, or pick another "
                    f"--kind."
                )
    return chosen


def command(ws: Workspace, svc: Service, script: str) -> list[str]:
    """`<package manager> run <script>` for the service (pnpm as the workspace pins it)."""
    manager = ws.facts(svc).installer.manager
    exe = commands.pnpm_path() if manager == "pnpm" else commands.which(manager)
    if exe is None:
        raise UserError(
            f"{manager} is not installed: it runs {svc.name}'s scripts. Install "
            f"it (`make install` puts pnpm in tools/), or run `inv setup --only deps`."
        )
    return [exe, "run", script]


def environment(ws: Workspace, svc: Service, env_file: Path) -> dict[str, str]:
    """The caller's environment, NODE_ENV=test, the env file's values over both, and the
    service's own `node_modules/.bin` first on PATH."""
    from lomash_tasks.env import files as envfiles

    env = dict(os.environ)
    env["NODE_ENV"] = "test"  # whatever the shell says; the env file may say otherwise
    if env_file.is_file():
        env.update(envfiles.read_env(env_file).as_dict())
    bins = [ws.facts(svc).node_modules / ".bin"]
    env["PATH"] = os.pathsep.join([str(b) for b in bins if b.is_dir()] + [env.get("PATH", "")])
    env.pop("FORCE_COLOR", None)
    return env


def run(
    ws: Workspace,
    env: Any,
    svc: Service,
    script: str,
    kind: str,
    *,
    reset: bool = True,
    runner: str = "auto",
    timeout: float = 1800.0,
    db_timeout: float = 300.0,
    missing_locale: str = "compile",
    facts: Any = None,
    on_line: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> TestRun:
    """One service's tests (see the module docstring). An existing env file that disagrees
    with the stack (a port changed since it was made) is named through `on_warning`, never
    rewritten."""
    from lomash_tasks.db import environments
    from lomash_tasks.env import ops as envops

    began = time.monotonic()
    ews = environments.view(ws, env)
    mine = ews.registry.service(svc.name)
    pair = ews.env_pair(mine)
    result = TestRun(svc.name, script, env_file=ews.relative(pair.env))
    facts = facts or environments.stack_facts(ews, env)
    made = envops.copy_env(ews, [mine], facts=facts, dry=pair.env.is_file())
    result.env_made = not made[0].dry
    for change in made[0].drift if on_warning is not None else []:
        if on_warning and change.key in ("DATABASE_URL", "TEST_DATABASE_URL", "REDIS_URL", "PORT"):
            on_warning(
                f"{change.file}: {change.key} is {change.shown(change.old)}, but "
                f"{change.reason} (`inv env.copy --env {env.name} --align` sets it)"
            )
    if reset and mine.has_database and kind != "unit":
        result.reset = environments.reset(
            ws, env, svc, runner=runner, timeout=db_timeout, missing_locale=missing_locale
        )
        if not result.reset.ok:
            result.error = f"its {env.name} database could not be made: {result.reset.error}"
            result.seconds = time.monotonic() - began
            return result
    argv = command(ws, svc, script)
    try:
        done = commands.run(
            argv,
            cwd=ws.service_dir(svc),
            env=environment(ws, svc, pair.env),
            replace_env=True,
            timeout=timeout,
            check=False,
            on_line=on_line,
        )
        result.code = done.code
    except commands.CommandTimeout:
        result.error = (
            f"`{' '.join([Path(argv[0]).name, *argv[1:]])}` did not finish within "
            f"{timeout:g} s and was stopped (test.timeout)"
        )
    result.seconds = time.monotonic() - began
    return result
