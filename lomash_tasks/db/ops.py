"""The databases themselves: init, seed, reset, psql, URLs, readiness.

Public entry points (plain functions; `tasks/db.py` is a thin layer over them):

    init(ws) -> InitResult                              create what init.sql creates and is missing
    seed(ws, names=None, timeout=60) -> [SeedResult]     seed per service (see db/seeds.py)
    reset(ws, svc, yes=False, allow_remote=False, runner="auto", out=None) -> ResetResult
    url(ws, svc) -> str                                  the service's DATABASE_URL (host side)
    psql_command(ws, svc) -> (argv, env)                 an interactive psql as the service role
    wait(ws, timeout=60) -> probes.ProbeResult           PostgreSQL ready (roles, databases)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lomash_tasks import connections
from lomash_tasks.console import Console
from lomash_tasks.db.seeds import SeedResult, seed_one
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.stack.pgtools import find_psql
from lomash_tasks.workspace import Workspace


# -- init ---------------------------------------------------------------------------------------
@dataclass
class InitResult:
    seconds: float
    detail: Any = None  # the initsql.InitOutcome

    @property
    def status(self) -> str:
        changed = getattr(self.detail, "changed", None)
        if changed is None and isinstance(self.detail, dict):
            changed = self.detail.get("changed")
        if changed is None:
            return "done"
        return "done" if changed else "already done"


def init(ws: Workspace, timeout: float = 60.0, missing_locale: str = "compile") -> InitResult:
    """Create what infra/docker/postgres/init.sql creates and the server lacks (roles,
    databases with their grants, extensions and sections) as the superuser, and sync each
    role's password from its env file. On an initialised cluster nothing runs, whatever the
    script's idempotence."""
    from lomash_tasks.db.migrate import check_reachable

    if not ws.init_sql.is_file():
        raise UserError(
            f"{ws.relative(ws.init_sql)} does not exist: the workspace has no database init script."
        )
    check_reachable(ws)
    from lomash_tasks.stack import initsql as dbinit

    began = time.monotonic()
    detail = dbinit.apply(ws, timeout=timeout, missing_locale=missing_locale)
    return InitResult(time.monotonic() - began, detail)


# -- seed ---------------------------------------------------------------------------------------
def seed(
    ws: Workspace, names: Iterable[str] | None = None, timeout: float = 60.0, profile: str = ""
) -> list[SeedResult]:
    """Seed the named (default: all) database services; the gateway, when named, is skipped.
    `profile`: each service's `seed.<profile>.sql` where it has one (see db/seeds.py)."""
    from lomash_tasks.db.migrate import check_reachable, select
    from lomash_tasks.db.seeds import check_profile

    profile = check_profile(profile)
    services, without = select(ws, names)
    skipped = [SeedResult(s.name, skipped="has no database") for s in without]
    if not services:
        return skipped
    check_reachable(ws)
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        done = list(pool.map(lambda s: seed_one(ws, s, timeout, profile), services))
    order = {s.name: i for i, s in enumerate(ws.registry.services)}
    return sorted(done + skipped, key=lambda r: order.get(r.service, 99))


# -- reset --------------------------------------------------------------------------------------
@dataclass
class ResetResult:
    service: str
    database: str
    init: InitResult | None = None
    migrate: Any = None  # migrate.MigrateResult
    seed: SeedResult | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(
            self.migrate is not None and self.migrate.ok and (self.seed is None or self.seed.ok)
        )

    @property
    def status(self) -> str:
        return "done" if self.ok else "failed"


def drop_database(ws: Workspace, svc: Service, timeout: float = 10.0) -> bool:
    """DROP DATABASE ... WITH (FORCE) as the superuser; True when it existed. No questions
    asked: callers confirm first (see `reset`)."""
    from psycopg import sql

    with connections.pg_connect(ws, superuser=True, timeout=timeout, autocommit=True) as conn:
        existed = (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (svc.database,)).fetchone()
            is not None
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(svc.db))
        )
    return existed


def migration_extensions(ws: Workspace, svc: Service) -> set[str]:
    """The extensions the service's migrations create themselves."""
    from lomash_tasks.stack.initsql.script import EXTENSION, read

    folder = ws.migrations_dir(svc)
    found: set[str] = set()
    for path in sorted(folder.glob("*/migration.sql")) if folder.is_dir() else []:
        found |= {s.targets[0] for s in read(path).of_kind(EXTENSION)}
    return found


def reset(
    ws: Workspace,
    svc: Service,
    yes: bool = False,
    allow_remote: bool = False,
    runner: str = "auto",
    timeout: float = 300.0,
    with_seed: bool = True,
    out: Console | None = None,
    missing_locale: str = "compile",
) -> ResetResult:
    """Drop and recreate one service's database (per init.sql), migrate it and seed it.

    First checks that init.sql can rebuild it (its CREATE DATABASE, the extensions it has now
    made again by its sections or migrations, those extensions and its locale on the server);
    drops nothing when it cannot. Asks first unless `yes` (never prompts in CI: then a
    UserError says to pass --yes) and refuses a non-local server unless `allow_remote`.
    """
    from lomash_tasks import console as _console
    from lomash_tasks.db import migrate
    from lomash_tasks.stack import initsql as dbinit

    out = out or _console.get()
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: nothing to reset.")
    pg = ws.registry.postgres
    connections.refuse_remote(pg.host, f"drop database {svc.database}", allow_remote)
    if not ws.init_sql.is_file():
        raise UserError(
            f"{ws.relative(ws.init_sql)} does not exist: db.reset recreates the "
            f"database from it, so nothing was dropped."
        )
    if not yes and not out.interactive:  # nobody to ask: refuse before touching the server
        raise UserError(
            f"db.reset drops database {svc.database} and needs confirmation: "
            f"pass --yes to confirm (nothing was dropped)."
        )
    migrate.check_reachable(ws)
    rebuild = dbinit.check_rebuild(
        ws, svc.database or "", missing_locale, migration_extensions(ws, svc)
    )
    question = (
        f"Drop database {svc.database} on {pg.address} (all its data is lost), then "
        f"recreate, migrate and seed it?"
    )
    if not out.confirm(question, yes):
        if not out.interactive:
            raise UserError(
                f"db.reset drops database {svc.database} and needs confirmation: "
                f"pass --yes to confirm (nothing was dropped)."
            )
        raise UserError(f"Not confirmed: database {svc.database} was left as it was.")
    began = time.monotonic()
    result = ResetResult(svc.name, svc.db)
    drop_database(ws, svc)
    try:
        detail = dbinit.apply_plan(ws, rebuild, missing_locale=missing_locale)
    except UserError as err:
        raise UserError(
            f"{svc.database} was dropped, but making it again failed:\n{err.text}\n"
            f"Once that is fixed, `inv db.init` creates it and `inv db.migrate "
            f"--service {svc.alias}` migrates it."
        ) from None
    result.init = InitResult(time.monotonic() - began, detail)
    report = migrate.migrate(ws, [svc.name], runner=runner, jobs=1, timeout=timeout)
    result.migrate = report.results[0]
    if with_seed and result.migrate.ok:
        result.seed = seed_one(ws, svc)
    result.seconds = time.monotonic() - began
    return result


# -- psql and URLs ------------------------------------------------------------------------------
def url(ws: Workspace, svc: Service) -> str:
    """The service's host-reachable DATABASE_URL (with its password: print it masked)."""
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database, so it has no DATABASE_URL.")
    return connections.database_url(ws, svc)


def psql_command(ws: Workspace, svc: Service, bindir: str = "") -> tuple[list[str], dict[str, str]]:
    """argv and environment for an interactive psql as the service's role in its database.

    The password goes in PGPASSWORD (the environment), never on the command line."""
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database to open psql on.")
    login, env = connections.libpq_login(ws, svc, "lomash-tasks psql")
    return [str(find_psql(bindir)), *login], env


def run_psql(ws: Workspace, svc: Service, bindir: str = "", extra: Iterable[str] = ()) -> int:
    """Run psql attached to this terminal; its exit code."""
    from lomash_tasks import commands

    argv, env = psql_command(ws, svc, bindir)
    return commands.interactive(argv + list(extra), env=env)


# -- readiness ----------------------------------------------------------------------------------
def wait(ws: Workspace, timeout: float = 60.0) -> Any:
    """Wait until PostgreSQL accepts the superuser and every role and database exists."""
    from lomash_tasks.stack import probes

    return probes.wait_for(ws, "postgres", timeout=timeout)
