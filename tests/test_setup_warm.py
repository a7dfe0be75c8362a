"""A warm `inv setup` reuses what the last run verified, and still notices every change: a
changed `.env`, a new migration, an edited `_prisma_migrations`, a restarted server, a deleted
bucket, a killed service. Each change is made the way a developer (or another tool) makes it,
and its effect is checked with independent clients."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, make_workspace, stack_env

pytestmark = pytest.mark.xdist_group("setup-warm")  # one stack, changed test after test

REUSED = "as verified before"


@pytest.fixture(scope="module")
def ready(tmp_root):
    """A workspace set up once (native runner, no services), on its own free ports."""
    root = Path(tempfile.mkdtemp(prefix="warm-", dir=tmp_root))
    root.rmdir()
    make_workspace(root, node_modules=True)
    inv = Inv({**stack_env(root), "INVOKE_STACK_BACKEND": "embedded"})
    inv("setup", "--runner", "native", check=True, timeout=600)
    yield root, inv
    inv("stack.down", "--volumes", "--yes", timeout=120)


def run(inv, check=True) -> dict[str, tuple[str, str]]:
    result = inv("setup", "--runner", "native", "--json", check=check, timeout=300)
    return {s["step"]: (s["status"], s["detail"]) for s in json.loads(result.stdout)["steps"]}


def settled(inv) -> dict[str, tuple[str, str]]:
    """Two runs: the first may check in full (files written less than a second ago are never
    trusted), the second is what a developer's next `inv setup` does."""
    time.sleep(1.1)
    run(inv)
    return run(inv)


def pg(inv, db="lomash_products", user="lomash_product"):
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=int(inv.env["INVOKE_INFRA_POSTGRES_PORT"]),
        dbname=db,
        user=user,
        password="changeme_local",
        autocommit=True,
    )


def test_a_warm_run_reuses_each_check_and_loads_no_heavy_client(ready):
    root, inv = ready
    steps = settled(inv)
    assert {status for status, _ in steps.values()} <= {"already done", "skipped"}, steps
    for name in ("env", "db.init", "db.migrate", "aws"):
        assert REUSED in steps[name][1], (name, steps[name])
    assert (root / ".lomash/setup-verified.json").is_file()
    # the same run, with Python reporting every module it loads: no psycopg, redis-py, boto3
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", "setup", "--runner", "native"],
        cwd=SUITE_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **inv.env},
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert traced.returncode == 0, traced.stdout + traced.stderr
    loaded = {
        line.rsplit("|", 1)[-1].strip()
        for line in traced.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "invoke" in loaded and "lomash_tasks.setup.steps" in loaded
    assert not loaded & {"psycopg", "redis", "boto3", "botocore", "docker"}, sorted(
        loaded & {"psycopg", "redis", "boto3", "botocore", "docker"}
    )


def test_a_changed_env_file_is_noticed(ready):
    root, inv = ready
    settled(inv)
    path = root / "services/auth-service/.env"
    original = path.read_text()
    # a key of the example removed by hand: the env step appends it again
    path.write_text(re.sub(r"(?m)^OTP_TTL_SECONDS=.*\n", "", original))
    steps = run(inv)
    assert steps["env"][0] == "done", steps["env"]
    assert "OTP_TTL_SECONDS=300" in path.read_text()
    # the service's URL now names another service's database: the preflight stops the run
    path.write_text(original.replace("/lomash_auth?", "/lomash_products?"))
    broken = inv("setup", "--runner", "native", timeout=300)
    assert_user_error(broken, "stopped at step 'db.migrate'", "auth-service: DATABASE_URL")
    path.write_text(original)
    steps = settled(inv)
    assert steps["db.migrate"][0] == "already done" and REUSED in steps["db.migrate"][1]


def test_a_new_migration_is_applied(ready):
    root, inv = ready
    settled(inv)
    folder = root / "services/product-service/prisma/migrations/20270301000000_warm_check"
    folder.mkdir()
    (folder / "migration.sql").write_text("CREATE TABLE warm_check (id int PRIMARY KEY);\n")
    steps = run(inv)
    assert steps["db.migrate"] == ("done", "1 migrations applied to 1 databases"), steps
    with pg(inv) as conn:
        assert conn.execute("SELECT to_regclass('public.warm_check') IS NOT NULL").fetchone()[0]
        assert conn.execute(
            "SELECT finished_at IS NOT NULL FROM _prisma_migrations WHERE "
            "migration_name = '20270301000000_warm_check'"
        ).fetchone()[0]
    assert REUSED in settled(inv)["db.migrate"][1]


def test_an_edited_migrations_table_is_read_again(ready):
    """A row of _prisma_migrations changed by another tool: the fingerprint (read from the
    database itself) differs, so the migration state is read in full, and a failed row found
    there stops the run as it would on a first run."""
    _, inv = ready
    settled(inv)
    with pg(inv) as conn:
        conn.execute(
            "UPDATE _prisma_migrations SET finished_at = NULL, logs = 'failed by hand' "
            "WHERE migration_name = '20260101000000_init'"
        )
    broken = inv("setup", "--runner", "native", timeout=300)
    assert_user_error(broken, "stopped at step 'db.migrate'", "product-service")
    with pg(inv) as conn:
        conn.execute(
            "UPDATE _prisma_migrations SET finished_at = started_at, logs = NULL "
            "WHERE migration_name = '20260101000000_init'"
        )
    steps = run(inv)
    assert steps["db.migrate"][0] == "already done" and REUSED not in steps["db.migrate"][1]


def test_a_restarted_server_is_checked_again(ready):
    root, inv = ready
    from lomash_tasks import processes

    settled(inv)
    pid = int((root / ".lomash/postgres/data/postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)  # a clean stop: PostgreSQL ends its own backends
    deadline = time.monotonic() + 30
    while processes.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.alive(pid)
    steps = run(inv)
    assert steps["stack"][0] == "done" and "postgres" in steps["stack"][1], steps["stack"]
    for name in ("db.init", "db.migrate"):  # checked in full against the new server run
        assert steps[name][0] == "already done" and REUSED not in steps[name][1], steps[name]
    assert "seeds ran" in steps["db.seed"][1] or steps["db.seed"][0] == "done", steps["db.seed"]
    assert REUSED in settled(inv)["db.init"][1]


def test_a_deleted_bucket_is_created_again(ready):
    _, inv = ready
    import boto3

    settled(inv)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{inv.env['INVOKE_INFRA_AWS_PORT']}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.delete_bucket(Bucket="lomash-dev-media")
    steps = run(inv)
    assert steps["aws"][0] == "done", steps["aws"]
    assert "lomash-dev-media" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert REUSED in settled(inv)["aws"][1]


def test_a_dropped_database_is_made_again(ready):
    """A database dropped by hand (its OID gone from the server's catalog): db.init creates it
    from init.sql, migrations and seeds follow."""
    _, inv = ready
    settled(inv)
    with pg(inv, "postgres", "lomash_master") as conn:
        conn.execute('DROP DATABASE "lomash_analytics" WITH (FORCE)')
    steps = run(inv)
    assert steps["db.init"][0] == "done" and steps["db.migrate"][0] == "done", steps
    with pg(inv, "lomash_analytics", "lomash_analytics") as conn:
        assert conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()[0] >= 1
