"""Environments (`--env test`): test databases made as init.sql makes the real ones, `.env.test`
files, resets from a template database, and `inv test` running a service's own e2e script, on the
session's real PostgreSQL with the reference monorepo's real Node test.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_user_error
from test_db import copy_workspace, superuser

from lomash_tasks import connections
from lomash_tasks.db import environments, migrate
from lomash_tasks.env import files as envfiles

pytestmark = pytest.mark.xdist_group("db")

TEST = environments.Environment("test", "_test", ".env.test", "test", {"NODE_ENV": "test"})


def database_facts(ws, name):
    """What init.sql decides about a database: owner, encoding, ACL, extensions, schema owner
    and its ACL (the grants its section gives)."""
    with superuser(ws) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datacl::text "
            "FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    if row is None:
        return None
    owner, encoding, acl = row
    with superuser(ws, name) as conn:
        exts = sorted(r[0] for r in conn.execute("SELECT extname FROM pg_extension"))
        schema = conn.execute(
            "SELECT pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace "
            "WHERE nspname = 'public'"
        ).fetchone()
    return {"owner": owner, "encoding": encoding, "acl": acl, "extensions": exts, "schema": schema}


def dev_columns(ws):
    with superuser(ws, "lomash_auth") as conn:
        return sorted(
            conn.execute(
                "SELECT table_name, column_name FROM information_schema."
                "columns WHERE table_schema = 'public'"
            ).fetchall()
        )


def drop_test_databases(ws, aliases):
    from psycopg import sql

    with superuser(ws) as conn:
        for alias in aliases:
            svc = ws.registry.service(alias)
            for name in (TEST.database(svc.database), environments.template_name(TEST, svc)):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def remade(stack, aliases):
    """The development databases made again by init.sql (`db.reset`): other tests reshape them
    (`fresh` recreates their public schema), and the comparisons below are with init.sql's."""
    for alias in aliases:
        stack.inv("db.reset", "-s", alias, "--yes", "--runner", "native", check=True)


def test_test_databases_are_made_as_init_sql_makes_the_real_ones(stack):
    ws = stack.ws
    drop_test_databases(ws, ["auth", "content"])
    remade(stack, ["auth", "content"])
    made = stack.inv("db.init", "--env", "test", check=True)
    assert (
        "lomash_auth_test" in made.stdout
        and "created as init.sql makes the real one" in made.stdout
    )
    for alias in ("auth", "content"):
        svc = ws.registry.service(alias)
        real = database_facts(ws, svc.database)
        test = database_facts(ws, f"{svc.database}_test")
        assert test == real, (alias, test, real)
        assert real["owner"] == svc.role and real["extensions"]
    # the role reaches its test database, and not another service's
    auth = ws.registry.service("auth")
    connections.pg_connect(ws, auth, dbname="lomash_auth_test").close()
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        connections.pg_connect(ws, auth, dbname="lomash_content_test").close()
    again = stack.inv("db.init", "--env", "test", check=True)
    assert "0 test database(s) created" in again.stdout


def test_env_copy_env_test_writes_env_test_files_on_the_test_databases(stack):
    root, ws, inv = copy_workspace(stack)
    try:
        inv("env.copy", check=True)
        before = (root / "services/auth-service/.env").read_bytes()
        made = inv("env.copy", "--env", "test", check=True)
        assert "services/auth-service/.env.test" in made.stdout and "created" in made.stdout
        assert not (root / ".env.test").exists()  # the root .env is the stack's, in every env
        auth = envfiles.read_env(root / "services/auth-service/.env.test")
        port = stack.env["INVOKE_INFRA_POSTGRES_PORT"]
        for key in ("DATABASE_URL", "TEST_DATABASE_URL"):
            assert auth.get(key) == (
                f"postgresql://lomash_auth:changeme_local@localhost:"
                f"{port}/lomash_auth_test?schema=public"
            ), key
        assert auth.get("NODE_ENV") == "test" and auth.get("PORT") is not None
        gateway = envfiles.read_env(root / "api-gateway/.env.test")
        assert gateway.get("TEST_DATABASE_URL") is None and gateway.get("NODE_ENV") == "test"
        assert (root / "services/auth-service/.env").read_bytes() == before
        assert oct((root / "services/auth-service/.env.test").stat().st_mode & 0o777) == "0o600"
        # a second run changes nothing; a developer's edit is kept
        path = root / "services/auth-service/.env.test"
        path.write_text(path.read_text() + "MY_OWN=1\n")
        again = inv("env.copy", "--env", "test", "--service", "auth", check=True)
        assert "unchanged" in again.stdout and "MY_OWN=1" in path.read_text()
        # the files the services read are the ones `inv test` uses
        shown = json.loads(inv("env.copy", "--env", "test", "--dry", "--json").stdout)
        assert {r["file"] for r in shown} == {f"{s.path}/.env.test" for s in ws.registry.services}
    finally:
        shutil.rmtree(root.parent)


def test_migrate_status_and_seed_act_on_the_test_databases_only(stack):
    ws = stack.ws
    drop_test_databases(ws, ["product"])
    assert migrate.migrate(ws, ["product"], runner="native").ok
    dev_before = {
        r[0]
        for r in superuser(ws, "lomash_products").execute(
            "SELECT migration_name FROM _prisma_migrations"
        )
    }
    status = stack.inv("db.status", "--env", "test", "-s", "product")
    assert_user_error(
        status, "lomash_products_test does not exist yet", "inv db.migrate --env test"
    )
    migrated = stack.inv(
        "db.migrate", "--env", "test", "-s", "product", "--runner", "native", check=True
    )
    assert "applied 20260101000000_init" in migrated.stdout
    assert stack.inv("db.status", "--env", "test", "-s", "product").returncode == 0
    seeded = stack.inv("db.seed", "--env", "test", "-s", "product", check=True)
    assert "db.seed --profile test" in seeded.stdout  # the environment's profile
    assert "prisma/seed.sql" in seeded.stdout  # product has no seed.test.sql
    with superuser(ws, "lomash_products_test") as conn:
        assert conn.execute("SELECT count(*) FROM categories").fetchone()[0] > 0
        assert database_facts(ws, "lomash_products_test")["owner"] == "lomash_product"
    with superuser(ws, "lomash_products") as conn:
        assert {
            r[0] for r in conn.execute("SELECT migration_name FROM _prisma_migrations")
        } == dev_before


def test_reset_env_test_clones_the_template_and_remakes_it_when_migrations_change(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    svc = ws.registry.service("auth")
    try:
        drop_test_databases(ws, ["auth"])
        remade(stack, ["auth"])
        dev_before = dev_columns(ws)
        first = inv(
            "db.reset", "--env", "test", "-s", "auth", "--yes", "--runner", "native", check=True
        )
        assert "its template made first" in first.stdout
        assert "prisma/seed.test.sql" in first.stdout
        with superuser(ws) as conn:
            comment = conn.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM "
                "pg_database WHERE datname = 'lomash_auth_test_template'"
            ).fetchone()[0]
        assert comment.startswith("lomash-tasks template ")
        assert database_facts(ws, "lomash_auth_test") == database_facts(ws, "lomash_auth")
        with connections.pg_connect(ws, svc, dbname="lomash_auth_test", autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2
            conn.execute("INSERT INTO users (email) VALUES ('left.over@example.com')")
        refused = inv("db.reset", "--env", "test", "-s", "auth", env={"CI": "true"})
        assert_user_error(refused, "lomash_auth_test", "--yes")
        second = inv("db.reset", "--env", "test", "-s", "auth", "--yes", check=True)
        assert "template made" not in second.stdout
        with connections.pg_connect(ws, svc, dbname="lomash_auth_test") as conn:
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2
        # a new migration: the template is made again, and the clone has it
        later = ws.migrations_dir(svc) / "20270101000000_add_locale" / "migration.sql"
        later.parent.mkdir()
        later.write_text('ALTER TABLE "users" ADD COLUMN "locale" TEXT;\n')
        third = inv(
            "db.reset", "--env", "test", "-s", "auth", "--yes", "--runner", "native", check=True
        )
        assert "its template made first" in third.stdout
        with connections.pg_connect(ws, svc, dbname="lomash_auth_test") as conn:
            assert conn.execute("SELECT count(locale) FROM users").fetchone()[0] == 0
        assert dev_columns(ws) == dev_before  # the development database was never touched
    finally:
        drop_test_databases(stack.ws, ["auth"])
        shutil.rmtree(root.parent)


def test_inv_test_runs_the_auth_e2e_tests_twice_against_a_fresh_test_database(stack):
    root, ws, inv = copy_workspace(stack, node_modules=True)
    try:
        for _run in (1, 2):
            result = inv("test", "--service", "auth", "--kind", "e2e", timeout=300)
            text = result.stdout + result.stderr
            assert result.returncode == 0, text
            assert "# pass 6" in result.stdout and "# fail 0" in result.stdout, text
            assert "lomash_auth_test reset" in result.stdout
        assert (root / "services/auth-service/.env.test").is_file()
        # what the reset is for: a row left behind (a crashed run, a hand-made test) fails the
        # same tests without it, and is gone with it
        svc = ws.registry.service("auth")
        with connections.pg_connect(ws, svc, dbname="lomash_auth_test", autocommit=True) as conn:
            conn.execute("INSERT INTO users (email) VALUES ('left.behind@example.com')")
        kept = inv("test", "--service", "auth", "--kind", "e2e", "--no-reset", timeout=300)
        assert kept.returncode == 1
        assert "not ok 2 - starts from the test seed profile" in kept.stdout
        assert_user_error(kept, "auth-service", "failed (exit 1)")
        fresh_again = inv("test", "--service", "auth", "--kind", "e2e", timeout=300)
        assert fresh_again.returncode == 0, fresh_again.stdout + fresh_again.stderr
        # a service without such a script, named, is a mistake said with the scripts it has
        none = inv("test", "--service", "product", "--kind", "e2e")
        assert_user_error(none, "product-service has no test:e2e script")
        # every service: the ones without the script are skipped
        every = inv("test", "--kind", "e2e", timeout=300)
        assert every.returncode == 0, every.stdout + every.stderr
        assert "skipped: no test:e2e script" in every.stdout
        # an .env.test made for another port: named (never rewritten), and the tests fail on it
        env_test = root / "services/auth-service/.env.test"
        port = stack.env["INVOKE_INFRA_POSTGRES_PORT"]
        stale = env_test.read_text().replace(f"localhost:{port}/", "localhost:1/")
        env_test.write_text(stale)
        drifted = inv("test", "--service", "auth", "--kind", "e2e", timeout=300)
        assert drifted.returncode == 1
        assert (
            "services/auth-service/.env.test: TEST_DATABASE_URL is postgresql://"
            "lomash_auth:****@localhost:1/lomash_auth_test" in drifted.stderr
        )
        assert "env.copy --env test --align" in drifted.stderr
        assert env_test.read_text() == stale
    finally:
        drop_test_databases(stack.ws, ["auth"])
        shutil.rmtree(root.parent)


def test_unknown_env_lists_the_known_ones_and_env_with_target_is_refused(stack, tmp_path):
    unknown = stack.inv("db.status", "--env", "tset")
    assert_user_error(
        unknown,
        "Unknown environment 'tset'",
        "Did you mean 'test'?",
        "Known environments: development, test",
    )
    config = tmp_path / "envs.yaml"
    config.write_text("environments:\n  qa:\n    database_suffix: _qa\n")
    listed = stack.inv("-f", str(config), "env.copy", "--env", "staging")
    assert_user_error(listed, "Known environments: development, qa, test")
    both = stack.inv("db.migrate", "--env", "test", "--target", "staging")
    assert_user_error(both, "--env test and --target staging do not go together")
    config.write_text("environments:\n  qa:\n    database_suffix: ''\n")
    empty = stack.inv("-f", str(config), "db.status", "--env", "qa")
    assert_user_error(empty, "'environments.qa.database_suffix'")
