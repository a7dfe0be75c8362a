"""Per-service database migrations: the Prisma CLI runner, the native runner, status.

Public entry points (plain functions over the typed model; `tasks/db.py` is a thin layer):

    migrate(ws, names, runner="auto", jobs=0, timeout=300, retry_failed=False, out=None)
        -> MigrateReport   (.results: [MigrateResult], .ok, .status "done"/"already done"/"failed")
    status(ws, names, timeout=5) -> [MigrationState]
    create_migration(ws, svc, name) -> NewMigration          (--mode dev)
"""

from __future__ import annotations

from collections.abc import Iterable

from lomash_tasks.console import Console
from lomash_tasks.db.migrate import native, prisma
from lomash_tasks.db.migrate.native import MigrationState
from lomash_tasks.db.migrate.prisma import NewMigration, create_migration
from lomash_tasks.db.migrate.runner import (
    DEFAULT_JOBS,
    Interrupted,
    MigrateReport,
    MigrateResult,
    run_all,
)
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

RUNNERS = ("auto", "prisma", "native")

__all__ = [
    "migrate",
    "status",
    "create_migration",
    "select",
    "check_reachable",
    "Interrupted",
    "MigrateReport",
    "MigrateResult",
    "MigrationState",
    "NewMigration",
    "RUNNERS",
    "DEFAULT_JOBS",
]


def select(ws: Workspace, names: Iterable[str] | None) -> tuple[list[Service], list[Service]]:
    """(services with a database, named services without one). All database services by default."""
    if not names:
        return ws.registry.with_database, []
    chosen = ws.registry.select(names)
    return [s for s in chosen if s.has_database], [s for s in chosen if not s.has_database]


def check_reachable(ws: Workspace, timeout: float = 3.0) -> None:
    """Fail fast, naming the address, when nothing accepts connections on the Postgres port."""
    from lomash_tasks.stack.ports import unreachable

    pg = ws.registry.postgres
    reason = unreachable(pg.host, pg.port, timeout)
    if reason is not None:
        raise UserError(
            f"Can't reach the database server at {pg.address} ({reason}). Start the "
            f"stack with `inv stack.up` (then `inv db.wait`), or point "
            f"infra.postgres at the right server (INVOKE_INFRA_POSTGRES_PORT=...)."
        )


def runner_for(ws: Workspace, svc: Service, runner: str) -> str:
    return choose_runner(ws, svc, runner)[0]


def choose_runner(ws: Workspace, svc: Service, runner: str) -> tuple[str, str | None]:
    """(runner, why) for one service. `auto` is the native runner: it applies each
    migration.sql and writes `_prisma_migrations` exactly as `prisma migrate deploy` does
    (tests/test_migrate_corpus.py compares both on every case), and a fresh local deploy takes
    it a fraction of a second where Prisma's CLI, a Node process per service, takes seconds
    (README "Migrations", "Figures"). `--runner prisma` runs the service's own CLI where it can
    run here; `--mode dev` always uses Prisma (it writes the migration from the schema)."""
    if runner not in RUNNERS:
        raise UserError(f"Unknown runner '{runner}': use one of {', '.join(RUNNERS)}.")
    if runner != "auto":
        return runner, None
    return "native", (
        f"native runner, exact and fastest for a deploy (`--runner prisma`: {prisma.why(ws, svc)})"
    )


def default_jobs(runners: Iterable[str]) -> int:
    return min(DEFAULT_JOBS[r] for r in set(runners) or {"native"})


def migrate(
    ws: Workspace,
    names: Iterable[str] | None = None,
    runner: str = "auto",
    jobs: int = 0,
    timeout: float = 300.0,
    retry_failed: bool = False,
    out: Console | None = None,
) -> MigrateReport:
    """Apply pending migrations of the named (default: all) database services, `jobs` at a time.

    A named service without a database (the gateway) is reported as skipped. One service's
    failure never hides another's result; check `report.ok`.
    """
    services, without = select(ws, names)
    if runner not in RUNNERS:
        raise UserError(f"Unknown runner '{runner}': use one of {', '.join(RUNNERS)}.")
    skipped = [MigrateResult(s.name, skipped="has no database") for s in without]
    if out is not None:
        for s in without:
            out.info(f"{s.name} has no database: nothing to migrate, skipped.")
    if not services:
        return MigrateReport(skipped)
    check_reachable(ws)
    choices = {s.name: choose_runner(ws, s, runner) for s in services}
    jobs = int(jobs or 0) or default_jobs(c[0] for c in choices.values())

    def run(svc: Service) -> MigrateResult:
        name, note = choices[svc.name]
        if name == "prisma":
            if not prisma.available(ws, svc):
                return MigrateResult(
                    svc.name, runner="prisma", error=prisma.missing_reason(ws, svc)
                )
            result = prisma.deploy(ws, svc, timeout=timeout, retry=retry_failed)
        else:
            result = native.apply(ws, svc, timeout=timeout, retry=retry_failed)
        result.note = note
        return result

    report = run_all(services, run, jobs, out, title=f"Migrating ({jobs} at a time)")
    order = {s.name: i for i, s in enumerate(ws.registry.services)}
    report.results = sorted(report.results + skipped, key=lambda r: order.get(r.service, 99))
    return report


def status(
    ws: Workspace, names: Iterable[str] | None = None, timeout: float = 5.0
) -> list[MigrationState]:
    """Each database service's migration state, read from `_prisma_migrations` (no Node)."""
    from concurrent.futures import ThreadPoolExecutor

    services, _ = select(ws, names)
    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        return list(pool.map(lambda s: native.status(ws, s, timeout), services))
