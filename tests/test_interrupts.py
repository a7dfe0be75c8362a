"""A migration stopped halfway, by its deadline or by a signal, on the session's PostgreSQL.

A session of our own holds a lock the migration needs (`BEGIN; SELECT ... FROM pages;` left
open, as a forgotten psql does) or the migration sleeps. Whatever stops it, the statement must
be cancelled on the server (nothing of it applied afterwards), the blocker named by pid and
query, `_prisma_migrations` left saying what the database holds (the migration pending, not
"failed"), no Prisma process or server session left behind; and a plain re-run applies it.
Both runners: the native one and the Prisma CLI (6.19.3 offline, the reference workspace's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, make_workspace, stack_config

from lomash_tasks import connections
from lomash_tasks.db import migrate

pytestmark = pytest.mark.xdist_group("db")  # the databases of the session's stack

NEW = "20270301000000_pages_note"


@pytest.fixture
def content(stack, tmp_root):
    """A private workspace copy on the session's stack: content's database freshly migrated,
    and one more migration on disk that needs a lock on "pages"."""
    from psycopg import sql

    parent = Path(tempfile.mkdtemp(prefix="intr-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(root))
    _, ws = stack_config(env)
    svc = ws.registry.service("content")
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS public CASCADE")
        c.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(svc.role)))
    assert migrate.migrate(ws, ["content"], runner="native").ok
    folder = ws.migrations_dir(svc) / NEW
    folder.mkdir()
    (folder / "migration.sql").write_text('ALTER TABLE "pages" ADD COLUMN "note" TEXT;\n')
    return root, ws, svc, Inv(env)


def hold_pages(ws, svc):
    """A superuser session that read `pages` in an open transaction (ACCESS SHARE, kept)."""
    conn = connections.pg_connect(ws, superuser=True, dbname=svc.database)
    conn.execute("SELECT count(*) FROM pages")
    return conn, conn.info.backend_pid


def state(ws, svc):
    return migrate.status(ws, ["content"])[0]


def has_note_column(ws, svc) -> bool:
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        return bool(
            c.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_name = "
                "'pages' AND column_name = 'note'"
            ).fetchone()
        )


def prisma_sessions(ws, svc) -> int:
    from lomash_tasks.db.migrate.sessions import PRISMA_APP

    with connections.pg_connect(ws, superuser=True, autocommit=True) as c:
        return c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (PRISMA_APP,)
        ).fetchone()[0]


def prisma_processes(root: Path) -> list[str]:
    from lomash_tasks import processes

    return [
        line
        for pid in processes.in_folder(root)
        for line in [" ".join(processes.command_line(pid))]
        if "prisma" in line
    ]


@pytest.mark.parametrize("runner", ["native", "prisma"])
def test_a_deadline_names_the_blocker_and_leaves_the_migration_pending(content, runner):
    root, ws, svc, inv = content
    # The Prisma CLI needs a few seconds (more on a busy machine) to reach its ALTER: the
    # deadline must fall while the ALTER waits, not before the CLI connected.
    limit = "4" if runner == "native" else "30"
    blocker, pid = hold_pages(ws, svc)
    try:
        result = inv(
            "db.migrate",
            "--service",
            "content",
            "--runner",
            runner,
            "--timeout",
            limit,
            timeout=180,
        )
        text = result.stdout + result.stderr
        assert result.returncode == 1, text
        assert "Traceback" not in text
        assert f"deadline of {limit} s" in text or f"within {limit} s" in text, text
        assert f"pid {pid}" in text and "idle in transaction" in text, text
        assert "SELECT count(*) FROM pages" in text, text
        st = state(ws, svc)
        assert [m.name for m in st.pending] == [NEW] and not st.failed, st
    finally:
        blocker.close()
    time.sleep(0.5)  # nothing may finish the ALTER once the lock is free
    assert not has_note_column(ws, svc)
    assert prisma_sessions(ws, svc) == 0
    assert prisma_processes(root) == []
    again = inv("db.migrate", "--service", "content", "--runner", runner, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert has_note_column(ws, svc)


def spawn(inv: Inv, *args: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env.update(inv.env)
    handle = open(log, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=SUITE_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return proc


def wait_for_waiting_alter(ws, svc, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    with connections.pg_connect(ws, superuser=True, autocommit=True) as c:
        while time.monotonic() < end:
            if c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'ALTER TABLE \"pages\"%%'"
            ).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the migration never started waiting for its lock")


@pytest.mark.parametrize("runner,sig", [("prisma", signal.SIGTERM), ("native", signal.SIGINT)])
def test_a_signal_stops_the_run_at_once_and_leaves_nothing_behind(content, tmp_path, runner, sig):
    root, ws, svc, inv = content
    blocker, _ = hold_pages(ws, svc)
    log = tmp_path / "migrate.log"
    proc = spawn(inv, "db.migrate", "--service", "content", "--runner", runner, log=log)
    try:
        wait_for_waiting_alter(ws, svc)
        proc.send_signal(sig)
        code = proc.wait(timeout=30)  # the migration itself would wait for ever (db.timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        blocker.close()
    text = log.read_text()
    assert code == 130, text
    assert "Traceback" not in text, text
    assert "interrupted" in text and "content-service" in text, text
    time.sleep(0.5)
    assert not has_note_column(ws, svc)
    assert prisma_sessions(ws, svc) == 0 and prisma_processes(root) == []
    st = state(ws, svc)
    assert [m.name for m in st.pending] == [NEW] and not st.failed, st
    again = inv("db.migrate", "--service", "content", "--runner", runner, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
