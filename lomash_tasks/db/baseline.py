"""`db.baseline`: a database that already has its schema (made by hand, restored from a dump,
created before the team used migrations) gets its migration history, without running anything.

    baseline(ws, svc, yes=False) -> BaselineResult

First the database's schema is compared with what the service's migrations make (replayed into
an empty shadow database, `db.schema`): only when they match is each migration not yet recorded
written into `_prisma_migrations` exactly as `prisma migrate resolve --applied` writes it, in
one transaction, under Prisma's migration lock. Afterwards both runners and `prisma migrate
status` report the database up to date. Refused, with nothing written: an empty database (there
is nothing to baseline: `db.migrate` applies the migrations), a schema that differs (each
difference named), a failed migration in the table, a migration folder without its script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks import connections
from lomash_tasks.console import Console
from lomash_tasks.db import schema
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

SHOWN = 15  # differences listed in a refusal


@dataclass
class BaselineResult:
    service: str
    database: str
    recorded: list[str] = field(default_factory=list)  # migrations written as applied now
    already: list[str] = field(default_factory=list)  # recorded before
    tables: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "database": self.database,
            "recorded": self.recorded,
            "already": self.already,
            "tables": self.tables,
        }


def baseline(
    ws: Workspace,
    svc: Service,
    yes: bool = False,
    out: Console | None = None,
    timeout: float = 300.0,
) -> BaselineResult:
    from lomash_tasks import console as _console
    from lomash_tasks.db.migrate import check_reachable, native
    from lomash_tasks.db.migrate.resolve import record_applied

    out = out or _console.get()
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: nothing to baseline.")
    check_reachable(ws)
    began = time.monotonic()
    state = native.status(ws, svc, timeout=min(timeout, 10.0))
    if state.error:
        raise UserError(state.error)
    result = BaselineResult(svc.name, svc.database or "", already=list(state.applied))
    where = ws.relative(ws.migrations_dir(svc))
    if state.no_file:
        raise UserError(
            f"{where}/{state.no_file[0]} has no migration.sql (P3015): restore it "
            f"(or delete the folder if it is no migration). Nothing was recorded."
        )
    if not state.local:
        raise UserError(f"{svc.name} has no migrations in {where}: nothing to baseline.")
    if state.failed:
        raise UserError(
            f"{svc.database} has a failed migration ({state.failed[0].name}) in "
            f"_prisma_migrations: resolve it first (`inv db.resolve --service "
            f"{svc.alias} --rolled-back {state.failed[0].name}` or `--applied`). "
            f"Nothing was recorded."
        )
    with connections.pg_connect(ws, svc, timeout=10, autocommit=True) as conn:
        tables = schema.user_tables(conn)
        current = schema.snapshot(conn)
    result.tables = len(tables)
    if not tables:
        raise UserError(
            f"{svc.database} is empty (no tables): there is no schema to baseline. "
            f"`inv db.migrate --service {svc.alias}` applies the migrations to it. "
            f"Nothing was recorded."
        )
    todo = [m for m in state.local if m.name not in set(state.applied)]
    if not todo:
        result.seconds = time.monotonic() - began
        return result
    made = schema.migrations_snapshot(ws, svc, state.local, timeout)
    differences = schema.compare(current, made)
    if differences:
        listed = "\n".join(f"  - {d.line()}" for d in differences[:SHOWN])
        more = (
            f"\n  ... and {len(differences) - SHOWN} more (`inv db.diff --service "
            f"{svc.alias} --json` lists them all)"
            if len(differences) > SHOWN
            else ""
        )
        raise UserError(
            f"{svc.database} does not have the schema its {len(state.local)} "
            f"migration(s) make, so they cannot be recorded as applied "
            f"({len(differences)} difference(s)):\n{listed}{more}\nMake the "
            f"database match (or add a migration for what it has), then run "
            f"again. Nothing was recorded."
        )
    question = (
        f"Record {len(todo)} migration(s) of {svc.name} as applied in {svc.database} on "
        f"{ws.registry.postgres.address} without running them?"
    )
    if not out.confirm(question, yes):
        if not out.interactive:
            raise UserError(
                f"db.baseline writes {svc.database}'s migration history and needs "
                f"confirmation: pass --yes (nothing was recorded)."
            )
        raise UserError("Not confirmed: nothing was recorded.")
    with native.locked_table(ws, svc, timeout, 10.0) as conn:
        with conn.transaction():
            _, rows = native.read_rows(conn)
            recorded = {r.name for r in rows if r.active and r.finished_at is not None}
            for migration in todo:
                if migration.name not in recorded:  # another run may have done it meanwhile
                    record_applied(conn, migration)
                    result.recorded.append(migration.name)
    result.seconds = time.monotonic() - began
    return result
