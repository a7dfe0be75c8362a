"""Migration and db helpers that need no database server: files, state, error texts, flags."""

from __future__ import annotations

import hashlib
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import Inv, assert_user_error, free_port, stack_config, stack_env

from lomash_tasks.db import migrate
from lomash_tasks.db import ops as database
from lomash_tasks.db.migrate import native, prisma, problems
from lomash_tasks.db.migrate.runner import MigrateResult, run_all
from lomash_tasks.errors import UserError


@pytest.fixture
def ws(workspace):
    _, ws = stack_config(stack_env(workspace))
    return ws


def write_migration(folder: Path, name: str, sql: str) -> Path:
    path = folder / name / "migration.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return path


def row(name, checksum="x", finished=True, rolled_back=False):
    now = datetime.now(timezone.utc)
    return native.Row(
        "id-" + name,
        name,
        checksum,
        now,
        now if finished else None,
        now if rolled_back else None,
        None if finished else "boom",
        int(finished),
    )


# -- migration folders and state ----------------------------------------------------------------
def test_checksum_is_sha256_of_the_file_bytes(tmp_path):
    path = write_migration(tmp_path, "20260101000000_init", "CREATE TABLE a (id int);\r\n")
    assert native.checksum(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_migrations_in_folder_name_order_skipping_non_migrations(tmp_path):
    write_migration(tmp_path, "20260201000000_b", "SELECT 1;")
    write_migration(tmp_path, "20260101000000_a", "SELECT 1;")
    (tmp_path / "migration_lock.toml").write_text('provider = "postgresql"\n')
    (tmp_path / "20260301000000_empty").mkdir()
    assert [m.name for m in native.local_migrations(tmp_path)] == [
        "20260101000000_a",
        "20260201000000_b",
    ]
    assert native.local_migrations(tmp_path / "nope") == []


def test_state_classifies_applied_pending_failed_modified_missing(tmp_path):
    a = write_migration(tmp_path, "1_a", "SELECT 1;")
    write_migration(tmp_path, "2_b", "SELECT 2;")
    write_migration(tmp_path, "3_c", "SELECT 3;")
    write_migration(tmp_path, "4_d", "SELECT 4;")
    rows = [
        row("1_a", native.checksum(a)),
        row("2_b", "stale"),
        row("0_gone"),
        row("3_c", finished=False, rolled_back=True),
        row("4_d", finished=False),
    ]
    state = native.MigrationState("svc", native.local_migrations(tmp_path), rows)
    assert state.applied == ["1_a", "2_b", "0_gone"]
    assert [m.name for m in state.pending] == ["3_c"]  # a rolled-back row is history
    assert [r.name for r in state.failed] == ["4_d"]
    assert state.modified == ["2_b"]
    assert state.missing == ["0_gone"]
    text = " ".join(state.warnings())
    assert "2_b was edited after it was applied" in text and "0_gone" in text
    assert state.as_dict()["failed"] == ["4_d"]


def test_a_later_successful_row_wins_over_a_rolled_back_one(tmp_path):
    a = write_migration(tmp_path, "1_a", "SELECT 1;")
    rows = [
        row("1_a", native.checksum(a), finished=False, rolled_back=True),
        row("1_a", native.checksum(a)),
    ]
    state = native.MigrationState("svc", native.local_migrations(tmp_path), rows)
    assert state.applied == ["1_a"] and not state.failed and not state.pending


def test_utc_now_is_rounded_to_milliseconds():
    now = native.utc_now_ms()
    assert now.tzinfo is timezone.utc and now.microsecond % 1000 == 0


def test_sql_error_names_the_statement_line():
    class Diag:
        message_primary = 'relation "nope" does not exist'
        statement_position = "31"

    class Err(Exception):
        sqlstate = "42P01"
        diag = Diag()

    script = "CREATE TABLE ok (id int);\nSELECT * FROM nope;\n"
    text = native.describe_sql_error(Err("x"), script)
    assert text == (
        'relation "nope" does not exist (SQLSTATE 42P01) at line 2: SELECT * FROM nope;'
    )


# -- error texts --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Error: P1001: Can't reach database server at `127.0.0.1:5999`",
            "Can't reach the database server at 127.0.0.1:5999",
        ),
        (
            'connection failed: connection to server at "127.0.0.1", port 5999 failed: Connection refused',  # noqa: E501
            "Can't reach",
        ),
        (
            "Authentication failed against database server, the provided database credentials for `lomash_auth` are not valid.",  # noqa: E501
            "Authentication failed for role lomash_auth",
        ),
        ('FATAL:  password authentication failed for user "lomash_auth"', "Authentication failed"),
        (
            'FATAL: permission denied for database "lomash_auth"',
            "may not connect to database lomash_auth",
        ),
        ('FATAL:  database "lomash_auth" does not exist', "Database lomash_auth does not exist"),
    ],
)
def test_connection_problems_are_one_clear_line(ws, text, expected):
    svc = ws.registry.service("auth")
    line = problems.classify(text, svc, "127.0.0.1:5999")
    assert line and expected in line and "\n" not in line


def test_prisma_failed_migration_output_is_explained(ws):
    svc = ws.registry.service("auth")
    output = (
        "2 migrations found in prisma/migrations\n\nError: external connector error\n"
        "No such table: nope\n   0: sql_schema_connector::apply_migration::apply_script\n"
        '           with migration_name="20260102000000_bad"\n'
    )
    line = prisma.explain(output, svc, "127.0.0.1:1")
    assert "20260102000000_bad failed" in line and "No such table: nope" in line
    assert "--retry-failed" in line
    p3009 = (
        "Error: P3009\n\nmigrate found failed migrations in the target database, new "
        "migrations will not be applied.\nThe `20260102000000_bad` migration started at "
        "2026-11-27 08:52:04.004 UTC failed\n"
    )
    line = prisma.explain(p3009, svc, "127.0.0.1:1")
    assert "20260102000000_bad failed earlier" in line and "P3009" in line


# -- the driver ---------------------------------------------------------------------------------
def test_one_failing_service_does_not_hide_the_others(ws):
    services = ws.registry.with_database

    def run(svc):
        if svc.alias == "order":
            raise RuntimeError("boom")
        time.sleep(0.05)
        return MigrateResult(svc.name, runner="native", applied=["x"])

    began = time.monotonic()
    report = run_all(services, run, jobs=8)
    assert time.monotonic() - began < 0.3  # ran in parallel
    assert [r.service for r in report.results] == [s.name for s in services]
    assert not report.ok and [r.service for r in report.failed] == ["order-payment-service"]
    assert "boom" in report.failed[0].error
    assert report.applied_count == 7 and report.status == "failed"


def test_result_status_words_for_a_setup_summary():
    assert MigrateResult("a", applied=["x"]).status == "done"
    assert MigrateResult("a", already=3).status == "already done"
    assert MigrateResult("a", skipped="has no database").status == "skipped"
    assert MigrateResult("a", error="bad").status == "failed"


def test_runner_choice(ws, monkeypatch):
    svc = ws.registry.service("auth")
    assert migrate.runner_for(ws, svc, "native") == "native"
    monkeypatch.setattr(prisma, "available", lambda ws, svc: False)
    assert migrate.runner_for(ws, svc, "auto") == "native"
    monkeypatch.setattr(prisma, "available", lambda ws, svc: True)
    assert migrate.runner_for(ws, svc, "auto") == "native"  # exact, and the fastest
    assert migrate.runner_for(ws, svc, "prisma") == "prisma"  # one flag away
    with pytest.raises(UserError, match="Unknown runner"):
        migrate.runner_for(ws, svc, "flyway")


def test_gateway_only_is_skipped_without_touching_a_server(ws):
    report = migrate.migrate(ws, ["gateway"])  # no server on the port: never contacted
    assert report.ok and report.results[0].status == "skipped"


def test_unreachable_server_fails_fast_with_the_address(ws):
    port = ws.registry.postgres.port
    began = time.monotonic()
    with pytest.raises(UserError) as err:
        migrate.migrate(ws, ["auth"], runner="native")
    assert time.monotonic() - began < 5
    assert f"127.0.0.1:{port}" in str(err.value)


# -- db helpers ---------------------------------------------------------------------------------
def test_psql_command_keeps_the_password_off_argv(ws):
    argv, env = database.psql_command(ws, ws.registry.service("auth"))
    assert "changeme_local" not in " ".join(argv)
    assert env["PGPASSWORD"] == "changeme_local"
    assert argv[-4:] == ["-U", "lomash_auth", "-d", "lomash_auth"]


def test_missing_psql_names_the_package(ws, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    from lomash_tasks.stack import pgtools as pgmod

    def nothing(configured=""):
        raise UserError("no server binaries")

    monkeypatch.setattr(pgmod, "find_bindir", nothing)
    with pytest.raises(UserError, match="postgresql-client"):
        database.psql_command(ws, ws.registry.service("auth"))


def test_reset_refuses_a_remote_server_before_asking(ws):
    import dataclasses

    reg = dataclasses.replace(
        ws.registry, postgres=dataclasses.replace(ws.registry.postgres, host="203.0.113.7")
    )
    remote = dataclasses.replace(ws, registry=reg)
    with pytest.raises(UserError, match="--allow-remote"):
        database.reset(remote, reg.service("auth"), yes=True)


def test_reset_in_ci_without_yes_says_to_pass_yes(ws, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(UserError, match="--yes"):
        database.reset(ws, ws.registry.service("auth"))


def test_migration_names_are_checked(ws):
    with pytest.raises(UserError, match="not usable"):
        prisma.create_migration(ws, ws.registry.service("auth"), "drop table; --")


# -- through inv --------------------------------------------------------------------------------
def test_inv_unknown_service_and_gateway(inv):
    assert_user_error(inv("db.migrate", "--service", "nope"), "Unknown service 'nope'")
    result = inv("db.migrate", "--service", "gateway")
    assert result.returncode == 0, result.stderr
    assert "api-gateway has no database" in result.stdout


def test_inv_unreachable_and_url_masking(workspace):
    port = free_port()
    run = Inv({"INVOKE_WORKSPACE_ROOT": str(workspace), "INVOKE_INFRA_POSTGRES_PORT": str(port)})
    assert_user_error(run("db.migrate", "--runner", "native"), f"127.0.0.1:{port}", "stack.up")
    shown = run("db.url", "--service", "auth", check=True).stdout
    assert (
        "changeme_local" not in shown and f"lomash_auth:****@127.0.0.1:{port}/lomash_auth" in shown
    )
    revealed = run("db.url", "--service", "auth", "--reveal", check=True).stdout
    assert f"lomash_auth:changeme_local@127.0.0.1:{port}/lomash_auth" in revealed
    assert_user_error(run("db.migrate", "--mode", "dev", "--service", "auth"), "--name")
    assert_user_error(run("db.reset", "--service", "auth", env={"CI": "true"}), "--yes")


def test_migrate_shim_calls_the_task():
    from conftest import SUITE_ROOT

    for name, task in (("migrate.sh", "db.migrate"), ("seed.sh", "db.seed")):
        text = (SUITE_ROOT / "scripts" / name).read_text()
        assert task in text
        assert subprocess.run(["bash", "-n", str(SUITE_ROOT / "scripts" / name)]).returncode == 0


# -- what Prisma 6.19.3 was seen to do (tests/test_migrate_corpus.py checks it against the CLI) ---
def test_a_script_that_is_not_utf8_reads_and_checksums_as_prisma_reads_it(tmp_path):
    data = b"INSERT INTO t VALUES ('caf\xe9 \xf0\x9f\x98 \xff');\n"
    path = write_migration(tmp_path, "1_latin1", "")
    path.write_bytes(data)
    text = data.decode("utf-8", errors="replace")
    assert native.local_migrations(tmp_path)[0].sql() == text and "\ufffd" in text
    assert native.checksum(path) == hashlib.sha256(text.encode()).hexdigest()
    path.write_bytes(b"\xef\xbb\xbfSELECT 1;\n")  # a BOM is kept (and so is its checksum)
    assert native.checksum(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_folder_without_migration_sql_is_a_migration_of_its_own(tmp_path):
    write_migration(tmp_path, "1_a", "SELECT 1;")
    (tmp_path / "2_nofile").mkdir()
    (tmp_path / "migration_lock.toml").write_text('provider = "postgresql"\n')
    folders = native.migration_folders(tmp_path)
    assert [(m.name, m.has_file) for m in folders] == [("1_a", True), ("2_nofile", False)]
    state = native.MigrationState("svc", folders, [row("2_nofile")])
    assert state.no_file == ["2_nofile"] and state.modified == []
    assert any("2_nofile/migration.sql is gone" in w and "P3015" in w for w in state.warnings())
    pending = native.MigrationState("svc", folders, [])
    assert [m.name for m in pending.pending] == ["1_a", "2_nofile"]


def test_messages_point_at_the_suites_own_resolve(ws):
    svc = ws.registry.service("product")
    hint = native.failed_hint(svc, "2_x")
    assert "--retry-failed" in hint and "inv db.resolve --service product --applied 2_x" in hint
    assert "prisma migrate resolve" not in hint
    p3015 = prisma.explain(
        "Error: P3015\nCould not find the migration file at migration.sql.", svc, "127.0.0.1:1"
    )
    assert "no migration.sql (P3015)" in p3015
    lock = prisma.explain(
        "Error: P1002\nThe database server was reached but timed out.\n"
        "Context: Timed out trying to acquire a postgres advisory lock "
        "(SELECT pg_advisory_lock(72707369)). Timeout: 10000ms.",
        svc,
        "h:1",
    )
    assert "another migration holds the lock" in lock


def test_resolve_needs_exactly_one_action(ws):
    from lomash_tasks.db.migrate.resolve import resolve

    svc = ws.registry.service("auth")
    with pytest.raises(UserError, match="exactly one of --applied"):
        resolve(ws, svc)
    with pytest.raises(UserError, match="exactly one of --applied"):
        resolve(ws, svc, applied="a", rolled_back="b")
    with pytest.raises(UserError, match="P3017"):
        resolve(ws, svc, applied="19990101000000_nope")
