"""The Compose backend's pieces that no real engine can stand in for.

Everything an engine answers (up, status, logs, down, health, faults, and the nine services'
`services.*` tasks) is tested against a real Docker engine in test_compose_engine.py. What
remains here: the argument list of a `docker compose` call and its environment (pure construction, checked against a recording
`docker` executable so the exact argv is seen), and Compose v1 alone on PATH, which a real
engine cannot show without installing Debian's deprecated Python docker-compose 1.29 on the
machine (its `docker-compose` would then sit on every developer's PATH): a stand-in `docker`
without the plugin and a stand-in `docker-compose` that reports 1.29.2 play that machine.
"""

from __future__ import annotations

import json
import os

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
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry
    from lomash_tasks.workspace import Workspace

    root = make_workspace(tmp_path / "ws")
    ports = {
        "postgres": {"port": free_port()},
        "redis": {"port": free_port()},
        "aws": {"port": free_port()},
        "smtp": {"port": free_port()},
    }
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
    return [
        exe,
        "compose",
        "-p",
        "lomash-wood",
        "-f",
        str(ws.root / "infra/docker/docker-compose.yml"),
        "-f",
        str(ws.root / "infra/docker/docker-compose.override.yml"),
        "--env-file",
        str(ws.root / ".env.example"),
    ]


def test_compose_command_is_one_argument_list_fake_docker_on_path(ws, fake_docker):
    from lomash_tasks.stack.compose import compose_command

    assert compose_command(ws, "lomash-wood", "up", "-d", "postgres") == _prefix(
        ws, fake_docker.exe
    ) + ["up", "-d", "postgres"]
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


def test_compose_v1_alone_says_the_plugin_is_needed_fake_docker_and_v1(ws, fake_docker, tmp_path):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack.compose import compose_version

    v1 = tmp_path / "bin" / "docker-compose"
    v1.write_text(FAKE_COMPOSE_V1)
    v1.chmod(0o755)
    with pytest.raises(UserError) as err:
        compose_version(dict(os.environ))
    text = str(err.value)
    assert "Only Compose v1 was found" in text and "1.29.2" in text
    assert "2.24 or later" in text and "--backend embedded" in text
