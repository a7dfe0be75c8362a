"""The server side of a migration that is stopped: who it waited for, and what it left.

When a run's deadline passes or the user interrupts it, stopping the client is not enough:
PostgreSQL keeps a statement that waits for a lock waiting (a killed client is noticed only
when the server next talks to it), then finishes it. So the suite

- names the sessions the migration waited for (`pg_blocking_pids`: pid, program, state, how
  long, the start of their query), so the message says what to end;
- cancels the migration's own statement on the server (`pg_terminate_backend` of the Prisma
  CLI's sessions, found by their application_name; the native runner cancels its own
  connection), so the implicit transaction of the script is rolled back there and then;
- records what the database then really holds: a row Prisma left unfinished for a migration
  whose session was stopped while active is marked rolled back (its changes were undone), so
  the migration is pending again instead of "failed, resolve by hand".
"""

from __future__ import annotations

from typing import Any

from lomash_tasks import connections
from lomash_tasks.helpers import poll_until
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

PRISMA_APP = "lomash-tasks prisma migrate"  # the application_name of the Prisma CLI's sessions

BLOCKERS_SQL = """
    SELECT b.pid, coalesce(nullif(b.application_name, ''), b.usename, '?'), coalesce(b.state, '?'),
           extract(epoch FROM now() - coalesce(b.xact_start, b.query_start, now()))::int,
           left(regexp_replace(coalesce(b.query, ''), '\\s+', ' ', 'g'), 120)
    FROM pg_stat_activity b
    WHERE b.pid IN (SELECT unnest(pg_blocking_pids(w)) FROM unnest(%s::int[]) AS w)
    ORDER BY b.pid
"""


def _connect(ws: Workspace, svc: Service) -> Any:
    """The superuser on the local stack (it sees every session's query), else the role."""
    if ws.is_local:
        try:
            return connections.pg_connect(
                ws, superuser=True, dbname=svc.database, timeout=5, autocommit=True
            )
        except Exception:
            pass
    return connections.pg_connect(ws, svc, timeout=5, autocommit=True)


def describe_blockers(ws: Workspace, svc: Service, pids: list[int]) -> str:
    """'pid 4242 (psql, idle in transaction for 35 s: SELECT ...)' for each session blocking
    one of `pids`, or '' when none does (or the server cannot be asked)."""
    try:
        with _connect(ws, svc) as conn:
            rows = conn.execute(BLOCKERS_SQL, (list(pids),)).fetchall()
    except Exception:
        return ""
    parts = []
    for pid, app, state, seconds, query in rows:
        query = query if query and not query.startswith("<insufficient") else ""
        parts.append(
            f"pid {pid} ({app}, {state} for {seconds} s" + (f": {query}" if query else "") + ")"
        )
    return "; ".join(parts)


def stop_prisma_sessions(
    ws: Workspace, svc: Service, pending: list[str], why: str
) -> tuple[str, list[str]]:
    """After the Prisma CLI was stopped: name what its sessions waited for, end them on the
    server, and mark the unfinished rows of the migrations they were applying rolled back.
    Returns (blockers, names marked rolled back)."""
    from lomash_tasks.db.migrate.state import TABLE

    try:
        conn = _connect(ws, svc)
    except Exception:
        return "", []
    with conn:
        rows = conn.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND "
            "application_name = %s AND pid <> pg_backend_pid()",
            (svc.database, PRISMA_APP),
        ).fetchall()
        active = [pid for pid, state in rows if state not in ("idle",)]
        blockers = ""
        if active:
            blockers = describe_blockers(ws, svc, active)
        for pid, _ in rows:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        if rows:
            poll_until(
                lambda: (
                    not conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                        ([pid for pid, _ in rows],),
                    ).fetchone()[0]
                ),
                timeout=5,
            )
        marked: list[str] = []
        exists = conn.execute("SELECT to_regclass(%s)", (f'public."{TABLE}"',)).fetchone()[0]
        if active and pending and exists:
            note = (
                f"Stopped by lomash-tasks ({why}): its session was ended on the server "
                f"while the script ran, so PostgreSQL rolled the script back; nothing of "
                f"it was applied." + (f" It waited for {blockers}." if blockers else "")
            )
            marked = [
                r[0]
                for r in conn.execute(
                    f'UPDATE public."{TABLE}" SET rolled_back_at = now(), logs = %s '
                    f"WHERE finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NULL "
                    f"AND migration_name = ANY(%s) RETURNING migration_name",
                    (note, pending),
                ).fetchall()
            ]
    return blockers, marked
