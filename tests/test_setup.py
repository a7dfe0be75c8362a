"""`inv setup`: a fresh temporary workspace taken to a working stack, twice, checked with
independent clients; GitHub Actions mode; the step flags; one run per workspace."""

import json
import smtplib
import tempfile
from pathlib import Path

import pytest
from conftest import Inv, assert_user_error, checksums, make_workspace, stack_env

pytestmark = pytest.mark.xdist_group("setup")  # one worker runs these: they start their own stack


def port_env(root) -> dict[str, str]:
    """Free ports for a dedicated embedded stack in `root`."""
    return {**stack_env(root), "INVOKE_STACK_BACKEND": "embedded"}


@pytest.fixture(scope="module")
def fresh(tmp_root):
    """A fresh workspace (no .env, no .lomash) on its own free ports; its stack is stopped
    and its data removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="setup-", dir=tmp_root))
    root.rmdir()
    make_workspace(root, node_modules=True)
    inv = Inv(port_env(root))
    yield root, inv
    inv("stack.down", "--volumes", "--yes", timeout=120)


def summary(result):
    data = json.loads(result.stdout)
    return {s["step"]: s["status"] for s in data["steps"]}


def test_setup_twice_then_check_with_independent_clients(fresh):
    root, inv = fresh
    first = inv("setup", "--runner", "native", "--json", check=True, timeout=600)
    steps = summary(first)
    assert steps == {
        "env": "done",
        "stack": "done",
        "wait": "done",
        "db.init": "already done",
        "deps": "skipped",
        "db.migrate": "done",
        "db.seed": "done",
        "aws": "done",
        "services": "skipped",
    } or (steps["db.init"] == "done" and steps["db.migrate"] == "done")
    assert "changeme_local" not in first.stdout + first.stderr

    def files(root):  # the workspace's own files; servers' state under .lomash/ moves on
        return {k: v for k, v in checksums(root).items() if not k.startswith(".lomash/")}

    before = files(root)
    second = inv("setup", "--runner", "native", "--json", check=True, timeout=300)
    assert set(summary(second).values()) <= {"already done", "skipped"}
    assert files(root) == before  # the second run changed no file

    env = inv.env
    import boto3
    import psycopg
    import redis

    # PostgreSQL: every service's migration recorded, seeds present, roles fenced in.
    pg = dict(
        host="127.0.0.1", port=int(env["INVOKE_INFRA_POSTGRES_PORT"]), password="changeme_local"
    )
    for db, role in [
        ("lomash_auth", "lomash_auth"),
        ("lomash_orders", "lomash_order"),
        ("lomash_analytics", "lomash_analytics"),
    ]:
        with psycopg.connect(dbname=db, user=role, **pg) as conn:
            rows = conn.execute(
                "SELECT migration_name, finished_at IS NOT NULL FROM _prisma_migrations"
            ).fetchall()
            later = [("20261201000000_webhook_events", True)] if db == "lomash_orders" else []
            assert sorted(rows) == [("20260101000000_init", True), *later]
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname='public' "
                "AND tablename <> '_prisma_migrations'"
            ).fetchone()[0]
            assert tables > 0
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dbname="lomash_products", user="lomash_auth", **pg).close()

    # Redis: the password is required.
    client = redis.Redis(port=int(env["INVOKE_INFRA_REDIS_PORT"]), password="changeme_local")
    assert client.ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=int(env["INVOKE_INFRA_REDIS_PORT"]), password="wrong").ping()

    # The AWS endpoint: both buckets exist.
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{env['INVOKE_INFRA_AWS_PORT']}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"lomash-dev-media", "lomash-dev-assets"} <= names

    # The SMTP trap accepts mail.
    with smtplib.SMTP("127.0.0.1", int(env["INVOKE_INFRA_SMTP_PORT"]), timeout=5) as smtp:
        smtp.sendmail("a@lomashwood.local", ["b@lomashwood.local"], "Subject: hi\n\nhello")


def test_github_actions_mode_groups_annotates_and_summarises(fresh, tmp_path):
    root, inv = fresh
    summary_file = tmp_path / "summary.md"
    folder = root / "services/content-service/prisma/migrations/20270101000000_broken"
    folder.mkdir()
    (folder / "migration.sql").write_text(
        "CREATE TABLE broken (id int);\nSELECT no_such_column FROM broken;\n"
    )
    try:
        result = inv(
            "setup",
            "--runner",
            "native",
            env={"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_STEP_SUMMARY": str(summary_file)},
            timeout=300,
        )
    finally:
        import shutil

        shutil.rmtree(folder)
    out = result.stdout + result.stderr
    assert_user_error(result, "stopped at step 'db.migrate'")
    assert "::group::env: " in out and "::endgroup::" in out
    assert "::error title=" in out and "content-service" in out
    assert "no_such_column" in out
    text = summary_file.read_text()
    assert "| db.migrate |" in text and "failed" in text
    assert "| db.seed |" in text and "not run" in text
    shown = "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))
    assert "::add-mask::changeme_local" in out  # the runner is told to hide it...
    assert "changeme_local" not in text and "changeme_local" not in shown  # ...and we do too
    kept = json.loads((root / ".lomash/setup-summary.json").read_text())  # the dashboard's
    assert kept["ok"] is False and kept["failed"] == "db.migrate" and kept["runner"] == "native"
    failed = {s["step"]: s for s in kept["steps"]}["db.migrate"]
    assert "content-service" in failed["detail"] and "inv setup --only db.migrate" in failed["fix"]


def test_unknown_step_lists_the_steps(fresh):
    _, inv = fresh
    assert_user_error(
        inv("setup", "--only", "db.migrat"),
        "Unknown step 'db.migrat'",
        "Did you mean 'db.migrate'?",
        "env, stack, wait, db.init, deps",
    )
    assert_user_error(inv("setup", "--skip", "seed"), "Unknown step 'seed'")


def test_dry_run_changes_nothing(tmp_root):
    root = Path(tempfile.mkdtemp(prefix="dry-", dir=tmp_root))
    root.rmdir()
    make_workspace(root)
    before = checksums(root)
    result = Inv(port_env(root))("setup", "--dry", check=True)
    assert "planned" in result.stdout
    assert checksums(root) == before
    assert not (root / ".lomash" / "postgres").exists()


def test_a_second_setup_waits_then_refuses(fresh):
    """Two `inv setup` on one workspace never interleave: the second waits for the lock."""
    root, inv = fresh
    import io

    from lomash_tasks.console import Console
    from lomash_tasks.setup.pipeline import exclusive

    with exclusive(root / ".lomash" / "setup.lock", Console(out=io.StringIO()), 1, "test"):
        result = inv("setup", env={"INVOKE_SETUP_LOCK_TIMEOUT": "1"})
    assert_user_error(result, "Another inv setup is still running on this workspace", "setup.lock")


def test_setup_after_teardown_with_volumes_seeds_again(fresh):
    """A stack re-created from the cluster template (same database OIDs) is seeded again."""
    root, inv = fresh
    assert (root / ".lomash" / "seeded.json").exists()  # seeded by the tests above
    inv("teardown", "--volumes", "--yes", check=True, timeout=120)
    result = inv("setup", "--runner", "native", "--json", check=True, timeout=300)
    assert summary(result)["db.seed"] == "done"
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=int(inv.env["INVOKE_INFRA_POSTGRES_PORT"]),
        dbname="lomash_products",
        user="lomash_product",
        password="changeme_local",
    ) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename <> '_prisma_migrations'"
            )
        ]
        rows = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
    assert rows > 0
