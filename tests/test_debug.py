"""debug: JSONC launch.json merging, the port map, and the doctor."""

from __future__ import annotations

import json
import os
import socket

import pytest
from conftest import assert_user_error

from lomash_tasks.debug import jsonc
from lomash_tasks.debug import launch as debugging


# -- JSONC ----------------------------------------------------------------------------------------
def test_jsonc_allows_comments_and_trailing_commas_but_keeps_strings():
    text = """{
  // a line comment
  "version": "0.2.0", /* a block
  comment */
  "url": "http://localhost:3000/*not a comment*/",
  "list": [1, 2, ],
}"""
    assert jsonc.loads(text) == {
        "version": "0.2.0",
        "url": "http://localhost:3000/*not a comment*/",
        "list": [1, 2],
    }


def test_jsonc_error_names_line_and_column():
    with pytest.raises(jsonc.JsoncError) as err:
        jsonc.loads('{\n  // ok\n  "a": 1\n  "b": 2\n}')
    assert (err.value.line, err.value.column) == (4, 3)
    with pytest.raises(jsonc.JsoncError) as err:
        jsonc.loads("{\n  /* never closed\n}")
    assert (err.value.line, err.value.column) == (2, 3)


# -- debug.vscode ---------------------------------------------------------------------------------
def launch(workspace):
    return workspace / ".vscode" / "launch.json"


def test_vscode_creates_one_attach_config_per_service(workspace, inv):
    result = inv("debug.vscode", check=True)
    assert "18 added" in result.stdout
    data = json.loads(launch(workspace).read_text())
    configs = {c["name"]: c for c in data["configurations"]}
    assert len(configs) == 18  # "Docker: X" (Compose) and "Local: X" (services.up) per service
    assert configs["Local: auth-service"] == {
        "type": "node",
        "request": "attach",
        "name": "Local: auth-service",
        "address": "127.0.0.1",
        "port": 9230,
        "restart": True,
        "cwd": "${workspaceFolder}/services/auth-service",
        "skipFiles": ["<node_internals>/**"],
    }
    assert configs["Docker: auth-service"] == {
        "type": "node",
        "request": "attach",
        "name": "Docker: auth-service",
        "port": 9230,
        "restart": True,
        "localRoot": "${workspaceFolder}/services/auth-service",
        "remoteRoot": "/app/services/auth-service",
    }
    assert configs["Docker: api-gateway"]["port"] == 9229
    assert configs["Docker: api-gateway"]["remoteRoot"] == "/app/api-gateway"
    assert sorted(c["port"] for c in configs.values()) == sorted(list(range(9229, 9238)) * 2)
    again = inv("debug.vscode", check=True)
    assert "already there" in again.stdout


def test_vscode_keeps_your_configs_reads_comments_and_updates_by_name(workspace, inv):
    path = launch(workspace)
    path.parent.mkdir()
    original = """{
  // my own setup
  "version": "0.2.0",
  "configurations": [
    {"type": "node", "request": "launch", "name": "My script", "program": "${file}"},
    {"type": "node", "request": "attach", "name": "Docker: auth-service", "port": 1234,
     "skipFiles": ["<node_internals>/**"],},
  ],
  "compounds": [],
}
"""
    path.write_text(original)
    result = inv("debug.vscode", check=True)
    assert "17 added" in result.stdout and "1 updated (Docker: auth-service)" in result.stdout
    data = json.loads(path.read_text())
    names = [c["name"] for c in data["configurations"]]
    assert names[0] == "My script" and names[1] == "Docker: auth-service" and len(names) == 19
    auth = data["configurations"][1]
    assert auth["port"] == 9230 and auth["skipFiles"] == ["<node_internals>/**"]
    assert data["compounds"] == []
    backups = list(path.parent.glob("launch.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == original
    assert "saved as .vscode/launch.json.bak-" in result.stdout


def test_vscode_refuses_a_malformed_launch_json_and_leaves_it(workspace, inv):
    path = launch(workspace)
    path.parent.mkdir()
    broken = (
        '{\n  "version": "0.2.0",\n  "configurations": [\n    {"name": "x" "port": 1}\n  ]\n}\n'
    )
    path.write_text(broken)
    result = inv("debug.vscode")
    assert_user_error(
        result, ".vscode/launch.json is malformed at line 4, column 18", "left as it is"
    )
    assert path.read_text() == broken
    assert list(path.parent.iterdir()) == [path]


def test_vscode_refuses_configurations_that_are_not_a_list(workspace, inv):
    path = launch(workspace)
    path.parent.mkdir()
    path.write_text('{"configurations": {}}')
    assert_user_error(inv("debug.vscode"), '"configurations" is not a list')
    assert path.read_text() == '{"configurations": {}}'


# -- debug.ports ----------------------------------------------------------------------------------
def test_ports_names_the_process_listening(workspace, inv):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = inv(
            "debug.ports", "--json", check=True, env={"INVOKE_INFRA_REDIS_PORT": str(port)}
        )
    entries = json.loads(result.stdout)
    redis = next(e for e in entries if e["name"] == "redis")
    assert redis["port"] == port and redis["listening"] is True
    assert f"pid {os.getpid()}" in redis["holder"]
    groups = {e["group"] for e in entries}
    assert groups == {"service", "debug", "infra", "tool"}
    assert {e["port"] for e in entries if e["group"] == "debug"} == set(range(9229, 9238))
    assert len([e for e in entries if e["group"] == "service"]) == 9


def test_port_map_reports_free_ports_as_not_listening(workspace):
    from lomash_tasks.context import load_config, plain
    from lomash_tasks.registry import Registry

    reg = Registry.from_mapping(plain(load_config(env=False)))
    entries = debugging.port_map(reg)
    assert [e.name for e in entries if e.group == "tool"] == [t.name for t in reg.tools]
    for e in entries:
        assert e.listening is bool(e.holder)


# -- debug.doctor ---------------------------------------------------------------------------------
def test_doctor_without_a_stack_fails_each_part_with_its_fix(workspace, inv):
    env = {
        f"INVOKE_INFRA_{p}_PORT": str(_closed_port()) for p in ("POSTGRES", "REDIS", "SMTP", "AWS")
    }
    result = inv("debug.doctor", env=env, timeout=120)
    assert_user_error(result, "doctor:", "checks failed")
    lines = result.stdout.splitlines()
    assert any(line.startswith("✗ env files:") and "inv env.copy" in line for line in lines)
    assert any(line.startswith("✗ PostgreSQL:") and "inv stack.up" in line for line in lines)
    assert any(line.startswith("✗ SMTP:") for line in lines)
    assert any(line.startswith("✓ Node:") or line.startswith("✗ Node:") for line in lines)
    assert any(line.startswith("- Docker:") for line in lines)  # not the Compose backend


def _closed_port() -> int:
    from conftest import free_port

    return free_port()


@pytest.mark.xdist_group("stack")
def test_doctor_against_the_running_stack(stack, workspace, inv):
    """Every stack check passes on the session's stack once env files and buckets exist."""
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(workspace))
    inv("env.copy", env=env, check=True)
    inv("aws.buckets", env=env, check=True)
    result = inv("debug.doctor", "--json", env=env, timeout=120)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    for name in (
        "env files",
        "Redis URLs",
        "PostgreSQL",
        "Redis",
        "AWS endpoint",
        "SMTP",
        "CREATEDB",
        "S3 buckets",
    ):
        assert checks[name]["ok"] is True, checks[name]
    # the workspace copy has no node_modules: the dependencies check names that
    assert checks["dependencies"]["ok"] is False
    assert "inv setup --only deps" in checks["dependencies"]["fix"]
    for name in ("monorepo files", "Redis password", "Prisma CLI"):
        assert checks[name]["ok"] is True, checks[name]
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
