"""The external backend against servers the suite did not start: a bare PostgreSQL made here
with the system's initdb/pg_ctl (no roles, no databases: a "system PostgreSQL"), and the session
stack's Redis, AWS endpoint and SMTP trap (someone else's, as far as this workspace knows)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import SYSTEM_POSTGRES_PASSWORD, Inv, assert_user_error, free_port, make_workspace

pytestmark = pytest.mark.xdist_group("remote")  # one worker: they share its stack, sshd and moto
PASSWORD = SYSTEM_POSTGRES_PASSWORD


def test_setup_on_servers_it_did_not_start_and_stack_down_refuses(stack, system_postgres, tmp_root):
    parent = Path(tempfile.mkdtemp(prefix="ext-", dir=tmp_root))
    root = make_workspace(parent / "ws")
    env = {
        **stack.env,
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_INFRA_POSTGRES_PORT": str(system_postgres),
        "INVOKE_STACK_BACKEND": "external",
    }
    inv = Inv(env)
    up = inv("stack.up", check=True)
    assert "already running" in up.stdout and "4 parts ready (0 started" in up.stdout
    setup = inv("setup", "--runner", "native", check=True)
    assert "db.init" in setup.stdout
    status = inv("db.status", "--json", check=True)
    assert '"pending": []' in status.stdout
    # everything landed on the bare server: init.sql's databases, then migrations
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=system_postgres,
        user="lomash_master",
        password=PASSWORD,
        dbname="lomash_auth",
    ) as conn:
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
    inv = Inv(
        {
            **stack.env,
            "INVOKE_WORKSPACE_ROOT": str(root),
            "INVOKE_INFRA_POSTGRES_PORT": str(free_port()),
        }
    )
    result = inv("stack.up", "--backend", "external", "--part", "postgres", "--timeout", "1")
    assert_user_error(result, "postgres at 127.0.0.1:", "not ready", "Nothing was started")
