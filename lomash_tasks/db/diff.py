"""`db.diff`: read-only comparisons of a service's schema, migrations and database.

    diff(ws, names, prisma=True) -> [ServiceDiff]

Two comparisons per service, neither of which changes the database:

- **the database against its migrations** (the native runner's knowledge, no Node): what
  `_prisma_migrations` says (pending, failed, edited, folder gone), and drift: the database's
  schema, read from its catalogs, against the schema its applied migrations make when replayed
  into an empty shadow database (`db.schema`). A column added by hand shows here.
- **the schema against the migrations**: `prisma migrate diff --from-migrations ...
  --to-schema-datamodel ... --script`, where the service's own Prisma CLI can run here
  (`ws.facts(svc).prisma.runnable()`), with a shadow database the suite makes and drops (as the
  service's role; handed to Prisma as SHADOW_DATABASE_URL, which the driver adapter of the
  reference monorepo uses, or `--shadow-database-url` without an adapter). Statements in its
  output are schema changes that no migration holds yet (`db.migrate --mode dev` writes one).

Both shadow databases are made by the service's role, which needs CREATEDB (as `prisma migrate
dev` does): without it the message names the role and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks import connections
from lomash_tasks.db import schema
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

JOBS = 4  # services compared at a time: each comparison makes and drops a database, and the
# Prisma part is a Node process (about 1.5 CPU-seconds)


@dataclass
class ServiceDiff:
    service: str
    pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    drift: list[schema.Difference] = field(default_factory=list)
    drift_note: str = ""  # why the database was not compared, or a hint
    schema_sql: str = ""  # Prisma's statements: schema changes no migration holds
    schema_note: str = ""  # how the schema was compared, or why it was not
    error: str | None = None  # a comparison that could not be made at all

    @property
    def differs(self) -> bool:
        return bool(
            self.pending
            or self.failed
            or self.edited
            or self.missing
            or self.drift
            or self.schema_sql
        )

    @property
    def summary(self) -> str:
        if self.error:
            return f"✗ {self.error}"
        parts = []
        for label, items in (
            ("pending", self.pending),
            ("failed", self.failed),
            ("edited", self.edited),
            ("folder gone", self.missing),
        ):
            if items:
                parts.append(f"{len(items)} {label}")
        if self.drift:
            parts.append(f"{len(self.drift)} schema difference(s) in the database")
        if self.schema_sql:
            parts.append("schema changes without a migration")
        return ", ".join(parts) if parts else "no differences"

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "differs": self.differs,
            "error": self.error,
            "pending": self.pending,
            "failed": self.failed,
            "edited": self.edited,
            "missing": self.missing,
            "drift": [d.as_dict() for d in self.drift],
            "drift_note": self.drift_note,
            "schema_sql": self.schema_sql,
            "schema_note": self.schema_note,
        }


def diff(
    ws: Workspace, names: Iterable[str] | None = None, prisma: bool = True, timeout: float = 300.0
) -> list[ServiceDiff]:
    """Each named (default: every) database service compared (see the module docstring)."""
    from lomash_tasks.db.migrate import check_reachable, select

    services, _ = select(ws, names)
    if not services:
        return []
    check_reachable(ws)
    with ThreadPoolExecutor(max_workers=min(JOBS, len(services))) as pool:
        return list(pool.map(lambda s: diff_one(ws, s, prisma, timeout), services))


def diff_one(
    ws: Workspace, svc: Service, prisma: bool = True, timeout: float = 300.0
) -> ServiceDiff:
    result = ServiceDiff(svc.name)
    try:
        _database(ws, svc, result, timeout)
        if prisma:
            _schema(ws, svc, result, timeout)
        else:
            result.schema_note = "not compared (--no-prisma)"
    except UserError as err:
        result.error = err.text
    return result


# -- the database against its migrations --------------------------------------------------------
def _database(ws: Workspace, svc: Service, result: ServiceDiff, timeout: float) -> None:
    from lomash_tasks.db.migrate import native

    state = native.status(ws, svc, timeout=min(timeout, 10.0))
    if state.error:
        raise UserError(state.error)
    result.pending = [m.name for m in state.pending]
    result.failed = [r.name for r in state.failed]
    result.edited = list(state.modified)
    result.missing = list(state.missing)
    if result.missing:
        result.drift_note = (
            f"schema not compared: {', '.join(result.missing)} is recorded as "
            f"applied but its folder is gone, so the migrations cannot be "
            f"replayed as the database had them"
        )
        return
    applied = set(state.applied)
    replayed = [m for m in state.local if m.name in applied]
    with connections.pg_connect(ws, svc, timeout=10, autocommit=True) as conn:
        current = schema.snapshot(conn)
        tables = schema.user_tables(conn)
    made = schema.migrations_snapshot(ws, svc, replayed, timeout)
    result.drift = schema.compare(current, made)
    if result.edited:
        result.drift_note = (
            f"replayed as the files are now: {', '.join(result.edited)} "
            f"changed after it was applied"
        )
    elif not applied and tables:
        result.drift_note = (
            f"{len(tables)} table(s) but no migration recorded: if the schema "
            f"is the migrations' own, `inv db.baseline --service {svc.alias}` "
            f"records them as applied"
        )


# -- the schema against the migrations (Prisma) -------------------------------------------------
def _schema(ws: Workspace, svc: Service, result: ServiceDiff, timeout: float) -> None:
    from lomash_tasks.db.migrate import prisma as cli

    layout = ws.facts(svc).prisma
    if not cli.available(ws, svc):
        result.schema_note = f"not compared: its Prisma CLI cannot run here ({cli.why(ws, svc)})"
        return
    if layout.schema is None or not layout.schema.exists():
        result.schema_note = "not compared: it has no Prisma schema"
        return
    folder = ws.service_dir(svc)
    migrations = ws.migrations_dir(svc)
    args = [
        "migrate",
        "diff",
        "--from-migrations",
        os.path.relpath(migrations, folder),
        "--to-schema-datamodel",
        os.path.relpath(layout.schema, folder),
        "--script",
    ]
    with schema.shadow(ws, svc) as name:
        with schema.connect_to(ws, svc, name) as conn:
            schema.prepare(conn, schema.init_extensions(ws, svc.database or ""))
        url = connections.database_url(ws, svc, database=name)
        if not layout.adapter and (layout.major or 0) < 7:
            args += ["--shadow-database-url", url]  # without an adapter, Prisma's own flag
        run = cli.run_cli(ws, svc, args, timeout, extra_env={"SHADOW_DATABASE_URL": url})
    if run.code != 0:
        why = (
            "timed out"
            if run.code is None
            else cli.explain(run.output, svc, ws.registry.postgres.address)
        )
        raise UserError(f"prisma migrate diff failed for {svc.name}: {why}")
    statements = cli.without_known_extensions(run.stdout, migrations).strip()
    result.schema_sql = statements if cli.has_statements(statements) else ""
    result.schema_note = (
        f"compared by Prisma {layout.cli_version} (migrate diff "
        f"--from-migrations --to-schema-datamodel)"
    )
