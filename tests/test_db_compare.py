"""`db.status` as a CI gate, `db.diff`, `db.baseline` and seed profiles, on the session's real
PostgreSQL (and each service's real Prisma 6.19.3 CLI where a comparison goes through Prisma).

Every claim is checked with independent SQL or with Prisma's own CLI. Tests that change a
database bring it back (`fresh` + migrate) before they end.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_user_error
from test_db import INIT, copy_workspace, fresh, prisma_cli, rows, superuser

from lomash_tasks import connections
from lomash_tasks.db import migrate

pytestmark = pytest.mark.xdist_group("db")


def migrated(ws, aliases):
    fresh(ws, aliases)
    report = migrate.migrate(ws, aliases, runner="native")
    assert report.ok, report.results


def no_shadow_left(ws):
    with superuser(ws) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE '%shadow%'"
        ).fetchall()
    assert not left, left


# -- the gate -----------------------------------------------------------------------------------
def test_status_gate_exits_1_with_one_pending_migration_and_0_after_migrate(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    try:
        migrated(ws, ["notification"])
        svc = ws.registry.service("notification")
        assert inv("db.status", "-s", "notification").returncode == 0
        later = ws.migrations_dir(svc) / "20270101000000_add_digest" / "migration.sql"
        later.parent.mkdir()
        later.write_text(
            'ALTER TABLE "messages" ADD COLUMN "digest" BOOLEAN NOT NULL DEFAULT false;\n'
        )
        gate = inv("db.status", "-s", "notification")
        assert_user_error(gate, "notification-service (1 pending)", "inv db.migrate")
        assert gate.returncode == 1
        assert "20270101000000_add_digest" in gate.stdout
        # the same as data, and the report-only flag keeps the old behaviour
        as_json = inv("db.status", "-s", "notification", "--json")
        assert as_json.returncode == 1
        (state,) = json.loads(as_json.stdout)
        assert state["pending"] == ["20270101000000_add_digest"] and state["applied"] == [INIT]
        assert set(state) == {
            "service",
            "error",
            "applied",
            "pending",
            "failed",
            "modified",
            "missing",
            "no_file",
        }
        assert inv("db.status", "-s", "notification", "--report-only").returncode == 0
        # Prisma's own status agrees that this is a failure
        assert prisma_cli(ws, svc, "migrate", "status").returncode == 1
        inv("db.migrate", "-s", "notification", "--runner", "native", check=True)
        passed = inv("db.status", "-s", "notification")
        assert passed.returncode == 0, passed.stderr
        assert "up to date" in passed.stdout
        # an edited migration fails the gate too (Prisma's status would not see it)
        later.write_text(later.read_text() + "-- edited\n")
        edited = inv("db.status", "-s", "notification")
        assert_user_error(edited, "1 edited")
    finally:
        migrated(stack.ws, ["notification"])
        shutil.rmtree(root.parent)


# -- db.diff ------------------------------------------------------------------------------------
def test_hand_made_drift_shows_in_diff_and_fails_exit_code(stack):
    ws = stack.ws
    migrated(ws, ["product", "customer"])
    try:
        clean = stack.inv(
            "db.diff", "-s", "product", "-s", "customer", "--exit-code", "--no-prisma"
        )
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "No differences in 2 service(s)" in clean.stdout
        product = ws.registry.service("product")
        with connections.pg_connect(ws, product, autocommit=True) as conn:
            conn.execute("ALTER TABLE products ADD COLUMN legacy_sku text")
            conn.execute("CREATE INDEX products_legacy_sku_idx ON products (legacy_sku)")
        tables = {r[0] for r in rows(ws, product) or []}
        result = stack.inv(
            "db.diff", "-s", "product", "-s", "customer", "--exit-code", "--no-prisma"
        )
        assert result.returncode == 2, result.stdout + result.stderr
        text = result.stdout + result.stderr
        assert "column products.legacy_sku is in the database, not in the migrations (text)" in text
        assert "index products_legacy_sku_idx is in the database" in text
        assert "Traceback" not in text
        # read-only: the table and the migration history are as they were
        assert {r[0] for r in rows(ws, product) or []} == tables
        as_json = json.loads(stack.inv("db.diff", "-s", "product", "--json", "--no-prisma").stdout)
        assert as_json[0]["differs"] and [d["object"] for d in as_json[0]["drift"]] == [
            "column public.products.legacy_sku",
            "index public.products_legacy_sku_idx",
        ]
        # without --exit-code the differences are reported, and the task succeeds
        assert stack.inv("db.diff", "-s", "product", "--no-prisma").returncode == 0
        no_shadow_left(ws)
    finally:
        migrated(ws, ["product"])


def test_diff_compares_the_schema_with_the_migrations_through_prisma(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    try:
        migrated(ws, ["content"])
        same = inv("db.diff", "-s", "content", "--exit-code")
        assert same.returncode == 0, same.stdout + same.stderr
        assert (
            "compared by Prisma 6.19.3"
            in json.loads(inv("db.diff", "-s", "content", "--json").stdout)[0]["schema_note"]
        )
        schema = ws.service_dir(ws.registry.service("content")) / "prisma" / "schema.prisma"
        schema.write_text(
            schema.read_text() + "\nmodel Banner {\n  id   Int    @id\n"
            '  text String\n\n  @@map("banners")\n}\n'
        )
        changed = inv("db.diff", "-s", "content", "--exit-code")
        assert changed.returncode == 2
        assert 'CREATE TABLE "banners"' in changed.stdout
        assert "no migration holds" in changed.stderr
        no_shadow_left(ws)
    finally:
        shutil.rmtree(root.parent)


def test_diff_without_createdb_names_the_role(stack):
    ws = stack.ws
    with superuser(ws) as conn:
        conn.execute("ALTER ROLE lomash_analytics NOCREATEDB")
    try:
        result = stack.inv("db.diff", "-s", "analytics", "--no-prisma")
        assert_user_error(
            result,
            "Role lomash_analytics",
            "may not create databases",
            "ALTER ROLE lomash_analytics CREATEDB",
        )
    finally:
        with superuser(ws) as conn:
            conn.execute("ALTER ROLE lomash_analytics CREATEDB")


# -- db.baseline --------------------------------------------------------------------------------
def test_a_baselined_database_is_up_to_date_for_both_runners_and_prisma(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    svc = ws.registry.service("appointment")
    try:
        fresh(ws, ["appointment"])
        # the schema made by hand, as a restored dump would have it: no migration history
        script = (ws.migrations_dir(svc) / INIT / "migration.sql").read_text()
        with connections.pg_connect(ws, svc, autocommit=True) as conn:
            conn.execute(script)
        assert rows(ws, svc) is None
        refused = inv("db.baseline", "-s", "appointment", env={"CI": "true"})
        assert_user_error(refused, "--yes", "nothing was recorded")
        assert rows(ws, svc) is None
        done = inv("db.baseline", "-s", "appointment", "--yes", check=True)
        assert "1 migration(s) recorded as applied in lomash_appointments" in done.stdout
        ((rid, checksum, name, started, finished, logs, rolled_back, steps),) = rows(ws, svc)
        assert name == INIT and logs == "" and steps == 0 and rolled_back is None
        assert started == finished  # as `prisma migrate resolve --applied` writes it
        # both runners: nothing to apply
        for runner in ("native", "prisma"):
            again = inv("db.migrate", "-s", "appointment", "--runner", runner, check=True)
            assert "0 migration(s) applied" in again.stdout and "up to date" in again.stdout
        assert inv("db.status", "-s", "appointment").returncode == 0
        # and Prisma's own CLI
        status = prisma_cli(ws, svc, "migrate", "status")
        assert status.returncode == 0 and "Database schema is up to date!" in status.stdout, (
            status.stdout + status.stderr
        )
        deploy = prisma_cli(ws, svc, "migrate", "deploy")
        assert deploy.returncode == 0 and "No pending migrations to apply." in deploy.stdout
        assert len(rows(ws, svc)) == 1
        # a second baseline has nothing to do
        assert (
            "nothing to baseline"
            in inv("db.baseline", "-s", "appointment", "--yes", check=True).stdout
        )
    finally:
        migrated(stack.ws, ["appointment"])
        shutil.rmtree(root.parent)


def test_baseline_refuses_an_empty_database_and_a_schema_that_differs(stack):
    ws = stack.ws
    svc = ws.registry.service("order")
    try:
        fresh(ws, ["order"])
        empty = stack.inv("db.baseline", "-s", "order", "--yes")
        assert_user_error(
            empty,
            "lomash_orders is empty (no tables)",
            "inv db.migrate --service order",
            "Nothing was recorded",
        )
        # the first migration's schema, but not the second's: refused, each difference named
        init = (ws.migrations_dir(svc) / INIT / "migration.sql").read_text()
        with connections.pg_connect(ws, svc, autocommit=True) as conn:
            conn.execute(init)
            conn.execute("ALTER TABLE orders ADD COLUMN gift_wrap boolean")
        differs = stack.inv("db.baseline", "-s", "order", "--yes")
        assert_user_error(
            differs,
            "does not have the schema its 2 migration(s) make",
            "column orders.gift_wrap is in the database, not in the migrations",
            "table webhook_events is in the migrations, not in the database",
            "Nothing was recorded",
        )
        assert rows(ws, svc) is None
        no_shadow_left(ws)
    finally:
        migrated(ws, ["order"])


# -- seed profiles ------------------------------------------------------------------------------
def test_a_seed_profile_file_is_used_where_it_exists_and_reaches_seed_commands(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    try:
        migrated(ws, ["product", "customer"])
        product = ws.registry.service("product")
        demo = ws.service_dir(product) / "prisma" / "seed.demo.sql"
        demo.write_text(
            "INSERT INTO categories (name, slug) VALUES ('Demo kitchens', "
            "'demo-kitchens') ON CONFLICT DO NOTHING;\n"
        )
        # customer seeds by a command of its own, which reads SEED_PROFILE
        customer = ws.registry.service("customer")
        folder = ws.service_dir(customer)
        (folder / "prisma" / "seed.sql").unlink()
        (folder / "prisma" / "seed.js").write_text(
            "const { Client } = require('pg');\n"
            "(async () => {\n"
            "  const db = new Client({ connectionString: process.env.DATABASE_URL });\n"
            "  await db.connect();\n"
            "  await db.query('CREATE TABLE IF NOT EXISTS seed_runs (profile text)');\n"
            "  await db.query('INSERT INTO seed_runs VALUES ($1)', [process.env.SEED_PROFILE || 'none']);\n"  # noqa: E501
            "  await db.end();\n"
            "})();\n"
        )
        package = json.loads((folder / "package.json").read_text())
        package["prisma"] = {"seed": "node prisma/seed.js"}
        (folder / "package.json").write_text(json.dumps(package, indent=2))
        result = inv("db.seed", "-s", "product", "-s", "customer", "--profile", "demo", check=True)
        assert "services/product-service/prisma/seed.demo.sql" in result.stdout
        with connections.pg_connect(ws, product) as conn:
            assert conn.execute("SELECT count(*) FROM categories").fetchone()[0] == 1
        with connections.pg_connect(ws, customer) as conn:
            assert conn.execute("SELECT profile FROM seed_runs").fetchall() == [("demo",)]
        # without a profile: the usual seed, and no SEED_PROFILE
        inv("db.seed", "-s", "product", "-s", "customer", check=True)
        with connections.pg_connect(ws, product) as conn:
            assert conn.execute("SELECT count(*) FROM categories").fetchone()[0] > 1
        with connections.pg_connect(ws, customer) as conn:
            assert [r[0] for r in conn.execute("SELECT profile FROM seed_runs")] == ["demo", "none"]
        bad = inv("db.seed", "--profile", "../demo")
        assert_user_error(bad, "Seed profile '../demo' is not usable")
    finally:
        with superuser(stack.ws, "lomash_customers") as conn:
            conn.execute("DROP TABLE IF EXISTS seed_runs")
        migrated(stack.ws, ["product", "customer"])
        shutil.rmtree(root.parent)
