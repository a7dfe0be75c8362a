"""test: each service's own test script against its own test database."""

import functools
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import DbSettings, EnvSettings, StackSettings, TestSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, timeout_flag

context = lazy("lomash_tasks.context")  # loaded on first use: `inv --list` stays fast


@task(
    iterable=["service"],
    help={
        "service": "A service by alias or full name (repeatable); every service with the script "
        "when omitted.",
        "kind": "unit, integration or e2e: the service's test:unit, test:integration or test:e2e "
        "script (default: its `test` script).",
        "env": "The environment whose databases and env files the tests use (default: test.env, "
        "i.e. test).",
        "reset": "Reset each service's test database first (a copy of its template, seeded); "
        "--no-reset keeps its data (unit tests never touch it).",
        "runner": "Migration runner for a template made now: auto, prisma or native.",
        "timeout": "Seconds one service's script may run (default: test.timeout)." + TIMEOUT_HELP,
    },
)
def test(c, service=None, kind=None, env=None, reset=True, runner=None, timeout=None):
    """Run services' own test scripts against their test databases (reset first)."""
    from lomash_tasks.db import environments
    from lomash_tasks.env import overlays
    from lomash_tasks.setup import testrun

    ws = context.workspace(c)
    out = context.console(c)
    cfg = context.section(c, TestSettings)
    kind = testrun.check_kind(kind)
    chosen_env = context.environment(c, env or cfg.env)
    if chosen_env.is_default:
        raise UserError(
            "inv test runs against an environment's own databases, never "
            "development's: pass --env test (or set test.env)."
        )
    limit = timeout_flag(timeout, cfg.timeout)
    db = context.section(c, DbSettings)
    overlay = context.section(c, EnvSettings).overlay
    facts = environments.stack_facts(
        environments.view(ws, chosen_env), chosen_env, overlays.load(overlay, ws.registry)
    )
    chosen = testrun.select(ws, service, kind)
    runnable = [(s, script) for s, script in chosen if script is not None]
    several = len(runnable) > 1
    results = []
    for svc, script in chosen:
        if script is None:
            results.append(
                testrun.TestRun(svc.name, skipped=f"no {' or '.join(testrun.SCRIPTS[kind])} script")
            )
            continue
        prefix = f"{svc.name} | " if several else ""
        with out.group(f"{svc.name}: {script}"):
            result = testrun.run(
                ws,
                chosen_env,
                svc,
                script,
                kind,
                reset=reset,
                runner=runner or db.runner,
                timeout=limit,
                db_timeout=db.timeout,
                facts=facts,
                missing_locale=context.section(c, StackSettings).missing_locale,
                on_line=functools.partial(_prefixed, out, prefix),
                on_warning=out.warn,
            )
        results.append(result)
    rows = []
    for r in results:
        database = "-"
        if r.reset is not None:
            made = ", template made" if r.reset.template_made else ""
            database = f"{r.reset.database} reset{made} ({r.reset.seconds:.2f}s)"
        rows.append(
            [
                r.service,
                r.script or "-",
                database,
                r.result_text,
                f"{r.seconds:.1f}s" if not r.skipped else "-",
            ]
        )
    out.table(
        ["service", "script", "database", "result", "time"],
        rows,
        title=f"test{' --kind ' + kind if kind else ''} ({chosen_env.name})",
    )
    failed = [r for r in results if not r.ok]
    for r in failed:
        out.error(r.result_text, title=r.service)
    if failed:
        raise UserError(f"test: {len(failed)} of {len(runnable)} service(s) failed (see above).")
    if not runnable:
        raise UserError(f"test: no service has a {' or '.join(testrun.SCRIPTS[kind])} script.")
    out.ok(f"{len(runnable)} service(s) passed.")


def _prefixed(out: Any, prefix: str, line: str) -> None:
    out.print(f"{prefix}{line}")
