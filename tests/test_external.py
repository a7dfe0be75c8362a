"""The external backend against servers the suite did not start: a bare PostgreSQL made here
with the system's initdb/pg_ctl (no roles, no databases: a "system PostgreSQL"), and the session
stack's Redis, AWS endpoint and SMTP trap (someone else's, as far as this workspace knows)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Inv, assert_user_error, free_port, make_workspace

pytestmark = pytest.mark.xdist_group("remote")  # one worker: they share its stack, sshd and moto
PASSWORD = "changeme_local"  # the root .env.example's POSTGRES_PASSWORD: the credentials given


@pytest.fixture
def system_postgres(tmp_root):
    from lomash_tasks.stack.embedded.postgres import ensure_system_user, find_bindir

    try:
        bindir = find_bindir()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL server binaries not found: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="syspg-", dir=tmp_root))
    folder.chmod(0o755)
    kwargs = {}
    if os.getuid() == 0:  # postgres refuses root: run it as the suite's own unprivileged user
        import pwd

        ensure_system_user("lomash-pg")
        account = pwd.getpwnam("lomash-pg")
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        os.chown(folder, account.pw_uid, account.pw_gid)
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if kwargs:
        os.chown(pwfile, kwargs["user"], kwargs["group"])
    data, port = folder / "data", free_port()
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "lomash_master",
                    f"--pwfile={pwfile}", "-A", "scram-sha-256", "-E", "UTF8"],
                   check=True, capture_output=True, **kwargs)
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, **kwargs)
    yield port
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                   capture_output=True, **kwargs)


def test_setup_on_servers_it_did_not_start_and_stack_down_refuses(stack, system_postgres,
                                                                  tmp_root):
    parent = Path(tempfile.mkdtemp(prefix="ext-", dir=tmp_root))
    root = make_workspace(parent / "ws")
    env = {**stack.env, "INVOKE_WORKSPACE_ROOT": str(root),
           "INVOKE_INFRA_POSTGRES_PORT": str(system_postgres), "INVOKE_STACK_BACKEND": "external"}
    inv = Inv(env)
    up = inv("stack.up", check=True)
    assert "already running" in up.stdout and "4 parts ready (0 started" in up.stdout
    setup = inv("setup", "--runner", "native", check=True)
    assert "db.init" in setup.stdout
    status = inv("db.status", "--json", check=True)
    assert '"pending": []' in status.stdout
    # everything landed on the bare server: init.sql's databases, then migrations
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=system_postgres, user="lomash_master",
                         password=PASSWORD, dbname="lomash_auth") as conn:
        assert conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()[0] >= 1
    for argv in (["stack.down"], ["stack.down", "--volumes", "--yes"], ["teardown"]):
        refused = inv(*argv)
        assert_user_error(refused, "refused", "never stops", "Nothing was stopped")
    again = inv("db.wait", check=True)  # still up, and nothing of ours runs for this workspace
    assert "ready" in again.stdout
    assert not list((root / ".lomash").rglob("*.pid")) if (root / ".lomash").exists() else True


def test_stack_up_on_an_external_server_that_is_not_there(stack, tmp_root):
    parent = Path(tempfile.mkdtemp(prefix="ext-", dir=tmp_root))
    root = make_workspace(parent / "ws")
    inv = Inv({**stack.env, "INVOKE_WORKSPACE_ROOT": str(root),
               "INVOKE_INFRA_POSTGRES_PORT": str(free_port())})
    result = inv("stack.up", "--backend", "external", "--part", "postgres", "--timeout", "1")
    assert_user_error(result, "postgres at 127.0.0.1:", "not ready", "Nothing was started")
