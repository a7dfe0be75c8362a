"""The native runner: applies Prisma migration folders with psycopg, no Node needed.

It reads and writes `_prisma_migrations` exactly as Prisma 6's `migrate deploy` does, so either
tool can take over from the other (checked against the Prisma 6.19.3 CLI, `tests/test_migrate_corpus.py`):

* `pg_advisory_lock(72707369)` for the run (Prisma's lock id); while another process holds it the
  runner waits, up to the run's deadline, then says which process holds it;
* the table is created if missing, with Prisma's DDL;
* pending folders of `prisma/migrations/` are applied in folder-name order. Each script is sent as
  it is, as ONE simple query, never wrapped in a transaction of the runner's own: PostgreSQL runs a
  multi-statement script as one implicit transaction (all or nothing), a lone statement such as
  `CREATE INDEX CONCURRENTLY` or `VACUUM` outside one, and a script's own `BEGIN; ... COMMIT;`
  commits what it says it commits. The text is the file decoded as UTF-8, a byte that is not
  UTF-8 read as U+FFFD (what Prisma sends), and the checksum is the hex SHA-256 of that text
  (the file's bytes whenever it is valid UTF-8);
* success: a row with a v4 UUID id, started_at / finished_at as client UTC to the millisecond,
  applied_steps_count 1, logs NULL;
* an SQL error (the connection still alive, whatever the SQLSTATE): one failed row like Prisma's
  (finished_at NULL, applied_steps_count 0, the error in logs) and nothing more is applied until
  it is resolved (P3009): fix the file and run `db.migrate --retry-failed` (marks it rolled back
  and applies it again), or `db.resolve` (what `prisma migrate resolve` does, offline);
* a lost connection writes nothing (the migration stays pending) and says so;
* a folder without migration.sql stops the run when it is reached, naming it (Prisma's P3015).

Rows whose `rolled_back_at` is set are history and ignored, as Prisma ignores them.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import connections
from ..registry import Service
from ..workspace import Workspace
from .problems import classify, first_line
from .runner import MigrateResult
from .script import ScriptFailure, alive, describe_sql_error, run_script

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
    path: Path  # the migration.sql file (it may be missing: see `has_file`)

    @property
    def has_file(self) -> bool:
        return self.path.is_file()

    @property
    def checksum(self) -> str:
        return checksum(self.path)

    def sql(self) -> str:
        return script_text(self.path.read_bytes())


def script_text(data: bytes) -> str:
    """A migration's text as Prisma reads it: UTF-8, each invalid sequence read as U+FFFD.

    A byte-order mark is kept (Prisma sends it, and PostgreSQL then reports a syntax error).
    """
    return data.decode("utf-8", errors="replace")


def checksum(path: Path) -> str:
    """Prisma's migration checksum: the hex SHA-256 of the script it reads (`sha256sum` of the
    file whenever the file is valid UTF-8; otherwise of the text with U+FFFD replacements)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = script_text(data).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def local_migrations(folder: Path) -> list[LocalMigration]:
    """The migration folders that hold a migration.sql, in name order (Prisma's order)."""
    return [m for m in migration_folders(folder) if m.has_file]


def migration_folders(folder: Path) -> list[LocalMigration]:
    """Every folder under prisma/migrations/, with or without its migration.sql, in name order.

    Prisma counts a folder without migration.sql as a migration and refuses it (P3015) when
    it has to apply it; files beside the folders (migration_lock.toml) are not migrations.
    """
    if not folder.is_dir():
        return []
    return [LocalMigration(child.name, child / MIGRATION_FILE)
            for child in sorted(folder.iterdir(), key=lambda p: p.name) if child.is_dir()]


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
        return [m.name for m in self.local if m.name in active and m.has_file
                and active[m.name].finished_at is not None
                and active[m.name].checksum != m.checksum]

    @property
    def missing(self) -> list[str]:
        names = {m.name for m in self.local}
        return [n for n in self.applied if n not in names]

    @property
    def no_file(self) -> list[str]:
        """Folders without migration.sql (Prisma's P3015 when it has to read one)."""
        return [m.name for m in self.local if not m.has_file]

    def warnings(self) -> list[str]:
        out = []
        pending = {m.name for m in self.pending}
        for name in self.no_file:
            if name not in pending:
                out.append(f"migration {name} is recorded as applied but prisma/migrations/{name}/"
                           f"{MIGRATION_FILE} is gone (`prisma migrate status` refuses this "
                           f"with P3015): restore the file from git")
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
            "no_file": self.no_file,
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
    return MigrationState(svc.name, migration_folders(folder), rows, exists)


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
        return MigrationState(svc.name, migration_folders(folder), error=str(exc))
    with conn:
        return read_state(conn, svc, folder)



# -- applying -----------------------------------------------------------------------------------
LOCK_POLL = 0.2  # seconds between tries while another process holds the migration lock


def utc_now_ms() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def failed_hint(svc: Service, name: str | None = None) -> str:
    which = name or "MIGRATION"
    return (f"fix its migration.sql, then run `inv db.migrate --service {svc.alias} "
            f"--retry-failed` (marks it rolled back and applies it again); if you finished its "
            f"changes by hand, `inv db.resolve --service {svc.alias} --applied {which}` records "
            f"it as applied instead")


def failed_error(svc: Service, rows: list[Row]) -> str:
    row = rows[0]
    cause = f": {_cause(row.logs)}" if row.logs else ""
    return (f"migration {row.name} failed earlier{cause}; nothing more is applied until it is "
            f"resolved (P3009): {failed_hint(svc, row.name)}")


def _cause(logs: str) -> str:
    """The error line of a failed row's logs (Prisma's or ours), without the wrapper lines."""
    for line in logs.splitlines():
        text = line.strip()
        if text and text not in ("external connector error",):
            return text.removeprefix("Database error: ")
    return first_line(logs)


def mark_rolled_back(conn: Any, name: str | None = None) -> list[str]:
    """Mark failed (unfinished, not rolled back) rows as rolled back (all, or one name's)."""
    where = "finished_at IS NULL AND rolled_back_at IS NULL"
    params: tuple = ()
    if name is not None:
        where += " AND migration_name = %s"
        params = (name,)
    cur = conn.execute(f'UPDATE public."{TABLE}" SET rolled_back_at = now() WHERE {where} '
                       f'RETURNING migration_name', params)
    return [r[0] for r in cur.fetchall()]


def retry_failed(ws: Workspace, svc: Service, timeout: float = 5.0) -> list[str]:
    """Mark the service's failed migrations rolled back (so a runner applies them again)."""
    conn = connect(ws, svc, timeout)
    with conn:
        exists, _ = read_rows(conn)
        return mark_rolled_back(conn) if exists else []


def take_lock(conn: Any, deadline: float, timeout: float, database: str) -> str | None:
    """Prisma's advisory lock, waiting for it until `deadline`; an error line when not had."""
    waited_from = time.monotonic()
    holder = None
    while True:
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,)).fetchone()[0]:
            return None
        holder = conn.execute(
            "SELECT l.pid, coalesce(nullif(a.application_name, ''), a.usename, '?') "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s "
            "AND l.objsubid = 1 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (LOCK_ID,)).fetchone() or holder
        if time.monotonic() + LOCK_POLL > deadline:
            who = f"server process {holder[0]} ({holder[1]})" if holder else "another session"
            return (f"another migration holds the lock of {database} (pg_advisory_lock "
                    f"{LOCK_ID}, held by {who}); waited {time.monotonic() - waited_from:.0f} s, "
                    f"up to the run's deadline of {timeout:.0f} s. Wait for it to finish and "
                    f"run again")
        time.sleep(LOCK_POLL)


def apply(ws: Workspace, svc: Service, timeout: float = 300.0,
          retry: bool = False) -> MigrateResult:
    """Apply the service's pending migrations before the run's deadline (`timeout` seconds
    from now: waiting for the lock and every statement count against it)."""
    import psycopg

    began = time.monotonic()
    deadline = began + timeout
    result = MigrateResult(svc.name, runner="native")
    folder = ws.migrations_dir(svc)
    address = ws.registry.postgres.address
    try:
        conn = connect(ws, svc, min(timeout, 10.0))
    except ConnectProblem as exc:
        result.error = str(exc)
        result.seconds = time.monotonic() - began
        return result
    progress: list[LocalMigration] = []  # the migration being applied, if any

    def lost(exc: BaseException) -> str:
        where = f" during {progress[0].name}" if progress else ""
        pending = ("; that one is still pending (nothing recorded)" if progress else "")
        return (f"lost the connection to {address} while migrating {svc.database}{where}: "
                f"{first_line(str(exc))}. Migrations applied before it are committed and "
                f"recorded{pending}. Run again when the server is back")

    try:
        with conn:
            try:
                _deploy(conn, svc, folder, deadline, timeout, retry, result, progress)
            except _Lost as exc:
                result.error = lost(exc)
            except psycopg.Error as exc:
                # An SQL error (any SQLSTATE) leaves the connection working; a lost one does not.
                if alive(conn):
                    result.error = (classify(str(exc), svc, address)
                                    or f"{svc.database}: {first_line(str(exc))}")
                else:
                    result.error = lost(exc)
    except psycopg.Error as exc:  # closing a connection that broke on the way out
        result.error = result.error or lost(exc)
    finally:
        result.seconds = time.monotonic() - began
    return result


def _deploy(conn: Any, svc: Service, folder: Path, deadline: float, timeout: float,
            retry: bool, result: MigrateResult, progress: list[LocalMigration]) -> None:
    """The run on an open connection: lock, table, state, then each pending migration."""
    conn.execute("SET client_encoding TO 'UTF8'")  # Prisma's pg sends UTF-8
    locked = take_lock(conn, deadline, timeout, svc.database)
    if locked:
        result.error = locked
        return
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
        return
    for migration in state.pending:
        progress[:] = [migration]
        if not migration.has_file:
            result.error = (f"prisma/migrations/{migration.name} has no {MIGRATION_FILE} "
                            f"(P3015): restore the file, or delete the folder if it is not a "
                            f"migration")
            return
        failure = _apply_one(conn, migration, deadline, timeout)
        if failure is not None and failure.connection_lost:
            raise _Lost(failure.message)
        if failure is not None:
            result.error = (f"migration {migration.name} failed: {failure.message}; "
                            f"{_kept_note(migration)}{failed_hint(svc, migration.name)}")
            return
        result.applied.append(migration.name)
    progress[:] = []
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))


class _Lost(Exception):
    pass


def _kept_note(migration: LocalMigration) -> str:
    """What a failed script leaves: nothing, unless it commits a part itself."""
    if re.search(r"\bCOMMIT\b", migration.sql(), re.I):
        return ("the script commits on its own (COMMIT): what it committed before the error "
                "stays, the rest was rolled back; ")
    return "it was rolled back (nothing of it remains); "


def _apply_one(conn: Any, migration: LocalMigration, deadline: float,
               timeout: float) -> "ScriptFailure | None":
    """Run one script as Prisma does, then record its row (finished, or failed with logs)."""
    text = migration.sql()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    started = utc_now_ms()
    failure = run_script(conn, text, deadline, timeout, migration.name)
    if failure is not None and failure.connection_lost:
        return failure
    if failure is None:
        import psycopg

        try:
            conn.execute(
                f'INSERT INTO public."{TABLE}" (id, checksum, started_at, finished_at, '
                f'migration_name, logs, applied_steps_count) VALUES (%s, %s, %s, %s, %s, NULL, 1)',
                (str(uuid.uuid4()), digest, started, utc_now_ms(), migration.name))
        except psycopg.Error as exc:
            if alive(conn):
                raise
            raise _Lost(f"{first_line(str(exc))} (after its script ran to its end and before "
                        f"it was recorded: if its changes are there, record it with "
                        f"`inv db.resolve --applied {migration.name}`)") from None
        return None
    conn.execute(
        f'INSERT INTO public."{TABLE}" (id, checksum, started_at, migration_name, logs, '
        f'applied_steps_count) VALUES (%s, %s, %s, %s, %s, 0)',
        (str(uuid.uuid4()), digest, started, migration.name, failure.logs))
    return failure
