"""The Compose backend against stand-ins: no Docker engine runs on these machines.

A fake `docker` executable on PATH records each argv it is given (and answers nothing), and a
fake Docker SDK client object stands in for `docker.from_env()`; the names of the tests say
which stand-in they use. What is checked is the command construction and the SDK calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import free_port, make_workspace

FAKE_DOCKER = """#!/bin/sh
# stand-in for the docker CLI: record argv (one JSON list per line), print nothing
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$FAKE_DOCKER_LOG"
case " $* " in *" logs "*) echo "postgres  | ready" ;; esac
exit ${FAKE_DOCKER_EXIT:-0}
"""


class FakeContainer:
    def __init__(self, service, status="running", health="healthy", project="lomash-wood"):
        self.name = f"lomash-{service}"
        self.service = service
        self.project = project
        self.status = status
        self.attrs = {"State": {"Status": status, "Pid": 4242,
                                **({"Health": {"Status": health}} if health else {})},
                      "Config": {"Image": f"lomash-wood/{service}:dev"}}
        self.reloads = 0

    def reload(self):
        self.reloads += 1

    def logs(self, tail=None):
        return b"boom: the container failed\n"


class FakeVolume:
    def __init__(self, name):
        self.name = name
        self.removed = False

    def remove(self, force=False):
        self.removed = True


class FakeClient:
    """Stands in for docker.DockerClient: containers.list / volumes.list with label filters."""

    def __init__(self, containers=(), volumes=()):
        self.boxes = list(containers)
        self.vols = list(volumes)
        self.calls = []
        self.containers = SimpleNamespace(list=self._list)
        self.volumes = SimpleNamespace(list=self._volumes)

    def _list(self, all=False, filters=None):
        self.calls.append(("containers.list", all, filters))
        labels = dict(label.split("=", 1) for label in filters["label"])
        return [b for b in self.boxes
                if labels.get("com.docker.compose.service") == b.service
                and labels.get("com.docker.compose.project") == b.project]

    def _volumes(self, filters=None):
        self.calls.append(("volumes.list", filters))
        return list(self.vols)

    def ping(self):
        return True


@pytest.fixture
def ws(tmp_path):
    from lomash_tasks.registry import Registry
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.workspace import Workspace

    root = make_workspace(tmp_path / "ws")
    ports = {"postgres": {"port": free_port()}, "redis": {"port": free_port()},
             "aws": {"port": free_port()}, "smtp": {"port": free_port()}}
    config = load_config(overrides={"infra": ports}, env=False)  # the seed's ports may be taken
    return Workspace.locate(root, Registry.from_mapping(plain(config)))


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A recording `docker` executable first on PATH; returns a reader of the recorded calls."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "docker"
    exe.write_text(FAKE_DOCKER)
    exe.chmod(0o755)
    log = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))

    def calls():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    calls.exe = str(exe)
    return calls


def _prefix(ws, exe):
    return [exe, "compose", "-p", "lomash-wood",
            "-f", str(ws.root / "infra/docker/docker-compose.yml"),
            "-f", str(ws.root / "infra/docker/docker-compose.override.yml"),
            "--env-file", str(ws.root / ".env.example")]


def test_compose_command_is_one_argument_list_fake_docker_on_path(ws, fake_docker):
    from lomash_tasks.stack.compose import compose_command

    assert compose_command(ws, "lomash-wood", "up", "-d", "postgres") == \
        _prefix(ws, fake_docker.exe) + ["up", "-d", "postgres"]
    (ws.root / ".env").write_text("POSTGRES_PASSWORD=x\n")
    assert compose_command(ws, "other", "ps")[-3:] == ["--env-file", str(ws.root / ".env"), "ps"]
    assert compose_command(ws, "other", "ps")[3] == "other"


def test_up_runs_compose_for_the_missing_parts_fake_docker_and_fake_sdk(ws, fake_docker,
                                                                         monkeypatch):
    from lomash_tasks.stack import probes
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend

    client = FakeClient([FakeContainer("redis")])  # redis already up and healthy
    started = []

    def after_up(*args, **kwargs):  # containers appear once `compose up` ran
        if fake_docker() and not started:
            started.append(True)
            client.boxes += [FakeContainer("postgres"), FakeContainer("localstack",
                                                                      health="starting")]
        return FakeClient._list(client, *args, **kwargs)

    client.containers.list = after_up
    waited = []
    monkeypatch.setattr(probes, "wait_for", lambda ws, part, timeout, backend=None, abort=None:
                        waited.append((part, backend)))
    backend = ComposeBackend(ws, Settings(start_timeout=5), client=client)
    box = {}

    def healthy_later(container):  # localstack turns healthy after a look or two
        box[container.service] = box.get(container.service, 0) + 1
        if container.service == "localstack" and box[container.service] > 2:
            container.attrs["State"]["Health"]["Status"] = "healthy"
        return ComposeBackend.health(container)

    monkeypatch.setattr(backend, "health", healthy_later)
    results = backend.up(["postgres", "redis", "aws"])
    assert [(r.part, r.state) for r in results] == [
        ("postgres", "started"), ("redis", "already running"), ("aws", "started")]
    calls = fake_docker()
    assert calls == [_prefix(ws, fake_docker.exe)[1:] + ["up", "-d", "postgres", "localstack"]]
    assert waited == [("postgres", "compose"), ("aws", "compose")]
    labels = [c[2]["label"] for c in client.calls if c[0] == "containers.list"]
    assert ["com.docker.compose.project=lomash-wood",
            "com.docker.compose.service=localstack"] in labels


def test_a_container_that_exits_during_start_shows_its_log_fake_sdk(ws, fake_docker):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend
    from lomash_tasks.errors import UserError

    client = FakeClient()
    original = client.containers.list

    def appear(*args, **kwargs):
        if fake_docker() and not client.boxes:
            client.boxes.append(FakeContainer("postgres", status="exited", health=None))
        return original(*args, **kwargs)

    client.containers.list = appear
    with pytest.raises(UserError) as err:
        ComposeBackend(ws, Settings(start_timeout=3), client=client).up(["postgres"])
    assert "stopped (exited)" in str(err.value) and "boom" in str(err.value)


def test_down_removes_only_the_stack_containers_and_volumes_fake_docker_and_sdk(ws, fake_docker):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend

    vols = [FakeVolume("lomash-wood_postgres-data"), FakeVolume("lomash-wood_grafana-data"),
            FakeVolume("lomash-wood_redis-data")]
    client = FakeClient([FakeContainer("postgres"), FakeContainer("mailhog")], vols)
    backend = ComposeBackend(ws, Settings(), client=client)
    assert backend.down() == ["postgres", "smtp"]
    assert fake_docker()[-1] == _prefix(ws, fake_docker.exe)[1:] + [
        "rm", "--stop", "--force", "postgres", "mailhog"]
    assert not any(v.removed for v in vols)
    assert backend.down(volumes=True) == ["postgres", "smtp", "postgres data", "redis data"]
    assert fake_docker()[-1][-6:] == ["rm", "--stop", "--force", "--volumes", "postgres",
                                      "mailhog"]
    assert [v.removed for v in vols] == [True, False, True]
    assert ("volumes.list", {"label": "com.docker.compose.project=lomash-wood"}) in client.calls


def test_down_with_nothing_running_calls_nothing_fake_docker_and_sdk(ws, fake_docker):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend

    assert ComposeBackend(ws, Settings(), client=FakeClient()).down() == []
    assert fake_docker() == []


def test_status_reads_state_health_image_fake_sdk(ws):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend

    client = FakeClient([FakeContainer("postgres"), FakeContainer("redis", health="unhealthy"),
                         FakeContainer("mailhog", health=None)])
    rows = {r.part: r for r in ComposeBackend(ws, Settings(), client=client).status()}
    assert rows["postgres"].state == "running" and rows["postgres"].pid == 4242
    assert rows["postgres"].version == "lomash-wood/postgres:dev"
    assert rows["postgres"].address == f"127.0.0.1:{ws.registry.postgres.port}"
    assert rows["redis"].state == "unhealthy"
    assert rows["aws"].state == "stopped"
    assert rows["smtp"].state == "running"  # no healthcheck: running is enough


def test_logs_stream_from_compose_logs_fake_docker(ws, fake_docker):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend

    lines = list(ComposeBackend(ws, Settings(), client=FakeClient()).logs("postgres",
                                                                          follow=True))
    assert lines == ["postgres  | ready"]
    assert fake_docker()[-1][-4:] == ["logs", "--no-color", "--follow", "postgres"]


def test_compose_gets_the_registry_ports_fake_docker(ws, fake_docker, monkeypatch):
    from lomash_tasks.stack.compose import compose_env

    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "somebody-else")
    env = compose_env(ws)
    assert env["POSTGRES_PORT"] == str(ws.registry.postgres.port)
    assert env["REDIS_PORT"] == str(ws.registry.redis.port)
    assert "COMPOSE_PROJECT_NAME" not in env


def test_no_engine_is_a_user_error_real_sdk_unreachable_host(ws, monkeypatch):
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.compose import ComposeBackend
    from lomash_tasks.errors import UserError

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(UserError) as err:
        ComposeBackend(ws, Settings()).status()
    assert "--backend embedded" in str(err.value)


def test_auto_resolves_by_engine_ping(monkeypatch):
    from lomash_tasks import stack as backends
    from lomash_tasks.stack.base import Settings

    monkeypatch.setattr(backends, "docker_engine", lambda timeout=1.0: (True, "27.0"))
    assert backends.resolve(None, Settings()) == "compose"
    monkeypatch.setattr(backends, "docker_engine", lambda timeout=1.0: (False, "no socket"))
    assert backends.resolve("auto", Settings()) == "embedded"
    assert backends.resolve(None, Settings(backend="compose")) == "compose"


def test_engine_ping_uses_the_sdk_when_a_host_is_set_fake_sdk(monkeypatch):
    import docker

    from lomash_tasks import stack as backends

    class Pinged(FakeClient):
        def version(self):
            return {"Version": "27.1.1"}

        def close(self):
            pass

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    seen = {}

    def from_env(timeout=None):
        seen["timeout"] = timeout
        return Pinged()

    monkeypatch.setattr(docker, "from_env", from_env)
    assert backends.docker_engine() == (True, "27.1.1")
    assert seen["timeout"] == backends.PING_TIMEOUT


# -- the services on the Compose backend (stand-ins: fake docker CLI + fake SDK client) ----------
@pytest.fixture
def svc_ws(tmp_path):
    """A workspace whose services (and infrastructure) are on free ports: `up` checks them."""
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace
    from conftest import SERVICE_NAMES

    root = make_workspace(tmp_path / "ws")
    infra = {p: {"port": free_port()} for p in ("postgres", "redis", "aws", "smtp")}
    services = {n: {"port": free_port(), "debug_port": free_port()} for n in SERVICE_NAMES}
    config = load_config(overrides={"infra": infra, "services": services}, env=False)
    return Workspace.locate(root, Registry.from_mapping(plain(config)))


def _services(ws, client, **settings):
    from lomash_tasks.services.compose import ComposeServices
    from lomash_tasks.services.model import Settings

    return ComposeServices(ws, Settings(**settings), client=client)


def test_services_up_starts_the_eight_then_the_gateway_fake_docker_and_fake_sdk(svc_ws,
                                                                               fake_docker):
    """Stand-ins (no Docker engine here): the fake CLI records each `docker compose` call, the
    fake SDK client answers with containers that appear healthy once `compose up` ran."""
    ws = svc_ws
    names = [s.name for s in ws.registry.services]
    client = FakeClient([FakeContainer("auth-service")])  # already healthy

    def after_up(*args, **kwargs):
        ups = [c for c in fake_docker() if "up" in c]
        have = {b.service for b in client.boxes}
        for call in ups:
            for name in call[call.index("-d") + 1:]:
                if name not in have:
                    client.boxes.append(FakeContainer(name))
                    have.add(name)
        return FakeClient._list(client, *args, **kwargs)

    client.containers.list = after_up
    results = _services(ws, client, start_timeout=5).up()
    assert [(r.service, r.state) for r in results] == [
        (n, "already running" if n == "auth-service" else "started") for n in names]
    calls = [c for c in fake_docker() if "up" in c]
    prefix = _prefix(ws, fake_docker.exe)[1:]
    eight = [n for n in names if n not in ("api-gateway", "auth-service")]
    assert calls == [prefix + ["up", "-d", *eight], prefix + ["up", "-d", "api-gateway"]]


def test_services_up_reports_a_container_that_exits_with_its_log_fake_sdk(ws, fake_docker):
    """Stand-ins: a fake SDK container that has exited (code 1) after `compose up`."""
    box = FakeContainer("product-service", status="exited", health=None)
    box.attrs["State"]["ExitCode"] = 1
    client = FakeClient([box])
    results = _services(ws, client, start_timeout=2).up(["product"])
    assert results[0].state == "failed"
    assert "exited during start" in results[0].detail
    assert "boom: the container failed" in results[0].detail


def test_services_up_deadline_says_what_the_health_check_last_said_fake_sdk(ws, fake_docker):
    """Stand-ins: a fake SDK container whose HEALTHCHECK keeps answering 503."""
    box = FakeContainer("content-service", health="starting")
    box.attrs["State"]["Health"]["Log"] = [{"ExitCode": 1, "Output": "wget: server returned 503"}]
    results = _services(ws, FakeClient([box]), start_timeout=0.3).up(["content"])
    assert results[0].state == "failed"
    assert "not healthy within 0.3s" in results[0].detail
    assert "server returned 503" in results[0].detail


def test_services_status_down_and_logs_go_through_the_compose_helper_fake_docker_fake_sdk(
        ws, fake_docker):
    """Stand-ins: state comes from the fake SDK; down and logs are recorded fake CLI calls."""
    boxes = [FakeContainer("auth-service"), FakeContainer("order-payment-service",
                                                          health="unhealthy"),
             FakeContainer("analytics-service", status="restarting", health=None)]
    boxes[0].attrs["State"]["StartedAt"] = "2026-12-01T10:00:00.123456789Z"
    boxes[0].attrs["RestartCount"] = 2
    svc = _services(ws, FakeClient(boxes))
    rows = {r.service: r for r in svc.status()}
    assert rows["auth-service"].state == "healthy" and rows["auth-service"].restarts == 2
    assert rows["auth-service"].container == "lomash-auth-service"
    assert rows["auth-service"].pid == 4242 and rows["auth-service"].uptime > 0
    assert rows["order-payment-service"].state == "unhealthy"
    assert rows["analytics-service"].state == "restarting"
    assert rows["api-gateway"].state == "stopped" and rows["api-gateway"].pid is None
    assert svc.down(["auth", "gateway"]) == ["auth-service"]
    prefix = _prefix(ws, fake_docker.exe)[1:]
    assert fake_docker()[-1] == prefix + ["rm", "--stop", "--force", "auth-service"]
    lines = list(svc.logs(["auth"], since=1796137200.0))
    assert fake_docker()[-1] == prefix + ["logs", "--no-color", "--timestamps", "--since",
                                          "1796137200", "auth-service"]
    assert lines  # the fake CLI prints one line for `logs`
