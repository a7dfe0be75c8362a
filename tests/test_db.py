"""The db collection against a real PostgreSQL (the session's embedded stack).

Every claim is checked with independent SQL as the superuser or a service role. The stack is
shared by the tests of one worker: a test that needs empty databases recreates them itself
(`fresh`), and nothing here assumes another test's leftovers.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import Inv, assert_user_error, make_workspace, stack_config

from lomash_tasks import connections
from lomash_tasks.db import migrate
from lomash_tasks.db import ops as database
from lomash_tasks.db.migrate import native
from lomash_tasks.stack import initsql as dbinit

pytestmark = pytest.mark.xdist_group("db")

INIT = "20260101000000_init"
# order-payment-service has a second migration (webhook_events, written by its Stripe webhook)
LATER = {"order-payment-service": ["20261201000000_webhook_events"]}
TOTAL_MIGRATIONS = 8 + sum(len(v) for v in LATER.values())


# -- helpers ------------------------------------------------------------------------------------
def superuser(ws, dbname="postgres"):
    return connections.pg_connect(ws, superuser=True, dbname=dbname, autocommit=True)


def fresh(ws, aliases=None):
    """Empty the services' databases: schema public dropped and recreated as init.sql has it
    (owner, grants, extensions: init.sql re-applied). Cheaper than DROP DATABASE, which forces
    a checkpoint; db.reset itself is tested with the real thing."""
    from psycopg import sql

    services = ws.registry.select(aliases) if aliases else ws.registry.with_database
    for svc in services:
        with superuser(ws, svc.database) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute(
                sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(svc.role))
            )
    dbinit.apply(ws)


def rows(ws, svc, where=""):
    with superuser(ws, svc.database) as conn:
        if not conn.execute("SELECT to_regclass('public._prisma_migrations')").fetchone()[0]:
            return None
        return conn.execute(
            "SELECT id, checksum, migration_name, started_at, finished_at, logs, rolled_back_at, "
            f"applied_steps_count FROM _prisma_migrations {where} ORDER BY started_at"
        ).fetchall()


def assert_fully_applied(ws, svc):
    """Every migration folder has exactly Prisma's successful row, with the right checksum."""
    found = {r[2]: r for r in rows(ws, svc) or [] if r[6] is None}
    folders = sorted(p for p in ws.migrations_dir(svc).iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        data = (folder / "migration.sql").read_bytes()
        rid, checksum, _, started, finished, logs, _, steps = found[folder.name]
        assert checksum == hashlib.sha256(data).hexdigest()
        assert uuid.UUID(rid).version == 4
        assert finished is not None and started <= finished and logs is None and steps == 1


def copy_workspace(stack, node_modules=False):
    """A private copy of the workspace, pointed at the session's servers."""
    dest = Path(tempfile.mkdtemp(prefix="dbws-", dir=stack.root.parent)) / "ws"
    make_workspace(dest, node_modules=node_modules)
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(dest))
    _, ws = stack_config(env)
    return dest, ws, Inv(env)


def prisma_cli(ws, svc, *args):
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "DATABASE_URL": connections.database_url(ws, svc),
    }
    return subprocess.run(
        [str(ws.service_dir(svc) / "node_modules/.bin/prisma"), *args],
        cwd=ws.service_dir(svc),
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


# -- runners agree with each other and with Prisma ----------------------------------------------
def test_prisma_runner_migrates_all_eight_and_native_agrees(stack):
    ws = stack.ws
    fresh(ws)
    result = stack.inv("db.migrate", "--runner", "prisma", check=True)
    for svc in ws.registry.with_database:
        assert_fully_applied(ws, svc)
        assert svc.name in result.stdout
    assert f"{TOTAL_MIGRATIONS} migration(s) applied" in result.stdout
    states = migrate.status(ws)
    assert all(
        s.applied == [INIT, *LATER.get(s.service, [])]
        and not (s.pending or s.failed or s.modified or s.missing)
        for s in states
    )
    again = stack.inv("db.migrate", "--runner", "native", check=True)
    assert "0 migration(s) applied" in again.stdout and "up to date" in again.stdout


def test_native_runner_writes_rows_prisma_accepts(stack):
    ws = stack.ws
    fresh(ws)
    report = migrate.migrate(ws, runner="native")
    assert report.ok and report.applied_count == TOTAL_MIGRATIONS and report.status == "done"
    for svc in ws.registry.with_database:
        assert_fully_applied(ws, svc)
        found = rows(ws, svc)
        assert len(found) == 1 + len(LATER.get(svc.name, []))
        for _, _, _, started, finished, *_ in found:
            assert started.microsecond % 1000 == 0 and finished.microsecond % 1000 == 0
    svc = ws.registry.service("content")
    status = prisma_cli(ws, svc, "migrate", "status")
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout
    deploy = prisma_cli(ws, svc, "migrate", "deploy")
    assert deploy.returncode == 0 and "No pending migrations to apply." in deploy.stdout
    assert len(rows(ws, svc)) == 1
    # and a re-run is a no-op, reported as such
    report = migrate.migrate(ws, runner="native")
    assert report.status == "already done" and all(
        r.already == 1 + len(LATER.get(r.service, [])) for r in report.results
    )


def test_migrating_one_service_touches_only_its_database(stack):
    ws = stack.ws
    fresh(ws)
    stack.inv("db.migrate", "--service", "auth", "--runner", "native", check=True)
    for svc in ws.registry.with_database:
        assert (rows(ws, svc) is not None) == (svc.alias == "auth"), svc.name
    result = stack.inv("db.status", "--json", "--report-only")
    assert result.returncode == 0, result.stderr
    assert '"pending": [\n      "20260101000000_init"' in result.stdout


def test_a_role_cannot_connect_to_another_services_database(stack):
    ws = stack.ws
    auth = ws.registry.service("auth")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connections.pg_connect(ws, auth, dbname="lomash_products").close()
    connections.pg_connect(ws, auth).close()


# -- faults -------------------------------------------------------------------------------------
def test_failed_migration_rolls_back_others_finish_and_retry_after_fix(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    fresh(ws, ["product", "customer"])
    product = ws.registry.service("product")
    bad = (
        native.local_migrations(ws.migrations_dir(product))[0].path.parent.parent
        / "20260301000000_add_notes"
        / "migration.sql"
    )
    bad.parent.mkdir()
    bad.write_text('CREATE TABLE "half_done" (id int);\nSELECT * FROM "no_such_table";\n')
    result = inv("db.migrate", "-s", "product", "-s", "customer", "--runner", "native")
    assert_user_error(
        result,
        'relation "no_such_table" does not exist',
        "at line 2",
        "20260301000000_add_notes",
        "--retry-failed",
    )
    assert_fully_applied(ws, ws.registry.service("customer"))
    with superuser(ws, product.database) as conn:
        assert conn.execute("SELECT to_regclass('half_done')").fetchone()[0] is None
    failed = rows(ws, product, "WHERE finished_at IS NULL")
    assert len(failed) == 1
    _, checksum, name, _, _, logs, rolled_back, steps = failed[0]
    assert name == "20260301000000_add_notes" and steps == 0 and rolled_back is None
    assert "no_such_table" in logs and checksum == hashlib.sha256(bad.read_bytes()).hexdigest()
    # like Prisma's P3009: nothing more is applied until it is resolved, whichever runner
    again = inv("db.migrate", "-s", "product", "--runner", "native")
    assert_user_error(again, "failed earlier", "P3009", "--retry-failed")
    by_prisma = inv("db.migrate", "-s", "product", "--runner", "prisma")
    assert_user_error(by_prisma, "20260301000000_add_notes failed earlier", "P3009")
    assert "failed" in inv("db.status", "-s", "product").stdout
    # fixed, then retried: applied, and Prisma agrees
    bad.write_text('CREATE TABLE "half_done" (id int);\n')
    inv("db.migrate", "-s", "product", "--retry-failed", "--runner", "native", check=True)
    assert_fully_applied(ws, product)
    status = prisma_cli(ws, product, "migrate", "status")
    assert "Database schema is up to date!" in status.stdout, status.stdout + status.stderr
    shutil.rmtree(root.parent)


def test_edited_migration_is_warned_and_gone_folder_reported(stack):
    root, ws, inv = copy_workspace(stack)
    fresh(ws, ["notification"])
    svc = ws.registry.service("notification")
    inv("db.migrate", "-s", "notification", "--runner", "native", check=True)
    path = ws.migrations_dir(svc) / INIT / "migration.sql"
    path.write_text(path.read_text() + "\n-- edited after it was applied\n")
    extra = ws.migrations_dir(svc) / "20260201000000_later" / "migration.sql"
    extra.parent.mkdir()
    extra.write_text("SELECT 1;\n")
    inv("db.migrate", "-s", "notification", "--runner", "native", check=True)
    shutil.rmtree(extra.parent)
    result = inv("db.migrate", "-s", "notification", "--runner", "native", check=True)
    assert f"{INIT} was edited after it was applied" in result.stderr
    assert "20260201000000_later is recorded as applied but its folder" in result.stderr
    (state,) = migrate.status(ws, ["notification"])
    assert state.modified == [INIT] and state.missing == ["20260201000000_later"]
    shutil.rmtree(root.parent)


def test_wrong_password_is_one_clear_line(stack):
    root, ws, inv = copy_workspace(stack)
    env_file = root / "services/analytics-service/.env"
    text = (env_file.parent / ".env.example").read_text()
    env_file.write_text(text.replace("lomash_analytics:changeme_local@", "lomash_analytics:wrong@"))
    result = inv("db.migrate", "-s", "analytics", "--runner", "native")
    assert_user_error(result, "Authentication failed for role lomash_analytics", "db.init")
    assert "wrong" not in result.stdout + result.stderr  # the password is masked
    shutil.rmtree(root.parent)


def test_connection_killed_mid_migration_leaves_nothing_half_done(stack):
    root, ws, inv = copy_workspace(stack)
    fresh(ws, ["appointment"])
    svc = ws.registry.service("appointment")
    inv("db.migrate", "-s", "appointment", "--runner", "native", check=True)
    mig = ws.migrations_dir(svc) / "20260301000000_killed" / "migration.sql"
    mig.parent.mkdir()
    mig.write_text(
        'CREATE TABLE "never" (id int);\nSELECT pg_terminate_backend(pg_backend_pid());\n'
    )
    result = inv("db.migrate", "-s", "appointment", "--runner", "native")
    assert_user_error(result, "lost the connection")
    with superuser(ws, svc.database) as conn:
        assert conn.execute("SELECT to_regclass('never')").fetchone()[0] is None
    assert [r[2] for r in rows(ws, svc)] == [INIT]  # no row: it is simply pending again
    mig.write_text('CREATE TABLE "never" (id int);\n')
    inv("db.migrate", "-s", "appointment", "--runner", "native", check=True)
    assert_fully_applied(ws, svc)
    shutil.rmtree(root.parent)


# -- seed, reset, init, psql, wait --------------------------------------------------------------
def test_seeds_are_present_once_after_two_runs(stack):
    ws = stack.ws
    fresh(ws)
    migrate.migrate(ws, runner="native")
    first = database.seed(ws)
    assert all(r.ok and r.inserted > 0 and r.status == "done" for r in first), first
    result = stack.inv("db.seed", check=True)
    assert "already seeded" in result.stdout and "0 row(s) inserted" in result.stdout
    auth = ws.registry.service("auth")
    with connections.pg_connect(ws, auth) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM roles").fetchone()[0] == 4
    gateway = stack.inv("db.seed", "-s", "gateway", check=True)
    assert "has no database" in gateway.stdout


def test_seed_before_migrate_says_to_migrate(stack):
    ws = stack.ws
    fresh(ws, ["customer"])
    result = stack.inv("db.seed", "-s", "customer")
    assert_user_error(result, "rolled back", "inv db.migrate --service customer")


def test_reset_asks_then_recreates_only_that_database(stack):
    ws = stack.ws
    fresh(ws, ["content", "analytics"])
    migrate.migrate(ws, ["content", "analytics"], runner="native")
    for alias in ("content", "analytics"):
        svc = ws.registry.service(alias)
        with connections.pg_connect(ws, svc, autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (id int)")
    refused = stack.inv("db.reset", "-s", "content", env={"CI": "true"})
    assert_user_error(refused, "--yes")
    declined = stack.inv("db.reset", "-s", "content", input="n\n")
    assert declined.returncode != 0
    with superuser(ws, "lomash_content") as conn:
        assert conn.execute("SELECT to_regclass('marker')").fetchone()[0] == "marker"
    stack.inv("db.reset", "-s", "content", "--yes", "--runner", "native", check=True)
    content = ws.registry.service("content")
    with superuser(ws, "lomash_content") as conn:
        assert conn.execute("SELECT to_regclass('marker')").fetchone()[0] is None
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'lomash_content'"
        ).fetchone()[0]
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert owner == "lomash_content" and {"pg_trgm", "uuid-ossp"} <= exts
    assert_fully_applied(ws, content)
    with connections.pg_connect(ws, content) as conn:
        assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] > 0
    with superuser(ws, "lomash_analytics") as conn:  # another service's data is untouched
        assert conn.execute("SELECT to_regclass('marker')").fetchone()[0] == "marker"
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connections.pg_connect(ws, ws.registry.service("auth"), dbname="lomash_content").close()


def snapshot(ws):
    with superuser(ws) as conn:
        return (
            conn.execute(
                "SELECT rolname, rolcanlogin, rolcreatedb FROM pg_roles "
                "WHERE rolname LIKE 'lomash%' ORDER BY 1"
            ).fetchall(),
            conn.execute(
                "SELECT datname, pg_get_userbyid(datdba), datacl::text FROM pg_database ORDER BY 1"
            ).fetchall(),
        )


def test_init_twice_changes_nothing(stack):
    stack.inv("db.init", check=True)
    before = snapshot(stack.ws)
    stack.inv("db.init", check=True)
    assert snapshot(stack.ws) == before


def test_psql_runs_as_the_service_role_and_wait_is_ready(stack):
    result = stack.inv(
        "db.psql", "-s", "order", input="SELECT current_user, current_database();\n", check=True
    )
    assert "lomash_order" in result.stdout and "lomash_orders" in result.stdout
    waited = stack.inv("db.wait", "--timeout", "10", check=True)
    assert "is ready" in waited.stdout


def test_dev_mode_creates_a_migration_from_the_schema(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    fresh(ws, ["customer"])
    svc = ws.registry.service("customer")
    inv("db.migrate", "-s", "customer", "--runner", "native", check=True)
    unchanged = inv("db.migrate", "--mode", "dev", "-s", "customer", "--name", "nothing")
    assert_user_error(unchanged, "already matches its migrations")
    schema = ws.service_dir(svc) / "prisma" / "schema.prisma"
    schema.write_text(
        schema.read_text() + "\nmodel GiftNote {\n  id   Int    @id\n"
        '  body String\n\n  @@map("gift_notes")\n}\n'
    )
    result = inv(
        "db.migrate", "--mode", "dev", "-s", "customer", "--name", "add_gift_notes", check=True
    )
    created = [p for p in ws.migrations_dir(svc).iterdir() if p.name.endswith("_add_gift_notes")]
    assert len(created) == 1 and re.fullmatch(r"\d{14}_add_gift_notes", created[0].name)
    sql = (created[0] / "migration.sql").read_text()
    assert 'CREATE TABLE "gift_notes"' in sql and "CREATE EXTENSION" not in sql
    assert "1 migration(s) applied" in result.stdout
    assert_fully_applied(ws, svc)
    with superuser(ws) as conn:  # the shadow database is gone
        assert not conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow%'"
        ).fetchall()
    shutil.rmtree(root.parent)
