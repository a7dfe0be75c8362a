"""The native runner against the real Prisma 6.19.3 CLI on the same histories (tests/migration_corpus.py).

Each case is applied to a fresh database by `prisma migrate deploy`, then to a fresh database by
the native runner; both must leave the same `_prisma_migrations` rows (ids, times and the logs'
wording aside), the same `pg_dump --schema-only`, the same exit code, and `prisma migrate status`
must read the native runner's database as it reads Prisma's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_user_error
from migration_corpus import CASES, long_history, write_history
from test_db import copy_workspace, fresh, prisma_cli, rows, superuser

from lomash_tasks import connections
from lomash_tasks.db.migrate import native

pytestmark = pytest.mark.xdist_group("db")

ALIAS = "content"


def pg_dump_path() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "pg_dump").exists():
            return str(Path(bindir) / "pg_dump")
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))
    if not candidates:
        pytest.skip("pg_dump is not installed")
    return str(candidates[-1])


def schema_dump(ws, svc) -> str:
    pg = ws.registry.postgres
    out = subprocess.run(
        [
            pg_dump_path(),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "-h",
            pg.host,
            "-p",
            str(pg.port),
            "-U",
            pg.superuser,
            svc.database,
        ],
        env=dict(os.environ, PGPASSWORD=connections.superuser_password(ws)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # (a dump's \restrict / \unrestrict lines carry a random key of each run)
    return "\n".join(
        s for s in out.splitlines() if not s.startswith(("-- Dumped", "\\restrict", "\\unrestrict"))
    )


def shape(ws, svc):
    """The rows as comparable tuples: (name, checksum, finished, has logs, rolled back, steps)."""
    return [
        (name, checksum, finished is not None, bool(logs), rolled is not None, steps)
        for _, checksum, name, _, finished, logs, rolled, steps in rows(ws, svc) or []
    ]


def data(ws, svc, sql):
    with superuser(ws, svc.database) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def corpus_ws(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    yield ws, inv
    shutil.rmtree(root.parent, ignore_errors=True)


def run_both(ws, migrations):
    """(prisma outcome, native outcome): each (exit code, rows, schema dump) on a fresh database."""
    svc = ws.registry.service(ALIAS)
    write_history(ws.migrations_dir(svc), migrations)
    fresh(ws, [ALIAS])
    deploy = prisma_cli(ws, svc, "migrate", "deploy")
    by_prisma = (deploy.returncode, shape(ws, svc), schema_dump(ws, svc))
    fresh(ws, [ALIAS])
    result = native.apply(ws, svc, timeout=120)
    by_native = (0 if result.ok else 1, shape(ws, svc), schema_dump(ws, svc))
    return svc, deploy, result, by_prisma, by_native


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_native_runner_does_what_prisma_deploy_does(corpus_ws, case):
    ws, _ = corpus_ws
    svc, deploy, result, by_prisma, by_native = run_both(ws, case.migrations)
    assert by_prisma[0] == (0 if case.expect_ok else 1), deploy.stdout + deploy.stderr
    assert by_native[0] == by_prisma[0], result.error
    assert by_native[1] == by_prisma[1]
    assert by_native[2] == by_prisma[2]
    assert len([r for r in by_native[1] if not r[2]]) <= 1  # at most one failed row, ever
    if case.expect_ok:  # (a failed case's rows are Prisma's own, compared above)
        status = prisma_cli(ws, svc, "migrate", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Database schema is up to date!" in status.stdout
    else:
        assert result.error and "Traceback" not in result.error
        assert "prisma migrate resolve" not in result.error


def test_what_a_failed_script_leaves_is_said_plainly(corpus_ws):
    ws, inv = corpus_ws
    case = {c.name: c for c in CASES}["own_commit_then_a_failure"]
    svc = ws.registry.service(ALIAS)
    case.write(ws.migrations_dir(svc))
    fresh(ws, [ALIAS])
    out = inv("db.migrate", "-s", ALIAS, "--runner", "native")
    assert_user_error(
        out,
        "0002_bc failed",
        'relation "nope" does not exist',
        "stays",
        "--retry-failed",
        f"db.resolve --service {ALIAS} --applied 0002_bc",
    )
    assert "prisma migrate resolve" not in out.stdout + out.stderr
    assert data(ws, svc, "SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL") == [
        (True, True)
    ]
    enum = {c.name: c for c in CASES}["enum_value_used_where_added_55P04"]
    enum.write(ws.migrations_dir(svc))
    fresh(ws, [ALIAS])
    out = inv("db.migrate", "-s", ALIAS, "--runner", "native")
    assert_user_error(out, "0002_e failed", "55P04", "rolled back")
    assert "lost the connection" not in out.stdout + out.stderr
    again = inv("db.migrate", "-s", ALIAS, "--runner", "native")
    assert_user_error(again, "P3009", "0002_e")


def test_nofile_folder_is_named_and_open_transaction_is_refused(corpus_ws):
    ws, _ = corpus_ws
    svc = ws.registry.service(ALIAS)
    write_history(ws.migrations_dir(svc), [("0001_t", "SELECT 1;\n"), ("0002_gone", None)])
    fresh(ws, [ALIAS])
    result = native.apply(ws, svc)
    assert "prisma/migrations/0002_gone has no migration.sql (P3015)" in result.error
    assert result.applied == ["0001_t"]
    # BEGIN without COMMIT: Prisma 6.19.3 says "applied" and leaves an unfinished row and none
    # of the changes; the native runner says what happened and records the failure.
    write_history(ws.migrations_dir(svc), [("0001_open", "BEGIN;\nCREATE TABLE o (id int);\n")])
    fresh(ws, [ALIAS])
    result = native.apply(ws, svc)
    assert "leaves a transaction open" in result.error
    assert [r[2] for r in shape(ws, svc)] == [False]
    assert data(ws, svc, "SELECT to_regclass('o')") == [(None,)]


def test_lock_timeout_55P03_is_a_migration_failure_not_a_lost_connection(corpus_ws):
    ws, _ = corpus_ws
    svc = ws.registry.service(ALIAS)
    history = [
        ("0001_t", "CREATE TABLE t (id int);\n"),
        ("0002_alter", "SET lock_timeout = '200ms';\nALTER TABLE t ADD COLUMN c int;\n"),
    ]
    outcomes = []
    for runner in ("prisma", "native"):
        write_history(ws.migrations_dir(svc), history[:1])
        fresh(ws, [ALIAS])
        assert native.apply(ws, svc).ok
        write_history(ws.migrations_dir(svc), history)
        with superuser(ws, svc.database) as holder:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            if runner == "prisma":
                code = prisma_cli(ws, svc, "migrate", "deploy").returncode
            else:
                result = native.apply(ws, svc, timeout=60)
                code = 0 if result.ok else 1
                assert "55P03" in result.error and "lost the connection" not in result.error
            holder.execute("ROLLBACK")
        outcomes.append((code, shape(ws, svc)))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == 1


def test_waiting_for_the_migration_lock_says_who_holds_it(corpus_ws):
    ws, _ = corpus_ws
    svc = ws.registry.service(ALIAS)
    write_history(ws.migrations_dir(svc), [("0001_t", "CREATE TABLE t (id int);\n")])
    fresh(ws, [ALIAS])
    with superuser(ws, svc.database) as holder:
        holder.execute("SELECT pg_advisory_lock(72707369)")
        began = time.monotonic()
        result = native.apply(ws, svc, timeout=2)
        waited = time.monotonic() - began
        assert 1.8 <= waited < 10
        assert "another migration holds the lock" in result.error
        assert "deadline of 2 s" in result.error and "statement timeout" not in result.error
        # released while the runner waits: it goes on and applies
        threading.Timer(0.5, lambda: holder.execute("SELECT pg_advisory_unlock(72707369)")).start()
        result = native.apply(ws, svc, timeout=30)
        assert result.ok and result.applied == ["0001_t"]


def test_the_deadline_is_the_runs_not_each_statements(corpus_ws):
    """The run's deadline is not a statement_timeout: two 0.8 s statements under a 2 s
    deadline run; a statement still running at the deadline is cancelled on the server and
    nothing is recorded for it (it is still pending, as the database says)."""
    ws, _ = corpus_ws
    svc = ws.registry.service(ALIAS)
    write_history(
        ws.migrations_dir(svc),
        [
            ("0001_a", "SELECT pg_sleep(0.8);\n"),
            ("0002_b", "SELECT pg_sleep(0.8);\n"),
            ("0003_c", "SELECT pg_sleep(30);\n"),
        ],
    )
    fresh(ws, [ALIAS])
    began = time.monotonic()
    result = native.apply(ws, svc, timeout=2)
    assert time.monotonic() - began < 5
    assert result.applied == ["0001_a", "0002_b"]
    assert "deadline of 2 s" in result.error and "0003_c" in result.error
    assert "still pending" in result.error
    assert [r[0] for r in shape(ws, svc)] == ["0001_a", "0002_b"]


def test_lost_connection_is_told_apart_and_writes_nothing(corpus_ws):
    ws, _ = corpus_ws
    svc = ws.registry.service(ALIAS)
    write_history(
        ws.migrations_dir(svc),
        [
            ("0001_t", "CREATE TABLE t (id int);\n"),
            (
                "0002_kill",
                "CREATE TABLE k (id int);\nSELECT pg_terminate_backend(pg_backend_pid());\n",
            ),
        ],
    )
    fresh(ws, [ALIAS])
    result = native.apply(ws, svc)
    assert "lost the connection" in result.error and "during 0002_kill" in result.error
    assert [r[0] for r in shape(ws, svc)] == ["0001_t"]


def test_resolve_does_what_prisma_migrate_resolve_does(corpus_ws):
    ws, inv = corpus_ws
    svc = ws.registry.service(ALIAS)
    write_history(
        ws.migrations_dir(svc),
        [
            ("0001_t", "CREATE TABLE t (id int);\n"),
            ("0002_bad", "CREATE TABLE u (id int);\nSELECT * FROM nope;\n"),
            ("0003_later", "CREATE TABLE w (id int);\n"),
        ],
    )
    fresh(ws, [ALIAS])
    assert not native.apply(ws, svc).ok
    assert_user_error(inv("db.resolve", "-s", ALIAS, "--rolled-back", "0001_t"), "P3012")
    assert_user_error(inv("db.resolve", "-s", ALIAS, "--rolled-back", "0003_later"), "P3011")
    assert_user_error(inv("db.resolve", "-s", ALIAS, "--applied", "0009_none"), "P3017")
    assert_user_error(inv("db.resolve", "-s", ALIAS, "--applied", "0001_t"), "P3008")
    inv("db.resolve", "-s", ALIAS, "--rolled-back", "0002_bad", check=True)
    got = shape(ws, svc)
    assert got[1][0] == "0002_bad" and got[1][4]  # rolled back
    # rolled back, still failing: fails again; then made by hand and resolved as applied
    assert not native.apply(ws, svc).ok
    with superuser(ws, svc.database) as conn:
        conn.execute(f'CREATE TABLE u (id int); ALTER TABLE u OWNER TO "{svc.role}"')
    inv("db.resolve", "-s", ALIAS, "--applied", "0002_bad", check=True)
    ((rid, checksum, name, started, finished, logs, rolled, steps),) = rows(
        ws, svc, "WHERE migration_name = '0002_bad' AND rolled_back_at IS NULL"
    )
    script = ws.migrations_dir(svc) / "0002_bad" / "migration.sql"
    assert checksum == hashlib.sha256(script.read_bytes()).hexdigest()
    assert started == finished and logs == "" and steps == 0
    assert len(rows(ws, svc, "WHERE migration_name = '0002_bad'")) == 3
    result = native.apply(ws, svc)
    assert result.ok and result.applied == ["0003_later"]
    status = prisma_cli(ws, svc, "migrate", "status")
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout


def test_long_history_end_to_end_and_prisma_agrees(corpus_ws):
    """300 generated migrations (lone CONCURRENTLY indexes, enum values, `$$` bodies,
    extensions, explicit transactions): Prisma and the native runner leave the same database,
    and Prisma's status reads the native one as up to date (Prisma takes ~2.5 s for it here)."""
    ws, _ = corpus_ws
    svc, deploy, result, by_prisma, by_native = run_both(ws, long_history(300))
    assert by_prisma[0] == 0, deploy.stdout + deploy.stderr
    assert result.ok and len(result.applied) == 300, result.error
    assert by_native == by_prisma
    status = prisma_cli(ws, svc, "migrate", "status")
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout
    again = native.apply(ws, svc)
    assert again.ok and again.applied == [] and again.already == 300
