"""The Compose backend's pieces that no real engine can stand in for.

Everything an engine answers (up, status, logs, down, health, faults) is tested against a real
Docker engine in test_compose_engine.py. What remains here: the argument list of a
`docker compose` call and its environment (pure construction, checked against a recording
`docker` executable so the exact argv is seen), and Compose v1 alone on PATH, which a real
engine cannot show without installing Debian's deprecated Python docker-compose 1.29 on the
machine (its `docker-compose` would then sit on every developer's PATH): a stand-in `docker`
without the plugin and a stand-in `docker-compose` that reports 1.29.2 play that machine.
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
case " $* " in *" compose version "*) echo "docker: 'compose' is not a docker command." >&2; exit 1 ;; esac
case " $* " in *" logs "*) echo "postgres  | ready" ;; esac
exit ${FAKE_DOCKER_EXIT:-0}
"""

FAKE_COMPOSE_V1 = """#!/bin/sh
# stand-in for Compose v1 (the Python docker-compose 1.29)
echo "1.29.2"
"""


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


def test_compose_gets_the_registry_ports_fake_docker(ws, fake_docker, monkeypatch):
    from lomash_tasks.stack.compose import compose_env

    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "somebody-else")
    env = compose_env(ws)
    assert env["POSTGRES_PORT"] == str(ws.registry.postgres.port)
    assert env["REDIS_PORT"] == str(ws.registry.redis.port)
    assert "COMPOSE_PROJECT_NAME" not in env


def test_compose_v1_alone_says_the_plugin_is_needed_fake_docker_and_v1(ws, fake_docker,
                                                                       tmp_path):
    from lomash_tasks.stack.compose import compose_version
    from lomash_tasks.errors import UserError

    v1 = tmp_path / "bin" / "docker-compose"
    v1.write_text(FAKE_COMPOSE_V1)
    v1.chmod(0o755)
    with pytest.raises(UserError) as err:
        compose_version(dict(os.environ))
    text = str(err.value)
    assert "Only Compose v1 was found" in text and "1.29.2" in text
    assert "2.24 or later" in text and "--backend embedded" in text


# Stand-ins for the Docker SDK's objects, for the services tests below.
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
