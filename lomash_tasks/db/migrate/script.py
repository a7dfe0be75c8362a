"""Running one migration script as Prisma does: one simple query, a deadline, and the difference
between an SQL error and a lost connection.

`run_script(conn, text, deadline)` sends the whole text without parameters on an autocommit
connection, so psycopg uses PostgreSQL's simple-query protocol (exactly what Prisma's `pg`
adapter does): a multi-statement script is one implicit transaction, a lone statement runs
outside any, and `;` inside literals or `$$` bodies needs no splitting. It returns None on
success, or a `ScriptFailure` saying whether the connection is still alive (an SQL error of any
SQLSTATE: 55P04, 55P03 and 54000 are ordinary migration failures, whatever class psycopg gives
them) or gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lomash_tasks.db.migrate.problems import first_line


@dataclass
class ScriptFailure:
    message: str  # one line: `relation "x" does not exist (SQLSTATE 42P01) at line 4: ...`
    logs: str  # the text recorded in _prisma_migrations.logs
    connection_lost: bool = False
    deadline_passed: bool = False
    interrupted: bool = False  # Ctrl-C / SIGTERM: cancelled on the server, nothing applied


class Deadline:
    """Cancel the connection's running statement when the run's deadline passes."""

    def __init__(
        self, conn: Any, deadline: float, blockers: Callable[[list[int]], str] | None = None
    ):
        self.conn = conn
        self.deadline = deadline
        self.fired = False
        self.blockers = ""  # who the statement waited for when the deadline passed
        self._describe = blockers
        self._pid: int | None = None
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Deadline:
        remaining = max(0.0, self.deadline - time.monotonic())
        try:
            self._pid = self.conn.info.backend_pid
        except Exception:
            self._pid = None
        self._timer = threading.Timer(remaining, self._cancel)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _cancel(self) -> None:
        self.fired = True
        if self._describe is not None and self._pid:
            self.blockers = self._describe([self._pid])  # before the cancel frees the wait
        try:
            self.conn.cancel()
        except Exception:  # the connection may be gone already: nothing left to cancel
            pass

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()


def alive(conn: Any) -> bool:
    """True when the server still answers on this connection (after rolling back what is open)."""
    from psycopg import pq

    if conn.closed or getattr(conn, "broken", False):
        return False
    try:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def run_script(
    conn: Any,
    text: str,
    deadline: float,
    timeout: float,
    migration_name: str,
    blockers: Callable[[list[int]], str] | None = None,
) -> ScriptFailure | None:
    """Send `text` as one simple query before `deadline`; None when it ran to its end.

    At the deadline the statement is cancelled on the server (`blockers` names, first, the
    sessions it waited for); an interruption (runner.STOP) cancels it the same way."""
    import psycopg
    from psycopg import pq

    from lomash_tasks.db.migrate.runner import STOP, cancellable

    if time.monotonic() >= deadline:
        msg = f"not started: the run's deadline of {timeout:.0f} s had passed"
        return ScriptFailure(msg, msg, deadline_passed=True)
    with Deadline(conn, deadline, blockers) as guard, cancellable(conn.cancel):
        try:
            conn.execute(text)
            error = None
        except psycopg.Error as exc:
            error = exc
    if error is None:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            # `BEGIN;` without `COMMIT;`: nothing of it would ever be committed (Prisma reports
            # such a migration as applied, then the closing connection rolls it back).
            conn.execute("ROLLBACK")
            msg = (
                "the script leaves a transaction open (BEGIN without COMMIT): its changes "
                "were rolled back; end it with COMMIT;"
            )
            return ScriptFailure(msg, _logs(msg, migration_name))
        return None
    if not alive(conn):
        return ScriptFailure(first_line(str(error)), "", connection_lost=True)
    if STOP.is_set() and getattr(error, "sqlstate", None) == "57014":
        return ScriptFailure(
            "interrupted: the statement was cancelled on the server and rolled back",
            "",
            interrupted=True,
        )
    message = describe_sql_error(error, text)
    if guard.fired:
        waited = f"; it was waiting for {guard.blockers}" if guard.blockers else ""
        message = (
            f"did not finish within the run's deadline of {timeout:.0f} s{waited}: "
            f"the statement was cancelled on the server and rolled back"
        )
    return ScriptFailure(
        message, _logs(message, migration_name, str(error)), deadline_passed=guard.fired
    )


def _logs(message: str, migration_name: str, detail: str = "") -> str:
    """The failed row's logs, shaped like Prisma's (error, cause, where)."""
    detail = detail.strip()
    body = message if not detail or detail == message else f"{message}\n{detail}"
    return (
        f"Database error: {body}\n   0: lomash-tasks native runner: applying migration\n"
        f'           with migration_name="{migration_name}"'
    )


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
