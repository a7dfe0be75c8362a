"""The native runner: applies Prisma migration folders with psycopg, no Node needed.

It reads and writes `_prisma_migrations` exactly as Prisma 6's `migrate deploy` does, so either
tool can take over from the other:

* `pg_advisory_lock(72707369)` for the run (Prisma's lock id; released when the connection ends);
* the table is created if missing, with Prisma's DDL;
* pending folders of `prisma/migrations/` are applied in folder-name order, each in ONE
  transaction together with its row: a v4 UUID id, checksum = hex SHA-256 of the migration.sql
  bytes, started_at / finished_at as client UTC to the millisecond, applied_steps_count 1,
  logs NULL;
* on failure the transaction is rolled back (nothing of the migration remains) and a row like
  Prisma's is recorded: finished_at NULL, applied_steps_count 0, the error in logs. Like Prisma
  (P3009) it then refuses to apply anything until the failed row is resolved: fix the file and
  run `db.migrate --retry-failed`, which marks it rolled back (`rolled_back_at = now()`, what
  `prisma migrate resolve --rolled-back` does) and applies it again.

Rows whose `rolled_back_at` is set are history and ignored, as Prisma ignores them.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lomash_tasks import connections
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace
from lomash_tasks.db.migrate.problems import classify, first_line
from lomash_tasks.db.migrate.runner import MigrateResult

LOCK_ID = 72707369
TABLE = "_prisma_migrations"
MIGRATION_FILE = "migration.sql"

# Prisma's own DDL for PostgreSQL (schema-engine, sql-schema-connector flavour/postgres).
TABLE_DDL = f"""CREATE TABLE IF NOT EXISTS "{TABLE}" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""


# -- the migration folders ----------------------------------------------------------------------
@dataclass(frozen=True)
class LocalMigration:
    name: str
    path: Path  # the migration.sql file

    @property
    def checksum(self) -> str:
        return checksum(self.path)

    def sql(self) -> str:
        return self.path.read_bytes().decode("utf-8")


def checksum(path: Path) -> str:
    """Prisma's migration checksum: the hex SHA-256 of the file's bytes (`sha256sum`)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def local_migrations(folder: Path) -> list[LocalMigration]:
    """The migration folders that hold a migration.sql, in name order (Prisma's order)."""
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        if child.is_dir() and (child / MIGRATION_FILE).is_file():
            found.append(LocalMigration(child.name, child / MIGRATION_FILE))
    return found


# -- what the database says ---------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: str
    name: str
    checksum: str
    started_at: datetime | None
    finished_at: datetime | None
    rolled_back_at: datetime | None
    logs: str | None
    applied_steps_count: int

    @property
    def active(self) -> bool:
        return self.rolled_back_at is None

    @property
    def failed(self) -> bool:
        return self.active and self.finished_at is None


@dataclass
class MigrationState:
    """Folders versus rows for one service: applied, pending, failed, modified, missing."""

    service: str
    local: list[LocalMigration] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    table_exists: bool = False
    error: str | None = None  # could not read the database at all

    @property
    def _active(self) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for row in self.rows:  # ordered by started_at: a later row for a name wins
            if row.active:
                out[row.name] = row
        return out

    @property
    def applied(self) -> list[str]:
        return [n for n, r in self._active.items() if r.finished_at is not None]

    @property
    def failed(self) -> list[Row]:
        return [r for r in self._active.values() if r.finished_at is None]

    @property
    def pending(self) -> list[LocalMigration]:
        active = self._active
        return [m for m in self.local if m.name not in active]

    @property
    def modified(self) -> list[str]:
        active = self._active
        return [m.name for m in self.local if m.name in active
                and active[m.name].finished_at is not None
                and active[m.name].checksum != m.checksum]

    @property
    def missing(self) -> list[str]:
        names = {m.name for m in self.local}
        return [n for n in self.applied if n not in names]

    def warnings(self) -> list[str]:
        out = []
        for name in self.modified:
            out.append(f"migration {name} was edited after it was applied (its checksum differs "
                       f"from the database's); the edit is not applied: put changes in a new "
                       f"migration instead")
        for name in self.missing:
            out.append(f"migration {name} is recorded as applied but its folder "
                       f"prisma/migrations/{name} is gone")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "error": self.error,
            "applied": self.applied,
            "pending": [m.name for m in self.pending],
            "failed": [r.name for r in self.failed],
            "modified": self.modified,
            "missing": self.missing,
        }


def read_rows(conn: Any) -> tuple[bool, list[Row]]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'public."{TABLE}"',)).fetchone()[0]
    if not exists:
        return False, []
    cur = conn.execute(
        f'SELECT id, migration_name, checksum, started_at, finished_at, rolled_back_at, logs, '
        f'applied_steps_count FROM public."{TABLE}" ORDER BY started_at, migration_name')
    return True, [Row(*r) for r in cur.fetchall()]


def read_state(conn: Any, svc: Service, folder: Path) -> MigrationState:
    exists, rows = read_rows(conn)
    return MigrationState(svc.name, local_migrations(folder), rows, exists)


def connect(ws: Workspace, svc: Service, timeout: float) -> Any:
    """A connection as the service's role, autocommit; a failure becomes one clear line."""
    import psycopg

    try:
        return connections.pg_connect(ws, svc, timeout=timeout, autocommit=True)
    except psycopg.Error as exc:
        address = ws.registry.postgres.address
        raise ConnectProblem(classify(str(exc), svc, address)
                             or f"Can't connect to {svc.database} at {address}: "
                                f"{first_line(str(exc))}") from None


class ConnectProblem(Exception):
    pass


def status(ws: Workspace, svc: Service, timeout: float = 5.0) -> MigrationState:
    """Applied / pending / failed / modified / missing for one service, read directly."""
    folder = ws.migrations_dir(svc)
    try:
        conn = connect(ws, svc, timeout)
    except ConnectProblem as exc:
        return MigrationState(svc.name, local_migrations(folder), error=str(exc))
    with conn:
        return read_state(conn, svc, folder)


# -- applying -----------------------------------------------------------------------------------
def utc_now_ms() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def failed_hint(svc: Service) -> str:
    return (f"fix its migration.sql, then run `inv db.migrate --service {svc.alias} "
            f"--retry-failed` (marks it rolled back, as `prisma migrate resolve --rolled-back` "
            f"does, and applies it again)")


def failed_error(svc: Service, rows: list[Row]) -> str:
    row = rows[0]
    cause = f": {first_line(row.logs)}" if row.logs else ""
    return (f"migration {row.name} failed earlier{cause}; nothing more is applied until it is "
            f"resolved (P3009): {failed_hint(svc)}")


def mark_rolled_back(conn: Any) -> list[str]:
    """Mark every failed (unfinished, not rolled back) row as rolled back; their names."""
    cur = conn.execute(
        f'UPDATE public."{TABLE}" SET rolled_back_at = now() '
        f'WHERE finished_at IS NULL AND rolled_back_at IS NULL RETURNING migration_name')
    return [r[0] for r in cur.fetchall()]


def retry_failed(ws: Workspace, svc: Service, timeout: float = 5.0) -> list[str]:
    """Mark the service's failed migrations rolled back (so a runner applies them again)."""
    conn = connect(ws, svc, timeout)
    with conn:
        exists, _ = read_rows(conn)
        return mark_rolled_back(conn) if exists else []


def apply(ws: Workspace, svc: Service, timeout: float = 300.0,
          retry: bool = False) -> MigrateResult:
    """Apply the service's pending migrations; the result says what was done."""
    import psycopg

    began = time.monotonic()
    result = MigrateResult(svc.name, runner="native")
    folder = ws.migrations_dir(svc)
    try:
        conn = connect(ws, svc, min(timeout, 10.0))
    except ConnectProblem as exc:
        result.error = str(exc)
        result.seconds = time.monotonic() - began
        return result
    try:
        with conn:
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            conn.execute(f"SET lock_timeout = {int(timeout * 1000)}")
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
            except psycopg.errors.LockNotAvailable:
                result.error = (f"another migration of {svc.database} has held its lock "
                                f"(pg_advisory_lock {LOCK_ID}) for over {timeout:.0f} s; "
                                f"wait for it to finish and run again")
                return result
            conn.execute("SET lock_timeout = 0")
            conn.execute(TABLE_DDL)
            if retry:
                marked = mark_rolled_back(conn)
                if marked:
                    result.warnings.append(f"marked failed migration(s) {', '.join(marked)} "
                                           f"as rolled back, applying again")
            state = read_state(conn, svc, folder)
            result.warnings += state.warnings()
            result.already = len(state.applied)
            if state.failed:
                result.error = failed_error(svc, state.failed)
                return result
            for migration in state.pending:
                error = _apply_one(conn, migration)
                if error:
                    result.error = (f"migration {migration.name} failed and was rolled back: "
                                    f"{error}; {failed_hint(svc)}")
                    return result
                result.applied.append(migration.name)
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    except psycopg.OperationalError as exc:  # the server went away mid-run
        address = ws.registry.postgres.address
        result.error = (f"lost the connection to {address} while migrating "
                        f"{svc.database}: {first_line(str(exc))}. Migrations applied before "
                        f"that are committed; run again when the server is back")
    except psycopg.Error as exc:  # e.g. no CREATE on schema public for _prisma_migrations
        address = ws.registry.postgres.address
        result.error = (classify(str(exc), svc, address)
                        or f"{svc.database}: {first_line(str(exc))}")
    finally:
        result.seconds = time.monotonic() - began
    return result


def _apply_one(conn: Any, migration: LocalMigration) -> str | None:
    """Apply one migration and its row in one transaction; the error text on failure."""
    import psycopg

    data = migration.path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    row_id = str(uuid.uuid4())
    started = utc_now_ms()
    script = data.decode("utf-8")
    try:
        with conn.transaction():
            conn.execute(
                f'INSERT INTO public."{TABLE}" (id, checksum, started_at, migration_name, '
                f'applied_steps_count) VALUES (%s, %s, %s, %s, 0)',
                (row_id, digest, started, migration.name))
            # The whole script as one simple query: `;` inside literals and $$ bodies are safe.
            conn.execute(script, prepare=False)
            conn.execute(
                f'UPDATE public."{TABLE}" SET finished_at = %s, '
                f'applied_steps_count = applied_steps_count + 1 WHERE id = %s',
                (utc_now_ms(), row_id))
        return None
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        text = describe_sql_error(exc, script)
        logs = f"{exc}".strip() or text
        with conn.transaction():
            conn.execute(
                f'INSERT INTO public."{TABLE}" (id, checksum, started_at, migration_name, logs, '
                f'applied_steps_count) VALUES (%s, %s, %s, %s, %s, 0)',
                (str(uuid.uuid4()), digest, started, migration.name,
                 f"{text}\n\n{logs}\n   0: lomash-tasks native runner\n"
                 f"           with migration_name=\"{migration.name}\""))
        return text


def describe_sql_error(exc: Any, script: str) -> str:
    """`relation "x" does not exist (SQLSTATE 42P01) at line 4: SELECT * FROM x;`"""
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag else None) or first_line(str(exc))
    code = getattr(exc, "sqlstate", None)
    text = primary + (f" (SQLSTATE {code})" if code else "")
    position = diag.statement_position if diag else None
    if position:
        try:
            offset = int(position) - 1
            line_no = script.count("\n", 0, offset) + 1
            line = script.splitlines()[line_no - 1].strip()
            text += f" at line {line_no}: {line[:160]}"
        except (ValueError, IndexError):
            pass
    return text
