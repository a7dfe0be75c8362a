"""Targets config validation, the tunnel in-process (a jump host through fabric's gateway,
Ctrl-C, nothing left behind), and the rule that nothing destructive reaches a target."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from remote_peers import SSHD, Rds, Sshd, aws_env, needs_sshd, store_secrets, target_config

from lomash_tasks.errors import UserError


def registry():
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry

    return Registry.from_mapping(plain(load_config(env=False)))


def load(targets, name="staging"):
    from lomash_tasks.remote import targets as t

    return t.load({"targets": targets}, name, registry())


GOOD = {
    "aws": {"region": "eu-west-2"},
    "postgres": {"host": "db.internal"},
    "secrets": {"prefix": "lomash/staging"},
}


def test_a_good_target_and_its_defaults():
    target = load({"staging": GOOD})
    assert target.via == "direct" and target.postgres.port == 5432 and not target.production
    assert load({"production": GOOD}, "production").production
    assert load({"staging": GOOD}, "local") is None
    assert load({}, None) is None


@pytest.mark.parametrize(
    "change, key",
    [
        ({"postgres": {"host": "db", "port": 70000}}, "targets.staging.postgres.port"),
        (
            {"postgres": {"host": "db", "databases": {"nosuch": "x"}}},
            "targets.staging.postgres.databases.nosuch",
        ),
        ({"secrets": {}}, "targets.staging.secrets.prefix"),
        ({"via": "bastion"}, "targets.staging.bastion"),
        ({"via": "carrier-pigeon"}, "targets.staging.via"),
        ({"bastion": {"host": "b", "user": "u"}}, "targets.staging.bastion.key_file"),
        (
            {"bastion": {"host": "b", "user": "u", "key_file": "k", "timeout": 0}},
            "targets.staging.bastion.timeout",
        ),
        ({"regoin": "x"}, "targets.staging.regoin"),
        (
            {"ecs": {"cluster": "c", "subnets": [], "security_groups": ["sg"], "services": {}}},
            "targets.staging.ecs.subnets",
        ),
        (
            {
                "ecs": {
                    "cluster": "c",
                    "subnets": ["s"],
                    "security_groups": ["sg"],
                    "services": {"gateway": {"task_definition": "t", "container": "c"}},
                }
            },
            "targets.staging.ecs.services.gateway",
        ),
        (
            {
                "ecs": {
                    "cluster": "c",
                    "subnets": ["s"],
                    "security_groups": ["sg"],
                    "services": {},
                    "command": "npx prisma migrate deploy",
                }
            },
            "targets.staging.ecs.command",
        ),
        ({"production": "maybe"}, "targets.staging.production"),
    ],
)
def test_a_mistake_names_the_key(change, key):
    with pytest.raises(UserError) as caught:
        load({"staging": {**GOOD, **change}})
    assert f"'{key}'" in caught.value.text


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(UserError) as caught:
        load({"staging": GOOD, "production": GOOD}, "prod")
    assert "Known targets: local, production, staging" in caught.value.text


# -- the tunnel, in-process -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sshd(tmp_root):
    if SSHD is None:
        pytest.skip(needs_sshd.kwargs["reason"])
    server = Sshd.start(Path(tempfile.mkdtemp(prefix="sshd-", dir=tmp_root)))
    yield server
    server.stop()


def children(pid: int) -> list[int]:
    from lomash_tasks import processes

    return processes.descendants(pid)


def wait_no_children(pid, seconds=5.0):
    import time

    deadline = time.monotonic() + seconds
    while children(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return children(pid)


@pytest.mark.xdist_group("remote")
def test_ctrl_c_inside_a_tunnel_through_a_jump_host_closes_everything(stack, sshd):
    """The bastion is reached through a jump host (fabric's gateway); Ctrl-C in the block."""
    import psycopg

    from lomash_tasks.remote import tunnel
    from lomash_tasks.remote.targets import Hop

    jump = Hop("127.0.0.1", sshd.port, sshd.user, str(sshd.key), str(sshd.known_hosts))
    hop = Hop("127.0.0.1", sshd.port, sshd.user, str(sshd.key), str(sshd.known_hosts), jump=jump)
    pg = stack.ws.registry.postgres
    from lomash_tasks.connections import superuser_password

    with pytest.raises(KeyboardInterrupt):
        with tunnel.opened(hop, pg.host, pg.port, label="staging") as local:
            port = local.port
            with psycopg.connect(
                host=local.host,
                port=local.port,
                user=pg.superuser,
                password=superuser_password(stack.ws),
                dbname="postgres",
            ) as c:
                assert c.execute("SELECT 1").fetchone() == (1,)
            assert len(children(sshd.proc.pid)) >= 2  # one session for the jump, one for the hop
            raise KeyboardInterrupt
    assert not tunnel.listening("127.0.0.1", port)
    assert wait_no_children(sshd.proc.pid) == []


@pytest.mark.xdist_group("remote")
def test_a_bastion_that_cannot_reach_the_database(sshd):
    from conftest import free_port

    from lomash_tasks.remote import tunnel
    from lomash_tasks.remote.targets import Hop

    hop = Hop("127.0.0.1", sshd.port, sshd.user, str(sshd.key), str(sshd.known_hosts))
    with pytest.raises(UserError) as caught:
        with tunnel.opened(hop, "127.0.0.1", free_port(), label="staging"):
            pass
    assert "could not open a connection to 127.0.0.1:" in caught.value.text
    assert wait_no_children(sshd.proc.pid) == []


# -- nothing destructive reaches a target ---------------------------------------------------------
@pytest.mark.xdist_group("remote")
def test_destructive_tasks_never_act_on_a_target(stack, sshd, tmp_path):
    from lomash_tasks import connections
    from lomash_tasks.remote import session, targets

    rds = Rds.create(stack.ws, {"auth"})
    try:
        prefix = f"test/{rds.tag}"
        store_secrets(stack, prefix, rds.urls)
        config = target_config(
            tmp_path / "t.yaml", "staging", stack=stack, rds=rds, prefix=prefix, sshd=sshd
        )
        env = {**stack.env, **aws_env(stack)}
        for argv in (
            ["db.reset", "--service", "auth", "--yes", "--target", "staging"],
            ["cache.flush", "--service", "auth", "--yes", "--target", "staging"],
            ["stack.down", "--volumes", "--yes", "--target", "staging"],
            [
                "db.migrate",
                "--mode",
                "dev",
                "--service",
                "auth",
                "--name",
                "x",
                "--target",
                "staging",
            ],
        ):
            result = stack.inv("-f", str(config), *argv, env=env)
            assert result.returncode != 0, argv
            assert "Traceback" not in result.stdout + result.stderr
        assert rds.query(stack.ws, "auth", "SELECT 1") == [(1,)]  # still there
        # and below the tasks: a Workspace pointed at a target never gets the superuser
        os.environ.update(aws_env(stack))
        from lomash_tasks.context import load_config, plain

        cfg = plain(load_config(env=False))
        cfg["targets"] = {
            "staging": {
                "aws": {
                    "region": "eu-west-2",
                    "endpoint_url": f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}",
                },
                "postgres": {"host": rds.host, "port": rds.port, "databases": rds.databases},
                "secrets": {"prefix": prefix},
            }
        }
        target = targets.load(cfg, "staging", stack.ws.registry)
        svc = stack.ws.registry.service("auth")
        with session.opened(stack.ws, target, [svc]) as remote:
            with pytest.raises(UserError, match="never connects as the superuser"):
                connections.pg_connect(remote, superuser=True)
            with connections.pg_connect(remote, remote.registry.service("auth")) as conn:
                assert (
                    conn.execute("SELECT current_database()").fetchone()[0] == rds.databases["auth"]
                )
    finally:
        for key in aws_env(stack):
            os.environ.pop(key, None)
        rds.drop(stack.ws)


@pytest.mark.xdist_group("remote")
def test_target_local_is_todays_behaviour(stack):
    plain = stack.inv("db.url", "--service", "auth", check=True)
    local = stack.inv("db.url", "--service", "auth", "--target", "local", check=True)
    assert plain.stdout == local.stdout and ":****@" in plain.stdout
    audit = stack.root / ".lomash" / "remote-audit.log"
    assert not audit.exists() or '"target": "local"' not in audit.read_text()


@pytest.mark.xdist_group("remote")
def test_the_tunnel_opens_every_time(sshd):
    """Twenty in a row, each one used: the local listener is waited for without racing it."""
    from lomash_tasks.remote import tunnel
    from lomash_tasks.remote.targets import Hop

    hop = Hop("127.0.0.1", sshd.port, sshd.user, str(sshd.key), str(sshd.known_hosts))
    import socket

    for _ in range(20):
        with tunnel.opened(hop, "127.0.0.1", sshd.port, label="staging") as local:
            with socket.create_connection((local.host, local.port), timeout=5) as conn:
                assert conn.recv(64).startswith(b"SSH-2.0-")  # sshd's banner, via the tunnel
        assert not tunnel.listening(local.host, local.port)
