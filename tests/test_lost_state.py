"""A lost state folder: `inv setup`, then `rm -rf <workspace>/.lomash` (what `git clean -fdX`
does), then the suite must still find the servers it started for that workspace, by what they
are, and stop them (or start them afresh), saying what it did; and never touch a server it did
not start: a system PostgreSQL on another port, another workspace's stack (the session's).

Each test runs `inv setup` on a stack of its own (free ports, every service port moved through
INVOKE_SERVICES_*), with two services started under the supervisor.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from conftest import Inv, make_workspace, service_ports, stack_env

from lomash_tasks import processes

pytestmark = pytest.mark.xdist_group("lost-state")

INFRA_PORTS = (
    "INVOKE_INFRA_POSTGRES_PORT",
    "INVOKE_INFRA_REDIS_PORT",
    "INVOKE_INFRA_AWS_PORT",
    "INVOKE_INFRA_SMTP_PORT",
    "INVOKE_INFRA_SMTP_WEB_PORT",
)


def listening(port: int) -> list:
    return processes.listeners(port, "127.0.0.1")


def under(root: Path) -> list[int]:
    """Live processes working in the workspace (its services) or in its state folder."""
    return processes.in_folder(root)


@pytest.fixture(params=["in the workspace", "outside it (root's closed home)"])
def lost(request, tmp_root):
    """A workspace after `inv setup` and `services.up` of two services; the state folder is
    then removed by the test. Where the PostgreSQL cluster lives: in `.lomash/postgres`, or
    (as root, the workspace in a folder the server's user cannot enter) outside the workspace,
    with only its location recorded in `.lomash`."""
    outside = request.param != "in the workspace"
    if outside and os.geteuid() != 0:
        pytest.skip("the cluster lives outside the workspace only when the suite runs as root")
    parent = Path(tempfile.mkdtemp(prefix="lost-", dir=tmp_root))
    parent.chmod(0o700 if outside else 0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = stack_env(root)
    env["INVOKE_SERVICE_OPTIONS_BACKEND"] = "embedded"
    service_ports(env)
    inv = Inv(env)
    try:
        setup = inv("setup", "--backend", "embedded", "--runner", "native", timeout=300)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        inv("services.up", "--service", "auth", "--service", "content", check=True, timeout=120)
        yield root, env, inv, outside
    finally:
        inv("teardown", "--volumes", "--yes", timeout=180)
        assert under(root) == []
        if outside:
            from lomash_tasks.stack.embedded.postgres import outside_dir

            assert not outside_dir(root).parent.exists()
        shutil.rmtree(parent, ignore_errors=True)


def test_moved_service_ports_leave_env_check_clean_after_setup(lost):
    root, env, inv, _ = lost
    check = inv("env.check")
    assert check.returncode == 0, check.stdout + check.stderr
    auth = (root / "services/auth-service/.env").read_text()
    assert f"PORT={env['INVOKE_SERVICES_AUTH_SERVICE_PORT']}\n" in auth


def test_teardown_without_the_state_folder_stops_what_this_workspace_started(
    lost, stack, system_postgres
):
    root, env, inv, outside = lost
    # the parts whose every trace was in .lomash; a cluster outside it is found again by its
    # place (the location recorded in .lomash is derived from the workspace's path)
    strays = ("redis", "aws", "smtp") if outside else ("postgres", "redis", "aws", "smtp")
    supervisor = int((root / ".lomash/services/supervisor.pid").read_text())
    groups = {
        r["service"]: r["pid"]
        for r in json.loads(inv("services.status", "--json", check=True).stdout)
        if r["pid"]
    }
    assert set(groups) == {"auth-service", "content-service"}
    os.kill(supervisor, signal.SIGKILL)  # the services run on, unsupervised
    shutil.rmtree(root / ".lomash")
    ports = [int(env[key]) for key in INFRA_PORTS]
    assert all(listening(port) for port in ports)
    others = {
        port: listening(port)
        for port in [system_postgres, *(int(stack.env[key]) for key in INFRA_PORTS)]
    }
    assert all(others.values())

    status = inv("stack.status", "--json", check=True)
    rows = {r["part"]: r for r in json.loads(status.stdout)}
    for part in strays:
        assert rows[part]["pid"] and "without its pid file" in rows[part]["detail"], rows[part]
    if outside:
        assert rows["postgres"]["state"] == "running", rows["postgres"]
    services = {
        r["service"]: r for r in json.loads(inv("services.status", "--json", check=True).stdout)
    }
    auth = services["auth-service"]
    # running, as its /health says (503 where its database's files went with .lomash)
    assert auth["state"] in ("healthy", "unhealthy") and auth["pid"], auth
    assert "record is gone" in auth["detail"], auth

    down = inv("teardown", "--volumes", "--yes", timeout=180)
    text = down.stdout + down.stderr
    assert down.returncode == 0 and "Traceback" not in text, text
    for part in strays:
        assert (
            f"{part}: stopping the server this workspace started, found without its pid "
            f"file" in text
        ), text
    assert "stopping auth-service" in text and "stopping content-service" in text, text
    assert "stopped/removed: smtp, aws, redis, postgres" in text, text
    assert "nothing was running" not in text
    assert not any(listening(port) for port in ports)
    assert not any(processes.group_members(pgid) for pgid in groups.values())
    assert under(root) == []
    # what the suite did not start is untouched
    assert {port: listening(port) for port in others} == others


def test_setup_again_without_the_state_folder_starts_afresh(lost):
    root, env, inv, outside = lost
    old = {key: listening(int(env[key])) for key in INFRA_PORTS}
    shutil.rmtree(root / ".lomash")
    again = inv("setup", "--backend", "embedded", "--runner", "native", timeout=300)
    text = again.stdout + again.stderr
    assert again.returncode == 0, text
    assert "its state is gone; starting it afresh" in text, text
    for key, pids in old.items():
        now = listening(int(env[key]))
        kept = outside and key == "INVOKE_INFRA_POSTGRES_PORT"  # its cluster is still there
        assert now and (now == pids if kept else now != pids), (key, pids, now)
    if not outside:  # a new cluster: migrated and seeded again
        assert "181 rows inserted" in text, text
    up = inv("services.up", "--service", "auth", "--service", "content", check=True, timeout=120)
    assert "2 services healthy" in up.stdout


def test_seed_rows_deleted_by_hand_are_seeded_again_by_setup(lost):
    """The README's promise: rows deleted since the seed ran make `inv setup` seed again."""
    from conftest import stack_config

    from lomash_tasks import connections

    root, env, inv, outside = lost
    if outside:
        pytest.skip("one place of the cluster is enough for the seeds")
    _, ws = stack_config(env)
    svc = ws.registry.service("content")

    def redirects() -> int:
        with connections.pg_connect(
            ws, superuser=True, dbname=svc.database, autocommit=True
        ) as conn:
            return conn.execute("SELECT count(*) FROM redirects").fetchone()[0]

    seeded = redirects()
    assert seeded > 0
    with connections.pg_connect(ws, superuser=True, dbname=svc.database, autocommit=True) as c:
        c.execute("DELETE FROM redirects")
    assert redirects() == 0
    again = inv("setup", "--backend", "embedded", "--runner", "native", timeout=300)
    text = again.stdout + again.stderr
    assert again.returncode == 0, text
    seed_row = [line for line in text.splitlines() if line.startswith("✓ db.seed")]
    assert seed_row and "done" in seed_row[0] and f"{seeded} rows inserted" in seed_row[0], text
    assert redirects() == seeded
    quiet = inv("setup", "--backend", "embedded", "--runner", "native", timeout=300)
    assert "Nothing to do" in quiet.stdout, quiet.stdout
