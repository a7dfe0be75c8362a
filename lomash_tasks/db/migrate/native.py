"""The native runner: applies Prisma migration folders with psycopg, no Node needed.

It reads and writes `_prisma_migrations` exactly as Prisma 6's `migrate deploy` does, so either
tool can take over from the other (checked against the Prisma 6.19.3 CLI,
`tests/test_migrate_corpus.py`):

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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lomash_tasks.db.migrate import sessions
from lomash_tasks.db.migrate.problems import classify, first_line
from lomash_tasks.db.migrate.runner import MigrateResult
from lomash_tasks.db.migrate.script import ScriptFailure, alive, describe_sql_error, run_script
from lomash_tasks.db.migrate.state import (
    MIGRATION_FILE,
    TABLE,
    TABLE_DDL,
    ConnectProblem,
    LocalMigration,
    MigrationState,
    Row,
    checksum,
    connect,
    local_migrations,
    migration_folders,
    read_rows,
    read_state,
    script_text,
    status,
)
from lomash_tasks.helpers import poll_until
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

__all__ = [
    "LOCK_ID",
    "MIGRATION_FILE",
    "TABLE",
    "TABLE_DDL",
    "ConnectProblem",
    "LocalMigration",
    "MigrationState",
    "Row",
    "apply",
    "checksum",
    "connect",
    "describe_sql_error",
    "failed_hint",
    "local_migrations",
    "migration_folders",
    "read_rows",
    "read_state",
    "retry_failed",
    "script_text",
    "status",
    "take_lock",
    "utc_now_ms",
]

LOCK_ID = 72707369


# -- applying -----------------------------------------------------------------------------------
LOCK_POLL = 0.2  # seconds between tries while another process holds the migration lock


def utc_now_ms() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def failed_hint(svc: Service, name: str | None = None) -> str:
    which = name or "MIGRATION"
    return (
        f"fix its migration.sql, then run `inv db.migrate --service {svc.alias} "
        f"--retry-failed` (marks it rolled back and applies it again); if you finished its "
        f"changes by hand, `inv db.resolve --service {svc.alias} --applied {which}` records "
        f"it as applied instead"
    )


def failed_error(svc: Service, rows: list[Row]) -> str:
    row = rows[0]
    cause = f": {_cause(row.logs)}" if row.logs else ""
    return (
        f"migration {row.name} failed earlier{cause}; nothing more is applied until it is "
        f"resolved (P3009): {failed_hint(svc, row.name)}"
    )


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
    cur = conn.execute(
        f'UPDATE public."{TABLE}" SET rolled_back_at = now() WHERE {where} '
        f"RETURNING migration_name",
        params,
    )
    return [r[0] for r in cur.fetchall()]


def retry_failed(ws: Workspace, svc: Service, timeout: float = 5.0) -> list[str]:
    """Mark the service's failed migrations rolled back (so a runner applies them again)."""
    conn = connect(ws, svc, timeout)
    with conn:
        exists, _ = read_rows(conn)
        return mark_rolled_back(conn) if exists else []


@contextmanager
def locked_table(ws: Any, svc: Any, timeout: float, connect_timeout: float) -> Iterator[Any]:
    """A connection to the service's database that holds Prisma's advisory lock (waited for up to
    `timeout`) with `_prisma_migrations` made: what a command that edits the table works in.
    A UserError when the server or the lock cannot be had."""
    from lomash_tasks.errors import UserError

    try:
        conn = connect(ws, svc, connect_timeout)
    except ConnectProblem as exc:
        raise UserError(str(exc)) from None
    with conn:
        locked = take_lock(conn, time.monotonic() + timeout, timeout, svc.db)
        if locked:
            raise UserError(locked + ".")
        conn.execute(TABLE_DDL)
        yield conn


def take_lock(conn: Any, deadline: float, timeout: float, database: str) -> str | None:
    """Prisma's advisory lock, waiting for it until `deadline`; an error line when not had."""
    waited_from = time.monotonic()
    holder = None
    from lomash_tasks.db.migrate.runner import STOP

    def taken() -> str | bool:
        """True once the lock is ours; a message when interrupted; False while it is held."""
        nonlocal holder
        if conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,)).fetchone()[0]:
            return True
        if STOP.is_set():
            return "interrupted while waiting for the migration lock (nothing was applied)"
        holder = (
            conn.execute(
                "SELECT l.pid, coalesce(nullif(a.application_name, ''), a.usename, '?') "
                "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s "
                "AND l.objsubid = 1 AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                (LOCK_ID,),
            ).fetchone()
            or holder
        )
        return False

    # the last try comes before a pause would pass the deadline: there is no time left after it
    got = poll_until(taken, deadline=deadline - LOCK_POLL, interval=LOCK_POLL)
    if isinstance(got, str):
        return got
    if got:
        return None
    who = f"server process {holder[0]} ({holder[1]})" if holder else "another session"
    return (
        f"another migration holds the lock of {database} (pg_advisory_lock "
        f"{LOCK_ID}, held by {who}); waited {time.monotonic() - waited_from:.0f} s, "
        f"up to the run's deadline of {timeout:.0f} s. Wait for it to finish and "
        f"run again"
    )


def apply(
    ws: Workspace, svc: Service, timeout: float = 300.0, retry: bool = False
) -> MigrateResult:
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
        pending = "; that one is still pending (nothing recorded)" if progress else ""
        return (
            f"lost the connection to {address} while migrating {svc.database}{where}: "
            f"{first_line(str(exc))}. Migrations applied before it are committed and "
            f"recorded{pending}. Run again when the server is back"
        )

    try:
        with conn:
            try:
                _deploy(
                    conn,
                    svc,
                    folder,
                    deadline,
                    timeout,
                    retry,
                    result,
                    progress,
                    lambda pids: sessions.describe_blockers(ws, svc, pids),
                )
            except _Lost as exc:
                result.error = lost(exc)
            except psycopg.Error as exc:
                # An SQL error (any SQLSTATE) leaves the connection working; a lost one does not.
                if alive(conn):
                    result.error = (
                        classify(str(exc), svc, address)
                        or f"{svc.database}: {first_line(str(exc))}"
                    )
                else:
                    result.error = lost(exc)
    except psycopg.Error as exc:  # closing a connection that broke on the way out
        result.error = result.error or lost(exc)
    finally:
        result.seconds = time.monotonic() - began
    return result


def _stopped_clean(failure: Any, migration: LocalMigration) -> bool:
    """Cancelled at the deadline, and the script commits nothing itself: nothing of it stays."""
    return bool(failure.deadline_passed and not re.search(r"\bCOMMIT\b", migration.sql(), re.I))


def _deploy(
    conn: Any,
    svc: Service,
    folder: Path,
    deadline: float,
    timeout: float,
    retry: bool,
    result: MigrateResult,
    progress: list[LocalMigration],
    blockers: Any = None,
) -> None:
    """The run on an open connection: lock, table, state, then each pending migration."""
    conn.execute("SET client_encoding TO 'UTF8'")  # Prisma's pg sends UTF-8
    locked = take_lock(conn, deadline, timeout, svc.db)
    if locked:
        result.error = locked
        return
    conn.execute(TABLE_DDL)
    if retry:
        marked = mark_rolled_back(conn)
        if marked:
            result.warnings.append(
                f"marked failed migration(s) {', '.join(marked)} as rolled back, applying again"
            )
    state = read_state(conn, svc, folder)
    result.warnings += state.warnings()
    result.already = len(state.applied)
    if state.failed:
        result.error = failed_error(svc, state.failed)
        return
    for migration in state.pending:
        progress[:] = [migration]
        if not migration.has_file:
            result.error = (
                f"prisma/migrations/{migration.name} has no {MIGRATION_FILE} "
                f"(P3015): restore the file, or delete the folder if it is not a "
                f"migration"
            )
            return
        failure = _apply_one(conn, migration, deadline, timeout, blockers)
        if failure is not None and failure.connection_lost:
            raise _Lost(failure.message)
        if failure is not None and (failure.interrupted or _stopped_clean(failure, migration)):
            what = "interrupted" if failure.interrupted else "stopped at the deadline"
            fix = (
                "run again to apply it"
                if failure.interrupted
                else f"end the session it waited for (or raise db.timeout / --timeout), then run "
                f"`inv db.migrate --service {svc.alias}` again"
            )
            said = what if failure.interrupted else failure.message
            result.error = (
                f"migration {migration.name} {said}; "
                f"nothing of it was applied and nothing was recorded (it is still "
                f"pending): {fix}"
            )
            return
        if failure is not None:
            result.error = (
                f"migration {migration.name} failed: {failure.message}; "
                f"{_kept_note(migration)}{failed_hint(svc, migration.name)}"
            )
            return
        result.applied.append(migration.name)
    progress[:] = []
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))


class _Lost(Exception):
    pass


def _kept_note(migration: LocalMigration) -> str:
    """What a failed script leaves: nothing, unless it commits a part itself."""
    if re.search(r"\bCOMMIT\b", migration.sql(), re.I):
        return (
            "the script commits on its own (COMMIT): what it committed before the error "
            "stays, the rest was rolled back; "
        )
    return "it was rolled back (nothing of it remains); "


def _apply_one(
    conn: Any, migration: LocalMigration, deadline: float, timeout: float, blockers: Any = None
) -> ScriptFailure | None:
    """Run one script as Prisma does, then record its row (finished, or failed with logs).

    A script stopped on the server before it could commit anything (interrupted, or cancelled
    at the deadline) records nothing: the migration is still pending, as it really is."""
    text = migration.sql()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    started = utc_now_ms()
    failure = run_script(conn, text, deadline, timeout, migration.name, blockers)
    if failure is not None and (
        failure.connection_lost or failure.interrupted or _stopped_clean(failure, migration)
    ):
        return failure
    if failure is None:
        import psycopg

        try:
            conn.execute(
                f'INSERT INTO public."{TABLE}" (id, checksum, started_at, finished_at, '
                f"migration_name, logs, applied_steps_count) VALUES (%s, %s, %s, %s, %s, NULL, 1)",
                (str(uuid.uuid4()), digest, started, utc_now_ms(), migration.name),
            )
        except psycopg.Error as exc:
            if alive(conn):
                raise
            raise _Lost(
                f"{first_line(str(exc))} (after its script ran to its end and before "
                f"it was recorded: if its changes are there, record it with "
                f"`inv db.resolve --applied {migration.name}`)"
            ) from None
        return None
    conn.execute(
        f'INSERT INTO public."{TABLE}" (id, checksum, started_at, migration_name, logs, '
        f"applied_steps_count) VALUES (%s, %s, %s, %s, %s, 0)",
        (str(uuid.uuid4()), digest, started, migration.name, failure.logs),
    )
    return failure
