"""Bad input and faults a developer meets (round three): configuration that would be silently
not applied, secrets in error paragraphs, hostile or empty names, malformed hosts, concurrent
runs. Each case runs `inv` as a user would and asserts a clear paragraph, no traceback, and
that nothing acted on a value it should have refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, checksums


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- configuration that would not be applied ------------------------------------------------
@pytest.mark.parametrize(
    "text,fragments",
    [
        (
            "infra:\n  postgres:\n    prot: 55432\n",
            ["'infra.postgres.prot'", "Did you mean 'port'"],
        ),
        (
            "infra:\n  postgress:\n    port: 55432\n",
            ["'infra.postgress'", "Did you mean 'postgres'"],
        ),
        ("servcies:\n  auth-service: {port: 3999}\n", ["'servcies'", "Did you mean 'services'"]),
        ("db:\n  runer: native\n", ["'db.runer'", "Did you mean 'runner'"]),
        (
            "services:\n  auth-service: {port: 3999}\nservices:\n  product-service: {port: 3998}\n",
            ["'services' is written twice", "lines 1 and 3"],
        ),
        ("services:\n  auth-service:\n", ["'services.auth-service'", "to nothing"]),
    ],
)
def test_a_config_key_that_would_be_ignored_is_refused(inv, workspace, tmp_path, text, fragments):
    before = checksums(workspace)
    runtime = write(tmp_path / "local.yaml", text)
    result = inv("-f", str(runtime), "env.check")
    assert_user_error(result, *fragments)
    assert checksums(workspace) == before


def test_a_near_miss_environment_variable_is_refused(inv):
    result = inv("env.check", env={"INVOKE_INFRA_POSTGRES_PROT": "55432"})
    assert_user_error(result, "INVOKE_INFRA_POSTGRES_PROT", "INVOKE_INFRA_POSTGRES_PORT")
    result = inv("env.check", env={"INVOKE_DB_RUNER": "native"})
    assert_user_error(result, "INVOKE_DB_RUNER", "INVOKE_DB_RUNNER")


def test_the_workspace_s_own_invoke_yaml_applies_under_the_project_s(inv, workspace):
    """This repository's invoke.yaml names the workspace (workspace.root); the workspace's own
    invoke.yaml is read too, below it, and INVOKE_* beats both."""
    write(workspace / "invoke.yaml", "infra:\n  postgres:\n    port: 55999\n")
    result = inv("db.url", "--service", "auth", check=True)
    assert ":55999/lomash_auth" in result.stdout, result.stdout
    result = inv(
        "db.url", "--service", "auth", env={"INVOKE_INFRA_POSTGRES_PORT": "56001"}, check=True
    )
    assert ":56001/lomash_auth" in result.stdout, result.stdout
    # a typo there is refused as well
    write(workspace / "invoke.yaml", "infra:\n  postgres:\n    prot: 55999\n")
    assert_user_error(inv("db.url", "--service", "auth"), "'infra.postgres.prot'")


# -- secrets and hostile values in messages -----------------------------------------------------
def test_a_password_in_a_flag_never_reaches_the_error_paragraph(inv):
    result = inv("stripe.replay", "invoice.paid", "--to", "http://u:Pa55w0rdXYZ@127.0.0.1:9/h")
    assert result.returncode != 0
    assert "Pa55w0rdXYZ" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "host,fragment",
    [
        ("postgresql://u:Pa55w0rdXYZ@db.example", "looks like a URL"),
        ("a..b", "an empty label"),
        ("a" * 64 + ".example.com", "longer than 63 characters"),
        ("", "must be a non-empty string"),
    ],
)
def test_a_malformed_host_is_one_paragraph_without_the_password(inv, host, fragment):
    result = inv("db.status", env={"INVOKE_INFRA_POSTGRES_HOST": host})
    assert_user_error(result, "infra.postgres.host", fragment)
    assert "Pa55w0rdXYZ" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("services.down", "--service", ""),
        ("db.migrate", "--service", ""),
        ("db.status", "--service", "auth,"),
        ("env.copy", "--service", ""),
        ("cache.keys", "--service", ""),
    ],
)
def test_an_empty_service_name_never_means_every_service(inv, workspace, args):
    before = checksums(workspace)
    result = inv(*args)
    assert_user_error(result, "empty service name")
    assert checksums(workspace) == before


def test_comma_lists_work_everywhere(inv, workspace):
    result = inv("env.copy", "--service", "auth,product", check=True)
    assert (workspace / "services" / "auth-service" / ".env").is_file()
    assert (workspace / "services" / "product-service" / ".env").is_file()
    assert not (workspace / "services" / "order-payment-service" / ".env").exists()
    assert result.returncode == 0


def test_control_characters_and_huge_names_are_not_echoed_raw(inv):
    result = inv("db.status", "--service", "auth\x1b[31m\x07evil")
    assert_user_error(result, "Unknown service", "\\x1b[31m")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    huge = "x" * 100_000
    result = inv("db.status", "--service", huge, timeout=60)
    assert_user_error(result, "Unknown service", "characters)")
    assert len(result.stderr) < 2000


# -- runs that must not overlap ----------------------------------------------------------------
def test_teardown_waits_for_a_running_setup(inv, workspace, tmp_path):
    """`inv teardown` while `inv setup` holds the workspace's lock waits for it (and says so)
    instead of pulling servers from under it."""
    import fcntl

    lock_path = workspace / ".lomash" / "setup.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    holder = open(lock_path, "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    holder.write(f"{os.getpid()}\n")
    holder.flush()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    env.update(inv.env, INVOKE_SETUP_LOCK_TIMEOUT="30")
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "teardown"],
        cwd=SUITE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None, proc.stdout.read()  # still waiting for the lock
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        holder.close()
    out, _ = proc.communicate(timeout=120)
    assert "waiting" in out and "inv setup" in out, out
    assert "Traceback" not in out


# -- the AWS endpoint restarted ------------------------------------------------------------------
@pytest.mark.xdist_group("aws-restart")
def test_declared_aws_resources_come_back_after_an_endpoint_restart(tmp_root):
    """moto keeps nothing across a restart (like LocalStack without persistence): `stack.up`
    restores what `aws.bootstrap` declared; `aws.status` fails, naming it, when one is gone."""
    import tempfile

    import boto3
    from conftest import make_workspace, stack_env

    parent = Path(tempfile.mkdtemp(prefix="awsrestart-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws")
    inv = Inv(stack_env(root))
    try:
        inv("stack.up", "--backend", "embedded", "--part", "aws", check=True, timeout=120)
        inv("env.copy", check=True)  # the secrets come from the services' .env files
        inv("aws.bootstrap", check=True)
        inv("stack.down", "--backend", "embedded", check=True, timeout=120)
        up = inv("stack.up", "--backend", "embedded", "--part", "aws", check=True, timeout=120)
        assert "AWS resources restored" in up.stdout, up.stdout
        found = json.loads(inv("aws.status", "--json", check=True).stdout)
        assert not [i for items in found.values() for i in items if not i["exists"]], found
        assert inv("aws.status").returncode == 0
        port = inv.env["INVOKE_INFRA_AWS_PORT"]
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="eu-west-2",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        s3.delete_bucket(Bucket="lomash-dev-media")
        assert_user_error(inv("aws.status"), "bucket lomash-dev-media", "inv aws.bootstrap")
    finally:
        inv("stack.down", "--backend", "embedded", "--volumes", "--yes", timeout=120)


# -- a .env that is a folder, a service folder that is gone ----------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("env.copy",),
        ("env.copy", "--align", "--dry"),
        ("env.check",),
        ("env.show", "--service", "auth"),
        ("env.diff",),
        ("services.up", "--service", "auth"),
    ],
)
def test_a_env_that_is_a_folder_is_named_as_a_folder(tmp_path, args):
    from conftest import make_workspace

    tmp_path.chmod(0o755)
    workspace = make_workspace(tmp_path / "ws", node_modules=True)  # services.up gets that far
    inv = Inv(
        {"INVOKE_WORKSPACE_ROOT": str(workspace), "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded"}
    )
    inv("env.copy", check=True)
    env = workspace / "services/auth-service/.env"
    env.unlink()
    env.mkdir()
    before = checksums(workspace)
    result = inv(*args)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert "services/auth-service/.env" in text and "is a folder" in text, text
    assert "auth-service/.env: missing" not in text and "no .env" not in text, text
    if args[0] != "env.diff":  # a report; the others cannot do their work
        assert result.returncode != 0, text
    assert checksums(workspace) == before and env.is_dir()


def test_a_registered_service_whose_folder_is_gone_is_an_error_for_deps(inv, workspace):
    import shutil

    shutil.rmtree(workspace / "services/analytics-service")
    result = inv("setup", "--only", "deps", timeout=300)
    assert_user_error(
        result,
        "analytics-service",
        "services/analytics-service: does not exist",
        "services.analytics-service.path",
    )
    assert "already done" not in result.stdout.split("deps", 2)[-1].splitlines()[0]


# -- seeds and migrations on the session's databases -----------------------------------------------
@pytest.mark.xdist_group("db")
def test_a_seed_with_a_latin1_byte_is_named_with_its_line(stack, tmp_root):
    import tempfile

    from conftest import make_workspace

    parent = Path(tempfile.mkdtemp(prefix="seed-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws")
    seed = root / "services/auth-service/prisma/seed.sql"
    lines = seed.read_bytes().split(b"\n")
    lines[4] = b"-- caf\xe9 (a Latin-1 byte) " + lines[4]
    seed.write_bytes(b"\n".join(lines))
    inv = Inv({**stack.env, "INVOKE_WORKSPACE_ROOT": str(root)})
    inv("env.copy", check=True)
    result = inv("db.seed", "--service", "auth", timeout=120)
    assert_user_error(
        result,
        "services/auth-service/prisma/seed.sql is not UTF-8",
        "byte 0xe9 on line 5",
        "save it as UTF-8",
    )


@pytest.mark.xdist_group("db")
def test_two_prisma_migrates_at_once_report_the_migration_applied_once(stack, tmp_root):
    """Both run the service's own Prisma CLI on one fresh database; Prisma's advisory lock makes
    the second wait, and each reports only what its own CLI applied."""
    import tempfile

    from conftest import make_workspace, stack_config
    from psycopg import sql

    from lomash_tasks import connections

    parent = Path(tempfile.mkdtemp(prefix="twice-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = {**stack.env, "INVOKE_WORKSPACE_ROOT": str(root)}
    _, ws = stack_config(env)
    svc = ws.registry.service("content")
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS public CASCADE")
        c.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(svc.role)))
    Inv(env)("env.copy", check=True)
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env)
    argv = [
        sys.executable,
        "-m",
        "invoke",
        "db.migrate",
        "--service",
        "content",
        "--runner",
        "prisma",
    ]
    procs = [
        subprocess.Popen(
            argv,
            cwd=SUITE_ROOT,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0 and "Traceback" not in err, out + err
    said = [out for out, _ in outs]
    assert sum("applied 20260101000000_init" in out for out in said) == 1, said
    assert sum("up to date" in out for out in said) == 1, said
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        rows = c.execute(
            "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL "
            "AND rolled_back_at IS NULL"
        ).fetchone()[0]
    assert rows == 1
