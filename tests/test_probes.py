"""Readiness probes: against the session's embedded stack, closed ports and small fakes."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import free_port, make_workspace

pytestmark = pytest.mark.xdist_group("stack")


def _with_ports(ws, **ports):
    """The same workspace with some infra ports changed."""
    reg = ws.registry
    changes = {}
    for name, port in ports.items():
        changes[name] = dataclasses.replace(getattr(reg, name), port=port)
    return dataclasses.replace(ws, registry=dataclasses.replace(reg, **changes))


def test_every_part_of_the_running_stack_is_ready(stack):
    from lomash_tasks.stack import probes

    for part in ("postgres", "redis", "aws", "smtp"):
        result = probes.check(stack.ws, part)
        assert result.ready, result
        assert result.error == ""
    assert probes.check(stack.ws, "postgres").detail.startswith("PostgreSQL 15")
    assert probes.check(stack.ws, "redis").detail.startswith("Valkey")
    results = probes.wait_all(stack.ws, timeout=10)
    assert [r.part for r in results] == ["postgres", "redis", "aws", "smtp"]
    assert all(r.ready and r.attempts == 1 for r in results)


def test_postgres_is_not_ready_while_a_registry_role_is_missing(stack):
    from lomash_tasks.stack import probes

    reg = stack.ws.registry
    services = tuple(
        dataclasses.replace(s, role="lomash_missing", database="lomash_nowhere")
        if s.alias == "auth"
        else s
        for s in reg.services
    )
    ws = dataclasses.replace(stack.ws, registry=dataclasses.replace(reg, services=services))
    result = probes.check(ws, "postgres")
    assert not result.ready
    assert "missing roles lomash_missing and databases lomash_nowhere" in result.error


def test_redis_with_a_wrong_password_is_not_ready(stack, tmp_root):
    from lomash_tasks.stack import probes

    other = make_workspace(Path(tmp_root) / f"wrongpw-{time.monotonic_ns()}")
    (other / ".env").write_text("REDIS_PASSWORD=not-the-password\n")
    ws = dataclasses.replace(stack.ws, root=other)
    result = probes.check(ws, "redis")
    assert not result.ready and "auth" in result.error.lower()


def test_wait_for_a_closed_port_names_part_address_wait_and_last_error(stack):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack import probes

    port = free_port()
    ws = _with_ports(stack.ws, redis=port)
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        probes.wait_for(ws, "redis", timeout=0.4)
    took = time.monotonic() - start
    text = str(err.value)
    assert f"redis at 127.0.0.1:{port} was not ready after 0." in text
    assert "last error: connection refused" in text
    assert 0.4 <= took < 1.5
    assert not probes.check(ws, "redis").ready


def test_wait_for_notices_a_late_server_at_once(stack):
    """While the port is closed the probe polls it every few ms: a late start costs little."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    from lomash_tasks.stack import probes

    port = free_port()
    ws = _with_ports(stack.ws, smtp=port)
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    opened = {}

    def start_late():
        time.sleep(0.7)  # the probe's back-off has grown past 0.3 s by then
        controller.start()
        opened["at"] = time.monotonic()

    thread = threading.Thread(target=start_late)
    thread.start()
    try:
        result = probes.wait_for(ws, "smtp", timeout=10)
        done = time.monotonic()
    finally:
        thread.join()
        controller.stop()
    assert result.ready and result.attempts > 3
    assert done - opened["at"] < 0.25  # generous for a loaded 2-core machine


def test_abort_ends_the_wait_with_its_message(stack):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack import probes

    ws = _with_ports(stack.ws, postgres=free_port())
    with pytest.raises(UserError) as err:
        probes.wait_for(ws, "postgres", timeout=30, abort=lambda: "the server exited: see log")
    assert str(err.value) == "the server exited: see log"


class _Health(BaseHTTPRequestHandler):
    body = {"services": {"s3": "available", "sqs": "available"}, "version": "3.8.1"}

    def log_message(self, *args):
        pass

    def do_GET(self):
        data = json.dumps(self.body if self.path == "/_localstack/health" else {}).encode()
        self.send_response(200 if self.path == "/_localstack/health" else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_localstack_health_is_the_compose_aws_probe_fake_localstack(stack):
    from lomash_tasks.stack import probes

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ws = _with_ports(stack.ws, aws=server.server_address[1])
        ok = probes.check(ws, "aws", backend="compose")
        assert ok.ready and ok.detail == "LocalStack 3.8.1"
        _Health.body = {"services": {"s3": "initializing"}}
        bad = probes.check(ws, "aws", backend="compose")
        assert not bad.ready and "s3 initializing" in bad.error
        # the embedded probe is a real S3 call, which this fake cannot answer
        assert not probes.check(ws, "aws").ready
    finally:
        server.shutdown()


def test_unknown_part_is_a_user_error(stack):
    from lomash_tasks.errors import UserError
    from lomash_tasks.stack import probes

    with pytest.raises(UserError, match="Valid parts: postgres, redis, aws, smtp"):
        probes.check(stack.ws, "mysql")


def test_port_holder_is_found_in_proc():
    import os
    import socket

    from lomash_tasks.stack import ports

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not ports.is_free("127.0.0.1", port)
        held = ports.holder(port)
        assert held.pid == os.getpid()
        assert "python" in held.describe() or "pytest" in held.describe()
    assert ports.is_free("127.0.0.1", port)
    assert ports.holder(port) is None
