"""Backups before a migration on a target, and `db.resolve --target`: the real sshd bastion, a
PostgreSQL playing RDS, secrets in moto, real pg_dump / pg_restore. The RDS snapshot goes to
moto's RDS API: a stand-in (no RDS here), which the test names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import assert_user_error
from remote_peers import Rds, Sshd, aws_env, needs_sshd, store_secrets, target_config
from test_db import INIT, copy_workspace

pytestmark = [needs_sshd, pytest.mark.xdist_group("remote")]

LATER = "20270101000000_add_locale"

# db.migrate of the auth service through the tunnel, with the native runner (--yes: production)
MIGRATE = ("db.migrate", "--via", "tunnel", "-s", "auth", "--runner", "native")
MIGRATE_PRODUCTION = (*MIGRATE, "--target", "production", "--yes")
MIGRATE_STAGING = (*MIGRATE, "--target", "staging")


@pytest.fixture(scope="module")
def sshd(tmp_root):
    server = Sshd.start(Path(tempfile.mkdtemp(prefix="sshd-", dir=tmp_root)))
    yield server
    server.stop()


@pytest.fixture
def rds(stack):
    made = Rds.create(stack.ws, {"auth"})
    yield made
    made.drop(stack.ws)


@pytest.fixture
def world(stack, rds, sshd, tmp_path):
    """A workspace of its own (its backups and audit log), the RDS database migrated to the
    first migration with rows in it, and a second migration pending; targets `staging` and
    `production` (backup: pg_dump) on the same RDS, through the bastion."""
    root, ws, inv = copy_workspace(stack)
    prefix = f"test/{rds.tag}"
    store_secrets(stack, prefix, rds.urls)
    staging = target_config(
        tmp_path / "staging.yaml", "staging", stack=stack, rds=rds, prefix=prefix, sshd=sshd
    )
    production = target_config(
        tmp_path / "production.yaml",
        "production",
        stack=stack,
        rds=rds,
        prefix=prefix,
        sshd=sshd,
        production=True,
    )
    env = aws_env(stack)

    def run(config, *args, **kw):
        return inv("-f", str(config), *args, env={**env, **kw.pop("env", {})}, **kw)

    run(
        staging,
        *MIGRATE_STAGING,
        check=True,
    )
    rds.query(
        stack.ws,
        "auth",
        "INSERT INTO users (email, name) VALUES "
        "('one@example.com', 'One'), ('two@example.com', 'Two') "
        "RETURNING id",
    )
    svc = ws.registry.service("auth")
    later = ws.migrations_dir(svc) / LATER / "migration.sql"
    later.parent.mkdir()
    later.write_text('ALTER TABLE "users" ADD COLUMN "locale" TEXT;\n')
    yield {
        "root": root,
        "ws": ws,
        "run": run,
        "staging": staging,
        "production": production,
        "rds": rds,
        "svc": svc,
    }
    shutil.rmtree(root.parent, ignore_errors=True)


def with_backup(config: Path, backup) -> Path:
    data = yaml.safe_load(config.read_text())
    for target in data["targets"].values():
        target["backup"] = backup
    config.write_text(yaml.safe_dump(data))
    return config


def audit(root: Path, what: str) -> dict:
    lines = [json.loads(s) for s in (root / ".lomash/remote-audit.log").read_text().splitlines()]
    return [e for e in lines if e["what"] == what][-1]


def applied(stack, rds) -> list[str]:
    return [
        r[0]
        for r in rds.query(
            stack.ws,
            "auth",
            "SELECT migration_name FROM "
            "_prisma_migrations WHERE finished_at IS "
            "NOT NULL ORDER BY 1",
        )
    ]


def execute(stack, database, sql) -> None:
    from lomash_tasks import connections

    with connections.pg_connect(stack.ws, superuser=True, dbname=database, autocommit=True) as conn:
        conn.execute(sql)


def columns(stack, database) -> set[str]:
    from lomash_tasks import connections

    with connections.pg_connect(stack.ws, superuser=True, dbname=database, autocommit=True) as conn:
        return {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
            )
        }


def test_a_production_migration_through_the_bastion_writes_a_restorable_dump_first(stack, world):
    from lomash_tasks import connections

    rds, root = world["rds"], world["root"]
    production = with_backup(world["production"], "pg_dump")
    before = rds.query(stack.ws, "auth", "SELECT id, email::text, name FROM users ORDER BY id")
    refused = world["run"](
        production,
        "db.migrate",
        "--target",
        "production",
        "--via",
        "tunnel",
        "-s",
        "auth",
        env={"CI": "true"},
    )
    assert_user_error(refused, "production", "--yes")
    assert not (root / ".lomash/backups").exists()  # nothing was taken either
    done = world["run"](
        production,
        *MIGRATE_PRODUCTION,
        check=True,
    )
    assert f"applied {LATER}" in done.stdout
    dumps = list((root / ".lomash/backups/production").glob("*/auth-*.dump"))
    assert len(dumps) == 1, dumps
    dump = dumps[0]
    assert (
        f"backup: auth-service -> .lomash/backups/production/{dump.parent.name}/"
        f"{dump.name}" in done.stdout
    )
    assert dump.stat().st_mode & 0o777 == 0o600
    for folder in (dump.parent, dump.parent.parent, dump.parent.parent.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    entry = audit(root, "db.migrate")
    assert entry["target"] == "production" and entry["result"] == "done"
    assert entry["backup"]["kind"] == "pg_dump"
    assert entry["backup"]["files"][0]["path"] == str(dump.relative_to(root))
    assert entry["backup"]["files"][0]["bytes"] == dump.stat().st_size
    assert applied(stack, rds) == [INIT, LATER]
    # restored into a new database: the rows as they were, and the schema before the migration
    restored = f"restored_{rds.tag}"
    pg = stack.ws.registry.postgres
    with connections.pg_connect(stack.ws, superuser=True, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored}"')
    try:
        env = {**os.environ, "PGPASSWORD": connections.superuser_password(stack.ws)}
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "-h",
                pg.host,
                "-p",
                str(pg.port),
                "-U",
                pg.superuser,
                "-d",
                restored,
                str(dump),
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with connections.pg_connect(stack.ws, superuser=True, dbname=restored) as conn:
            after = conn.execute("SELECT id, email::text, name FROM users ORDER BY id").fetchall()
            history = [
                r[0]
                for r in conn.execute("SELECT migration_name FROM _prisma_migrations ORDER BY 1")
            ]
        assert after == before and len(after) == 2
        assert history == [INIT]
        assert "locale" not in columns(stack, restored)
        assert "locale" in columns(stack, rds.databases["auth"])
    finally:
        with connections.pg_connect(stack.ws, superuser=True, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')


def test_a_backup_that_fails_means_the_migration_does_not_start(stack, world):
    rds, root = world["rds"], world["root"]
    production = with_backup(world["production"], "pg_dump")
    # a table the service's role may not read: its pg_dump fails
    execute(stack, rds.databases["auth"], "CREATE TABLE audit_secrets (id int)")
    failed = world["run"](
        production,
        *MIGRATE_PRODUCTION,
    )
    assert_user_error(
        failed,
        "the backup of auth-service",
        "failed, so the migration did not start",
        "permission denied for table audit_secrets",
    )
    assert applied(stack, rds) == [INIT]
    assert "locale" not in columns(stack, rds.databases["auth"])
    assert not list((root / ".lomash/backups").rglob("*.dump"))
    entry = audit(root, "db.migrate")
    assert entry["result"].startswith("failed:") and entry["backup"]["result"] == "failed"


def test_a_backup_that_runs_out_of_disk_means_the_migration_does_not_start(stack, world):
    rds, root = world["rds"], world["root"]
    production = with_backup(world["production"], "pg_dump")
    backups = root / ".lomash" / "backups"
    backups.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12k,mode=0700", "tmpfs", str(backups)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"a small tmpfs (a disk that fills up) cannot be mounted here: {mounted.stderr.strip()}"
        )
    try:
        rds.query(
            stack.ws,
            "auth",
            "INSERT INTO users (email, name) SELECT 'u' || g || "
            "'@example.com', (SELECT string_agg(md5(g::text || i::text), "
            "'') FROM generate_series(1, 40) i) FROM "
            "generate_series(1, 400) g RETURNING id",
        )
        full = world["run"](
            production,
            "db.migrate",
            "--target",
            "production",
            "--via",
            "tunnel",
            "-s",
            "auth",
            "--yes",
            "--runner",
            "native",
        )
        assert_user_error(
            full, "failed, so the migration did not start", "is full", "No space left on device"
        )
        assert applied(stack, rds) == [INIT]
        assert not list(backups.rglob("*.dump"))
    finally:
        subprocess.run(["umount", str(backups)], check=True)


def test_an_rds_snapshot_is_taken_and_waited_for_before_the_migration(stack, world):
    """moto's RDS API stands in for RDS (no RDS here): the instance, the snapshot call and its
    status are moto's; the migration after it is real."""
    from lomash_tasks import connections

    rds, root = world["rds"], world["root"]
    client = connections.aws_client(stack.ws, "rds")
    instance = f"lomash-prod-{rds.tag}"
    client.create_db_instance(
        DBInstanceIdentifier=instance,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="lomash_master",
        MasterUserPassword="x" * 12,
    )
    production = with_backup(world["production"], {"kind": "snapshot", "instance": instance})
    done = world["run"](
        production,
        *MIGRATE_PRODUCTION,
        check=True,
    )
    snapshots = client.describe_db_snapshots(DBInstanceIdentifier=instance, SnapshotType="manual")[
        "DBSnapshots"
    ]
    assert len(snapshots) == 1 and snapshots[0]["Status"] == "available"
    ident = snapshots[0]["DBSnapshotIdentifier"]
    assert ident.startswith("lomash-production-")
    assert f"RDS snapshot {ident} is available" in done.stdout
    assert audit(root, "db.migrate")["backup"] == {
        "kind": "snapshot",
        "snapshot": ident,
        "seconds": audit(root, "db.migrate")["backup"]["seconds"],
    }
    assert applied(stack, rds) == [INIT, LATER]
    # a snapshot RDS refuses (no such instance): nothing is migrated
    with_backup(production, {"kind": "snapshot", "instance": "no-such-instance"})
    (world["ws"].migrations_dir(world["svc"]) / "20270201000000_more").mkdir()
    (world["ws"].migrations_dir(world["svc"]) / "20270201000000_more" / "migration.sql").write_text(
        "CREATE TABLE more_things (id int);\n"
    )
    refused = world["run"](
        production,
        *MIGRATE_PRODUCTION,
    )
    assert_user_error(
        refused,
        "RDS refused a snapshot of instance no-such-instance",
        "the migration did not start",
    )
    assert applied(stack, rds) == [INIT, LATER]


def test_db_resolve_through_the_bastion_marks_a_failed_migration_rolled_back(stack, world):
    rds, root, svc = world["rds"], world["root"], world["svc"]
    bad = world["ws"].migrations_dir(svc) / LATER / "migration.sql"
    bad.write_text('ALTER TABLE "users" ADD COLUMN "locale" TEXT;\nSELECT * FROM nowhere;\n')
    failed = world["run"](
        world["staging"],
        *MIGRATE_STAGING,
    )
    assert_user_error(failed, "nowhere", "db.resolve")
    refused = world["run"](
        world["production"],
        "db.resolve",
        "--target",
        "production",
        "-s",
        "auth",
        "--rolled-back",
        LATER,
        env={"CI": "true"},
    )
    assert_user_error(refused, "production", "--yes")
    done = world["run"](
        world["staging"],
        "db.resolve",
        "--target",
        "staging",
        "-s",
        "auth",
        "--rolled-back",
        LATER,
        check=True,
    )
    assert f"{LATER} marked rolled back" in done.stdout and "--target staging" in done.stdout
    ((rolled_back,),) = rds.query(
        stack.ws,
        "auth",
        "SELECT rolled_back_at IS NOT NULL FROM "
        f"_prisma_migrations WHERE migration_name = "
        f"'{LATER}'",
    )
    assert rolled_back
    entry = audit(root, "db.resolve")
    assert entry["target"] == "staging" and entry["migration"] == LATER
    assert entry["action"] == "rolled-back" and entry["result"] == "done"
    # fixed, it is applied again through the tunnel
    bad.write_text('ALTER TABLE "users" ADD COLUMN "locale" TEXT;\n')
    world["run"](
        world["staging"],
        *MIGRATE_STAGING,
        check=True,
    )
    assert applied(stack, rds) == [INIT, LATER]
