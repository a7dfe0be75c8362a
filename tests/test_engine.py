"""Engine discovery: the suite talks to the engine the `docker` CLI would (DOCKER_HOST, then
DOCKER_CONTEXT, then the current context, then the default socket). The CLI itself is the
oracle: contexts are created and chosen with `docker context`, in a DOCKER_CONFIG of the test's
own, and the suite's answer is compared with `docker context show` / `inspect`. No engine is
needed (the hosts are sockets nobody serves).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import SUITE_ROOT

needs_cli = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    config = tmp_path / "docker-config"
    config.mkdir()
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return config


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, env=os.environ.copy()
    ).stdout.strip()


def cli_choice() -> tuple[str, str]:
    """(context, host) the docker CLI picks in this environment."""
    name = docker("context", "show")
    if os.environ.get("DOCKER_HOST"):
        return name, os.environ["DOCKER_HOST"]
    return name, docker("context", "inspect", name, "--format", "{{.Endpoints.docker.Host}}")


@needs_cli
def test_the_suite_picks_the_engine_the_docker_cli_picks(docker_config, tmp_path, monkeypatch):
    from lomash_tasks.stack import engine

    def same() -> engine.Engine:
        found = engine.locate()
        assert (found.context, found.host) == cli_choice()
        return found

    assert same().source == "the default socket"
    docker("context", "create", "colima", "--docker", f"host=unix://{tmp_path}/colima.sock")
    docker("context", "create", "desktop-linux", "--docker", f"host=unix://{tmp_path}/desktop.sock")
    assert same().context == "default"  # created, not chosen
    docker("context", "use", "desktop-linux")  # Docker Desktop's own, on macOS
    found = same()
    assert found.source == "the current context" and found.host.endswith("desktop.sock")
    assert "Docker context 'desktop-linux'" in found.describe()
    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    assert same().source == "DOCKER_CONTEXT"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/explicit.sock")
    found = same()  # DOCKER_HOST beats every context
    assert (found.context, found.source) == ("default", "DOCKER_HOST")


def test_an_unknown_context_is_named_with_the_way_out(docker_config, monkeypatch):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack import engine

    monkeypatch.setenv("DOCKER_CONTEXT", "colima")
    with pytest.raises(UserError) as err:
        engine.locate()
    assert "'colima' (DOCKER_CONTEXT=colima) does not exist" in err.value.text
    assert "docker context ls" in err.value.text
    assert engine.ping(0.5) == (False, err.value.text)
    monkeypatch.delenv("DOCKER_CONTEXT")
    (docker_config / "config.json").write_text('{"currentContext": "gone"}')
    with pytest.raises(UserError, match=r"currentContext in .*config\.json"):
        engine.locate()


@needs_cli
def test_a_context_whose_engine_does_not_answer_says_where_it_looked(docker_config, tmp_path):
    from lomash_tasks import stack
    from lomash_tasks.stack import engine

    docker("context", "create", "colima", "--docker", f"host=unix://{tmp_path}/none.sock")
    docker("context", "use", "colima")
    ok, why = engine.ping(0.5)
    assert not ok and f"unix://{tmp_path}/none.sock (Docker context 'colima'" in why
    assert stack.docker_engine(0.5) == (ok, why)


def test_no_engine_configured_is_answered_without_importing_the_sdk(docker_config, tmp_path):
    """Where nothing could be configured (no variable, no context, no default socket) the
    answer costs no import of the Docker SDK (`inv stack.up` on a laptop without Docker)."""
    code = (
        "import sys; from lomash_tasks.stack import engine; "
        "engine.DEFAULT_SOCKET = sys.argv[1]; ok, why = engine.ping(0.5); "
        "print(ok, 'docker' in sys.modules, why)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "no.sock")],
        capture_output=True,
        text=True,
        check=True,
        cwd=SUITE_ROOT,
        env={**os.environ},
    ).stdout
    assert out.startswith("False False ") and "no Docker context exists" in out
