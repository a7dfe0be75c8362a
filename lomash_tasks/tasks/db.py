"""db: create, migrate, inspect, seed and reset the services' PostgreSQL databases."""

from invoke import Collection, Exit

from lomash_tasks.errors import UserError
from lomash_tasks.lazy import lazy
from lomash_tasks.settings import DbSettings, StackSettings
from lomash_tasks.tasks.base import task
from lomash_tasks.values import TIMEOUT_HELP, number, timeout_flag

context = lazy("lomash_tasks.context")  # loaded on first use: `inv --list` stays fast
report = lazy("lomash_tasks.db.report")

SERVICE_HELP = "A service by alias or full name (repeatable); all database services when omitted."
TARGET_HELP = (
    "Act on this target from config `targets` (e.g. staging) instead of the local "
    "stack (default: local)."
)
ENV_HELP = (
    "Act on an environment's databases (config `environments`; `test`: each service's "
    "<database>_test and its .env.test) instead of development's."
)


def _cfg(c) -> DbSettings:
    return context.section(c, DbSettings)


def _environment(c, ws, env, target=None):
    """(the Environment of --env, the workspace it sees): development and `ws` by default."""
    from lomash_tasks.db import environments

    chosen = context.environment(c, env)
    if not chosen.is_default and target not in (None, "", "local"):
        raise UserError(
            f"--env {chosen.name} and --target {target} do not go together: an "
            f"environment's databases live on this machine's stack."
        )
    return chosen, environments.view(ws, chosen)


def _missing_locale(c) -> str:
    return context.section(c, StackSettings).missing_locale


def _say(out, outcome) -> None:
    """What init.sql's run decided (locales replaced, restarts needed) and left out."""
    for note in outcome.notes:
        out.warn(note)
    for skipped in outcome.skipped:
        out.warn(f"not applied: {skipped}")


@task(help={"env": ENV_HELP + " Its databases are made as init.sql makes the real ones."})
def init(c, env=None):
    """Create what init.sql creates and is missing (roles, databases, extensions, grants)."""
    from lomash_tasks.db import environments
    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    out = context.console(c)
    chosen, _ = _environment(c, ws, env)
    if not chosen.is_default:
        made = environments.ensure(ws, chosen, ws.registry.with_database, _missing_locale(c))
        out.table(
            ["service", "database", "result"],
            [
                [
                    e.service,
                    e.database,
                    "created as init.sql makes the real one" if e.created else "already there",
                ]
                for e in made
            ],
            title=f"db.init --env {chosen.name}",
        )
        out.ok(f"{sum(e.created for e in made)} {chosen.name} database(s) created.")
        return
    result = database.init(ws, missing_locale=_missing_locale(c))
    _say(out, result.detail)
    out.ok(f"{ws.relative(ws.init_sql)}: {result.detail.summary()} ({result.seconds:.2f}s).")


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "runner": "auto (the native runner: exact, fastest), prisma (the service's own CLI) "
        "or native (default: db.runner).",
        "jobs": "Services migrated at a time (default: db.jobs; 0 = all eight at once).",
        "mode": "deploy (apply pending migrations) or dev (create one from the schema, then "
        "apply it; needs one --service and --name).",
        "name": "With --mode dev: the new migration's name, e.g. add_wishlist_notes.",
        "retry_failed": "Mark failed migrations rolled back (as `db.resolve --rolled-back` "
        "does) and apply them again, after fixing them.",
        "target": TARGET_HELP,
        "via": "With --target: ecs (one-off ECS tasks running `prisma migrate deploy`), tunnel "
        "(this machine's runners through the target's tunnel) or auto (ECS when the "
        "target has it).",
        "yes": "With a production target: do not ask (required in CI).",
        "timeout": "Seconds each service's migration may run (default: db.timeout; on ECS "
        "the target's ecs.timeout, after which the task is stopped)." + TIMEOUT_HELP,
        "env": ENV_HELP + " Missing ones are made first, as init.sql makes the real ones.",
    },
)
def migrate(
    c,
    service=None,
    runner=None,
    jobs=None,
    mode="deploy",
    name=None,
    retry_failed=False,
    target=None,
    via="auto",
    yes=False,
    timeout=None,
    env=None,
):
    """Apply pending migrations per service (Prisma CLI or native runner)."""
    from lomash_tasks.db import environments
    from lomash_tasks.db import migrate as migrations

    ws = context.workspace(c)
    out = context.console(c)
    chosen, ews = _environment(c, ws, env, target)
    if not chosen.is_default:
        if mode != "deploy":
            raise UserError(
                f"--mode {mode} writes a new migration from the development "
                f"database: leave out --env {chosen.name}."
            )
        migrations.select(ws, service)  # a bad name is refused before anything is made
        environments.ensure(ws, chosen, migrations.select(ws, service)[0], _missing_locale(c))
        ws = ews
    cfg = _cfg(c)
    runner = runner or cfg.runner
    jobs = number(jobs if jobs is not None else cfg.jobs, "--jobs", int)
    limit = timeout_flag(timeout, None)  # None: on a target, its own ecs.timeout
    timeout = cfg.timeout if limit is None else limit
    if mode not in ("deploy", "dev"):
        raise UserError(
            f"Unknown --mode '{mode}': use deploy (apply pending migrations) or dev "
            f"(create a new migration from the schema)."
        )
    tgt = context.target(c, target, ws)
    if tgt is not None:
        if mode == "dev":
            raise UserError(
                "--mode dev writes a new migration from a local database: it never "
                "runs against a target. Create it locally, commit it, then deploy."
            )
        _migrate_remote(
            ws,
            tgt,
            out,
            service,
            via,
            yes,
            runner,
            jobs,
            limit,
            timeout,
            retry_failed,
            context.section(c, StackSettings).postgres_bindir,
        )
        return
    if mode == "dev":
        names = service or []
        if len(names) != 1 or not name:
            raise UserError(
                "--mode dev creates one migration for one service: pass exactly one "
                "--service and --name, e.g. `inv db.migrate --mode dev --service "
                "auth --name add_user_locale`."
            )
        svc = ws.registry.service(names[0])
        if not svc.has_database:
            raise UserError(f"{svc.name} has no database: no migrations to create.")
        migrations.check_reachable(ws)
        created = migrations.create_migration(ws, svc, name)
        out.ok(f"wrote {ws.relative(created.path)}")
        if runner == "auto":  # Prisma wrote it from the schema: Prisma applies it
            runner = "prisma"
    try:
        report = migrations.migrate(
            ws,
            service,
            runner=runner,
            jobs=jobs,
            timeout=timeout,
            retry_failed=retry_failed,
            out=out,
        )
    except migrations.Interrupted as stop:
        stop.report.print(out, title="db.migrate (interrupted)")
        raise UserError(
            "db.migrate was interrupted: the programs and statements in progress "
            "were stopped (see above for what each service got to). Run it again "
            "to apply what is pending.",
            code=130,
        ) from None
    report.print(out)
    if not report.ok:
        raise UserError(
            f"db.migrate: {len(report.failed)} of {len(report.results)} services "
            f"failed (see above)."
        )
    out.ok(f"{report.applied_count} migration(s) applied in {report.seconds:.2f}s.")


@task(
    help={
        "service": "The service (alias or full name) whose migration to resolve.",
        "applied": "Record this migration as applied without running it (you made its changes "
        "by hand); its failed rows are marked rolled back.",
        "rolled_back": "Mark this failed migration rolled back: the next db.migrate applies it "
        "again.",
        "json": "Print the result as JSON.",
        "target": TARGET_HELP + " Through its tunnel, audited (the rollback workflow's "
        "database-only path).",
        "yes": "With a production target: do not ask (required in CI).",
        "env": ENV_HELP,
    }
)
def resolve(
    c, service, applied=None, rolled_back=None, json=False, target=None, yes=False, env=None
):
    """Resolve a failed migration, as `prisma migrate resolve` does (works offline)."""
    from lomash_tasks.db.migrate import check_reachable
    from lomash_tasks.db.migrate.resolve import resolve as resolve_migration

    ws = context.workspace(c)
    out = context.console(c)
    _, ws = _environment(c, ws, env, target)
    svc = ws.registry.service(service)
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: no migrations to resolve.")
    tgt = context.target(c, target, ws)
    if tgt is not None:
        from lomash_tasks.remote import ops as remote

        result = remote.resolve(
            ws,
            tgt,
            svc,
            applied=applied,
            rolled_back=rolled_back,
            yes=yes,
            timeout=_cfg(c).timeout,
            out=out,
        )
    else:
        check_reachable(ws)
        result = resolve_migration(
            ws, svc, applied=applied, rolled_back=rolled_back, timeout=_cfg(c).timeout
        )
    if json:
        out.json(result.as_dict())
        return
    if result.action == "applied":
        out.ok(
            f"{svc.name}: {result.migration} recorded as applied (not run)"
            + (
                f"; {len(result.rolled_back)} failed row(s) marked rolled back."
                if result.rolled_back
                else "."
            )
        )
    else:
        out.ok(
            f"{svc.name}: {result.migration} marked rolled back; `inv db.migrate --service "
            f"{svc.alias}{' --target ' + target if tgt is not None else ''}` applies it "
            f"again."
        )


def _migrate_remote(
    ws, tgt, out, service, via, yes, runner, jobs, limit, local_limit, retry_failed, bindir=""
):
    from lomash_tasks.remote import ops as remote

    result = remote.migrate(
        ws,
        tgt,
        service,
        via=via,
        yes=yes,
        runner=runner,
        jobs=jobs,
        timeout=limit,
        tunnel_timeout=local_limit,
        retry_failed=retry_failed,
        out=out,
        bindir=bindir,
    )
    title = f"db.migrate --target {tgt.name} (via {result.via})"
    if result.report is not None:
        result.report.print(out, title=title)
        if not result.report.ok:
            raise UserError(
                f"db.migrate --target {tgt.name}: {len(result.report.failed)} of "
                f"{len(result.report.results)} services failed (see above)."
            )
        out.ok(f"{result.report.applied_count} migration(s) applied on {tgt.name}.")
        return

    from lomash_tasks.remote.ecs import TaskReport

    runs = TaskReport(result.tasks, title)
    runs.render(out)
    out.step_summary(runs.markdown())
    failed = [t for t in result.tasks if not t.ok]
    for t in failed:
        out.error(t.error or "", title=t.service)
    if failed:
        raise UserError(
            f"db.migrate --target {tgt.name}: {len(failed)} of {len(result.tasks)} "
            f"migration task(s) failed (see above)."
        )
    out.ok(f"{len(result.tasks)} migration task(s) exited 0 on {tgt.name}.")


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "json": "Print the state as JSON.",
        "target": TARGET_HELP,
        "env": ENV_HELP,
        "report_only": "Exit 0 with migrations pending, edited or missing (report without "
        "gating); a database that cannot be read or a failed migration still "
        "exits 1.",
    },
)
def status(c, service=None, json=False, target=None, env=None, report_only=False):
    """Show applied/pending/failed/edited migrations; exit 1 unless all up to date.

    Exits as `prisma migrate status` does: non-zero when any service has a migration pending,
    failed, edited after it was applied, or recorded but gone (a CI gate after db.migrate).
    """
    from lomash_tasks.db import migrate as migrations

    ws = context.workspace(c)
    out = context.console(c)
    chosen, ws = _environment(c, ws, env, target)
    tgt = context.target(c, target, ws)
    if tgt is not None:
        from lomash_tasks.remote import ops as remote

        states = remote.status(ws, tgt, service, out=None if json else out)
    else:
        migrations.select(ws, service)  # a bad name is refused before any connection
        migrations.check_reachable(ws)
        states = migrations.status(ws, service)
        if not chosen.is_default:
            from lomash_tasks.db import environments

            environments.mark_missing(ws, chosen, states)
    found = report.MigrationStatus(states)
    found.render(out, json=json)
    where = (
        f" --target {tgt.name}"
        if tgt is not None
        else (f" --env {chosen.name}" if not chosen.is_default else "")
    )
    failure = found.failure(where, report_only)
    if failure:
        raise UserError(failure)


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "profile": "A seed profile (demo, minimal, test, ...): each service's "
        "prisma/seed.<profile>.sql where it has one, else its usual seed with "
        "SEED_PROFILE=<profile> in the environment (default: none; an environment's "
        "seed_profile with --env).",
        "env": ENV_HELP,
    },
)
def seed(c, service=None, profile=None, env=None):
    """Load development data by each service's own seed; safe to repeat.

    A service's seed is its prisma/seed.sql, else Prisma's seed command (prisma.config.ts
    migrations.seed, package.json prisma.seed), else its db:seed script.
    """
    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    out = context.console(c)
    chosen, ws = _environment(c, ws, env)
    profile = chosen.seed_profile if profile is None else profile
    limit = _cfg(c).seed_timeout
    results = database.seed(ws, service, timeout=limit, profile=profile)
    rows = [
        [
            r.service,
            r.source or "-",
            r.inserted,
            f"{r.seconds:.2f}s",
            "failed" if r.error else r.result_text,
        ]
        for r in results
    ]
    title = "db.seed" + (f" --profile {profile}" if profile else "")
    out.table(["service", "seed", "rows inserted", "time", "result"], rows, title=title)
    failed = [r for r in results if not r.ok]
    for r in failed:
        out.error(r.error or "", title=r.service)
    if failed:
        raise UserError(
            f"db.seed: {len(failed)} of {len(results)} service(s) not seeded (see above)."
        )
    out.ok(f"{sum(r.inserted for r in results)} row(s) inserted.")


@task(
    help={
        "service": "The service whose database is dropped and recreated (alias or name).",
        "yes": "Do not ask for confirmation (required in CI).",
        "allow_remote": "Allow a database server that is not on this machine.",
        "runner": "Migration runner after recreating: auto, prisma or native.",
        "env": ENV_HELP + " Cheap: a copy of the service's template database (made "
        "once per change of init.sql or its migrations), then seeded "
        "with the environment's seed profile.",
        "profile": "With --env: the seed profile (default: the environment's).",
    }
)
def reset(c, service, yes=False, allow_remote=False, runner=None, env=None, profile=None):
    """Drop, recreate, migrate and seed one service's database."""
    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    out = context.console(c)
    svc = ws.registry.service(service)
    cfg = _cfg(c)
    chosen, _ = _environment(c, ws, env)
    if not chosen.is_default:
        _reset_environment(c, ws, chosen, svc, yes, runner or cfg.runner, profile, out)
        return
    if profile is not None:
        raise UserError(
            "--profile goes with --env (a development reset seeds with the usual "
            "seed; `inv db.seed --profile NAME` seeds another profile)."
        )
    result = database.reset(
        ws,
        svc,
        yes=yes,
        allow_remote=allow_remote,
        runner=runner or cfg.runner,
        timeout=cfg.timeout,
        out=out,
        missing_locale=_missing_locale(c),
    )
    _say(out, result.init.detail if result.init else "")
    m = result.migrate
    if not m.ok:
        raise UserError(
            f"db.reset: {svc.database} was recreated but migrating it failed: {m.error}"
        )
    if result.seed is not None and not result.seed.ok:
        raise UserError(
            f"db.reset: {svc.database} was recreated and migrated but seeding "
            f"failed: {result.seed.error}"
        )
    seeded = f", {result.seed.inserted} seed rows" if result.seed else ""
    out.ok(
        f"{svc.database} recreated: {len(m.applied)} migration(s){seeded} ({result.seconds:.2f}s)."
    )


def _reset_environment(c, ws, chosen, svc, yes, runner, profile, out) -> None:
    from lomash_tasks.db import environments

    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: nothing to reset.")
    name = chosen.database(svc.database or "")
    if not out.confirm(
        f"Drop {chosen.name} database {name} (its data is lost), then make it "
        f"again from {svc.alias}'s template and seed it?",
        yes,
    ):
        if not out.interactive:
            raise UserError(
                f"db.reset drops database {name} and needs confirmation: pass "
                f"--yes (nothing was dropped)."
            )
        raise UserError(f"Not confirmed: database {name} was left as it was.")
    cfg = _cfg(c)
    result = environments.reset(
        ws,
        chosen,
        svc,
        runner=runner,
        timeout=cfg.timeout,
        profile=profile,
        missing_locale=_missing_locale(c),
        seed_timeout=cfg.seed_timeout,
    )
    if not result.ok:
        raise UserError(f"db.reset --env {chosen.name}: {result.error}")
    made = " (its template made first)" if result.template_made else ""
    seeded = (
        f", {result.seed.inserted} seed rows ({result.seed.source})"
        if result.seed is not None and result.seed.source
        else ""
    )
    out.ok(f"{name} made from its template{made}{seeded} ({result.seconds:.2f}s).")


@task(
    help={
        "service": "The service (alias or full name) whose database to open.",
        "target": TARGET_HELP,
    }
)
def psql(c, service, target=None):
    """Open psql as the service's role in its database."""
    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    svc = ws.registry.service(service)
    bindir = context.section(c, StackSettings).postgres_bindir
    tgt = context.target(c, target, ws)
    if tgt is not None:
        from lomash_tasks.remote import ops as remote

        code = remote.psql(ws, tgt, svc, bindir=bindir)
    else:
        code = database.run_psql(ws, svc, bindir=bindir)
    if code:
        raise Exit(code=code)


@task(
    help={
        "service": "The service (alias or full name).",
        "reveal": "Print the password unmasked (masked by default; never with --target).",
        "target": TARGET_HELP + " Read from the target's Secrets Manager secret.",
    }
)
def url(c, service, reveal=False, target=None):
    """Print a service's DATABASE_URL (password masked)."""
    from urllib.parse import urlsplit, urlunsplit

    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    out = context.console(c)
    svc = ws.registry.service(service)
    tgt = context.target(c, target, ws)
    if tgt is not None:
        if reveal:
            raise UserError(
                f"--reveal is refused with --target: a target's credentials are "
                f"never printed. Read the secret {tgt.secret_name(svc)} with your "
                f"own AWS access if you need it."
            )
        from lomash_tasks.remote import ops as remote

        value = remote.database_url(ws, tgt, svc)
    else:
        value = database.url(ws, svc)
    if reveal:
        out.print_raw(value)
        return
    parts = urlsplit(value)
    netloc = (
        parts.netloc.replace(f":{parts.password}@", ":****@", 1) if parts.password else parts.netloc
    )
    out.print(urlunsplit(parts._replace(netloc=netloc)))


@task(
    iterable=["service"],
    help={
        "service": SERVICE_HELP,
        "exit_code": "Exit 2 when anything differs, 1 on an error, 0 when nothing does "
        "(as `prisma migrate diff --exit-code`).",
        "json": "Print each service's comparison as JSON.",
        "prisma": "Compare the schema with the migrations through each service's Prisma CLI "
        "where it runs here (--no-prisma: the database only).",
        "env": ENV_HELP,
    },
)
def diff(c, service=None, exit_code=False, json=False, prisma=True, env=None):
    """Compare schema, migrations and database per service; changes nothing.

    The database against its migrations: pending, failed, edited and gone migrations, and
    drift (its catalog against the applied migrations replayed in a shadow database). The
    schema against the migrations: `prisma migrate diff` where the service's Prisma CLI runs.
    """
    from lomash_tasks.db import diff as comparison

    ws = context.workspace(c)
    out = context.console(c)
    _, ws = _environment(c, ws, env)
    results = comparison.diff(ws, service, prisma=prisma, timeout=_cfg(c).timeout)
    if json:
        out.json([r.as_dict() for r in results])
    else:
        report.diff_table(out, results)
    errors = [r for r in results if r.error]
    differ = [r for r in results if r.differs]
    if errors:
        raise UserError(
            f"db.diff: {len(errors)} of {len(results)} service(s) could not be "
            f"compared (see above)."
        )
    if differ and exit_code:
        raise UserError(
            f"db.diff: {', '.join(r.service for r in differ)} differ(s) (see above).", code=2
        )
    if json:
        return
    if differ:
        out.info(
            f"{len(differ)} of {len(results)} service(s) differ (--exit-code exits 2 for that)."
        )
    else:
        out.ok(f"No differences in {len(results)} service(s).")


@task(
    help={
        "service": "The service (alias or full name) whose database already has the schema.",
        "yes": "Do not ask before recording (required in CI).",
        "json": "Print the result as JSON.",
        "env": ENV_HELP,
    }
)
def baseline(c, service, yes=False, json=False, env=None):
    """Record every migration as applied on a database that already has their schema.

    Refused unless the database's schema is exactly what the migrations make (each difference
    named); rows are written as `prisma migrate resolve --applied` writes them.
    """
    from lomash_tasks.db.baseline import baseline as record

    ws = context.workspace(c)
    out = context.console(c)
    _, ws = _environment(c, ws, env)
    svc = ws.registry.service(service)
    result = record(ws, svc, yes=yes, out=out, timeout=_cfg(c).timeout)
    if json:
        out.json(result.as_dict())
        return
    if not result.recorded:
        out.ok(
            f"{svc.name}: every migration is recorded in {result.database} already: "
            f"nothing to baseline."
        )
        return
    out.ok(
        f"{svc.name}: {len(result.recorded)} migration(s) recorded as applied in "
        f"{result.database} (its {result.tables} table(s) match them; nothing was run): "
        f"{', '.join(result.recorded)}."
    )


@task(help={"timeout": "Seconds to wait (default: db.wait_timeout)." + TIMEOUT_HELP})
def wait(c, timeout=None):
    """Wait until PostgreSQL and its roles and databases are ready."""
    from lomash_tasks.db import ops as database

    ws = context.workspace(c)
    out = context.console(c)
    limit = timeout_flag(timeout, _cfg(c).wait_timeout)
    result = database.wait(ws, timeout=limit)
    out.ok(f"PostgreSQL at {result.address} is ready ({result.detail}, {result.elapsed:.2f}s).")


ns = Collection("db", init, migrate, resolve, status, diff, baseline, seed, reset, psql, url, wait)
ns.configure(DbSettings.defaults())
