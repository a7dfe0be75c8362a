"""The nine services on the embedded backend: real node processes, real HTTP, a real inspector.

One started set (conftest's `nine` fixture: `inv setup` in its own workspace, on free ports for
the infrastructure, the services and their debug ports) is shared by the tests of the
"services" xdist group (these and the dashboard's) where isolation is not the point; the faults
start one or two services in workspaces of their own against the same PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import devtools
import pytest
from conftest import (
    SUITE_ROOT,
    Inv,
    assert_user_error,
    free_port,
    make_workspace,
    service_ports,
)

pytestmark = pytest.mark.xdist_group("services")

NAMES = [
    "api-gateway",
    "auth-service",
    "product-service",
    "order-payment-service",
    "appointment-service",
    "content-service",
    "customer-service",
    "notification-service",
    "analytics-service",
]
SECRET = "whsec_servicesTest0123456789abcdef"


def get(port: int, path: str = "/health", timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def try_get(port: int, path: str = "/health", timeout: float = 2.0) -> tuple[int | None, dict]:
    """get(), or (None, {}) while nothing answers (a service restarting)."""
    try:
        return get(port, path, timeout)
    except (OSError, ValueError):
        return None, {}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def state(root: Path) -> dict:
    path = root / ".lomash" / "services" / "state.json"
    return json.loads(path.read_text()).get("services", {}) if path.exists() else {}


def group_members(pgid: int) -> list[int]:
    from lomash_tasks import processes

    return processes.group_members(pgid)


def processes_under(root: Path) -> list[int]:
    """Live processes whose working folder is a service's folder of the workspace."""
    from lomash_tasks import processes

    return processes.in_folder(root / "services") + [
        p for p in processes.in_folder(root / "api-gateway")
    ]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


# -- after `inv setup` ----------------------------------------------------------------------------
def test_setup_ends_with_nine_healthy_services_each_with_its_inspector(nine):
    from lomash_tasks.services import inspector

    assert nine.setup.returncode == 0, nine.setup.stdout + nine.setup.stderr
    assert "services" in nine.setup.stdout and "9 started, all 9 healthy" in nine.setup.stdout
    for name, (port, debug) in nine.ports.items():
        code, body = get(port)
        assert code == 200, (name, body)
        assert body["service"] == name and body["status"] == "ok"
        if name != "api-gateway":
            assert set(body["checks"]) == {"postgres", "redis"}
            assert body["checks"]["postgres"]["detail"].endswith(
                {"auth-service": "lomash_auth", "order-payment-service": "lomash_orders"}.get(
                    name, body["checks"]["postgres"]["detail"].split("@")[-1]
                )
            )
        targets = inspector.targets(debug)
        assert targets and targets[0]["url"].endswith("/src/index.js"), targets
        assert targets[0]["webSocketDebuggerUrl"].startswith(f"ws://127.0.0.1:{debug}/")
        # the inspector is on the service's own process, not on Node's watcher
        assert devtools.evaluate(debug, "process.env.PORT") == str(port)
        assert devtools.evaluate(debug, "process.pid") == body["pid"]
    code, body = get(nine.ports["api-gateway"][0])
    assert set(body["checks"]) == set(NAMES[1:])
    where = nine.setup.stdout.split("Where things are", 1)[1]
    assert "healthy" in where and "Compose only" in where
    auth = state(nine.root)["auth-service"]
    assert auth["port"] == nine.ports["auth-service"][0]


def test_status_json_shows_state_url_debug_port_pid_uptime_and_log(nine):
    rows = json.loads(nine.inv("services.status", "--json", check=True).stdout)
    by = {r["service"]: r for r in rows}
    assert list(by) == NAMES
    for name, (port, debug) in nine.ports.items():
        row = by[name]
        assert row["state"] == "healthy", row
        assert row["url"] == f"http://localhost:{port}" and row["debug_port"] == debug
        assert row["pid"] and group_members(row["pid"]) and row["uptime"] >= 0
        assert row["debugger"] == "not attached"
        assert row["log"] == f".lomash/services/{name}.log"
        assert (nine.root / row["log"]).read_text().strip()


def test_status_sees_an_attached_debugger(nine):
    from lomash_tasks.services import inspector

    debug = nine.ports["auth-service"][1]
    target = inspector.targets(debug)[0]
    with devtools.Session(target["webSocketDebuggerUrl"]) as session:
        assert (
            session.call("Runtime.evaluate", expression="1 + 1", returnByValue=True)["result"][
                "value"
            ]
            == 2
        )
        rows = {
            r["service"]: r
            for r in json.loads(nine.inv("services.status", "--json", check=True).stdout)
        }
        assert rows["auth-service"]["debugger"] == "attached"
        assert rows["product-service"]["debugger"] == "not attached"
    wait_until(lambda: inspector.attached(debug) is False, 10, "the debugger did not detach")


def test_log_prefixes_are_coloured_on_a_terminal_only():
    from lomash_tasks.services import logs

    plain = logs.prefixer(["auth-service", "api-gateway"], False)
    coloured = logs.prefixer(["auth-service", "api-gateway"], True)
    assert plain("api-gateway", "hi") == "api-gateway  | hi"
    assert coloured("api-gateway", "hi").startswith("\x1b[") and "api-gateway  |" in coloured(
        "api-gateway", "hi"
    )
    assert coloured("auth-service", "x")[:8] != coloured("api-gateway", "x")[:8]


def test_up_again_starts_no_second_copy(nine):
    before = {n: r["pgid"] for n, r in state(nine.root).items()}
    result = nine.inv("services.up", check=True)
    assert "0 started, 9 already running" in result.stdout
    assert {n: r["pgid"] for n, r in state(nine.root).items()} == before
    # the called-from-Python form: a string for the repeatable flag
    from invoke import Context

    from lomash_tasks.context import load_config
    from lomash_tasks.tasks import services

    config = load_config(
        env=False,
        overrides={
            "workspace": {"root": str(nine.root)},
            "infra": {
                "postgres": {"port": int(nine.env["INVOKE_INFRA_POSTGRES_PORT"])},
                "redis": {"port": int(nine.env["INVOKE_INFRA_REDIS_PORT"])},
            },
            "services": {n: {"port": p, "debug_port": d} for n, (p, d) in nine.ports.items()},
        },
    )
    services.up(Context(config), service="auth")
    assert state(nine.root)["auth-service"]["pgid"] == before["auth-service"]


def test_logs_are_one_stream_with_a_prefix_per_service(nine):
    result = nine.inv("services.logs", "--service", "auth", "--service", "order", check=True)
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("auth-service          | ") and "listening on" in line for line in lines
    ), result.stdout
    assert any(line.startswith("order-payment-service | ") for line in lines)
    assert "\x1b[" not in result.stdout  # not a terminal: plain prefixes
    later = nine.inv("services.logs", "--since", "2099-01-01T00:00:00", check=True)
    assert later.stdout.strip() == ""
    assert_user_error(nine.inv("services.logs", "--since", "yesterday-ish"), "--since")


def test_logs_follow_stops_on_ctrl_c_and_the_services_keep_running(nine):
    env = {**os.environ, **nine.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "services.logs", "--follow", "--service", "product"],
        cwd=SUITE_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    first = proc.stdout.readline()  # following has begun once the old lines are out
    assert first.startswith("product-service |"), first
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode is not None and "Traceback" not in err, err
    assert get(nine.ports["product-service"][0])[0] == 200


# -- hot reload, crash restart --------------------------------------------------------------------
def test_editing_a_source_reloads_the_service_behind_the_same_debug_port(nine):
    from lomash_tasks.services import inspector

    port, debug = nine.ports["content-service"]
    before = inspector.targets(debug)[0]["id"]
    pid = get(port)[1]["pid"]
    source = nine.root / "services" / "content-service" / "src" / "index.js"
    source.write_text(source.read_text() + "\nglobalThis.RELOAD_MARK = 'edited';\n")

    def reloaded():
        try:
            return devtools.evaluate(debug, "globalThis.RELOAD_MARK") == "edited"
        except (OSError, ValueError):
            return False

    wait_until(reloaded, 15, "the edited code did not answer behind the same debug port")
    assert inspector.targets(debug)[0]["id"] != before
    code, body = wait_until(
        lambda: (lambda r: r if r[0] == 200 else None)(try_get(port)),
        10,
        "content-service was not healthy after the reload",
    )
    assert body["pid"] != pid
    assert state(nine.root)["content-service"]["restarts"] == 0  # a reload is not a crash


def test_kill_9_brings_the_service_back_healthy_with_a_growing_backoff(nine):
    port, debug = nine.ports["customer-service"]
    backoffs = []
    for _round in range(2):
        rec = state(nine.root)["customer-service"]
        pgid = rec["pgid"]
        os.killpg(pgid, signal.SIGKILL)  # the watcher and the serving child
        wait_until(lambda pgid=pgid: not group_members(pgid), 5, "the killed group did not go")

        def back(pgid=pgid):
            now = state(nine.root)["customer-service"]
            return now if now["pgid"] != pgid and now["state"] == "healthy" else None

        now = wait_until(back, 30, "customer-service did not come back healthy")
        backoffs.append(now["backoff"])
        assert get(port)[0] == 200 and listening(debug)
    assert backoffs[1] > backoffs[0] > 0
    rows = {
        r["service"]: r
        for r in json.loads(nine.inv("services.status", "--json", check=True).stdout)
    }
    assert rows["customer-service"]["restarts"] >= 2
    log = (nine.root / ".lomash/services/customer-service.log").read_text()
    assert "crashed: its process exited (killed by signal 9)" in log


def test_kill_9_of_the_serving_child_alone_is_noticed(nine):
    """Node's watcher stays alive and would wait for a file change: the supervisor restarts."""
    port, _ = nine.ports["analytics-service"]
    rec = state(nine.root)["analytics-service"]
    child = get(port)[1]["pid"]
    assert child != rec["pgid"]
    os.kill(child, signal.SIGKILL)

    def back():
        code, body = try_get(port)
        return body if code == 200 and body.get("pid") != child else None

    wait_until(back, 30, "analytics-service did not come back after its child was killed")
    log = (nine.root / ".lomash/services/analytics-service.log").read_text()
    assert f"crashed: the service's own process (pid {child}) exited" in log


# -- Stripe webhooks -------------------------------------------------------------------------------
def test_stripe_replay_records_two_events_once_and_a_tampered_signature_gets_400(nine):
    import psycopg

    env_file = nine.root / "services/order-payment-service/.env"
    text = env_file.read_text()
    env_file.write_text(
        "\n".join(
            f"STRIPE_WEBHOOK_SECRET={SECRET}" if line.startswith("STRIPE_WEBHOOK_SECRET=") else line
            for line in text.splitlines()
        )
        + "\n"
    )
    port = nine.ports["order-payment-service"][0]
    for _ in range(2):  # a replay of the same events is recorded once
        result = nine.inv(
            "stripe.replay",
            "checkout.session.completed,invoice.paid",
            "--to",
            f"http://localhost:{port}/v1/webhooks/stripe",
            check=True,
        )
        assert result.stdout.count(": 200") == 2, result.stdout
    url = (
        f"postgresql://lomash_order:changeme_local@127.0.0.1:"
        f"{nine.env['INVOKE_INFRA_POSTGRES_PORT']}/lomash_orders"
    )
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id, type FROM webhook_events ORDER BY type").fetchall()
    assert rows == [
        ("evt_1QLomashWoodCS0001", "checkout.session.completed"),
        ("evt_1QLomashWoodIN0001", "invoice.paid"),
    ]
    body = json.dumps({"id": "evt_tampered", "object": "event", "type": "invoice.paid"}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/webhooks/stripe",
        data=body,
        method="POST",
        headers={
            "Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}",
            "Content-Type": "application/json",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(req, timeout=5)
    assert bad.value.code == 400
    assert json.loads(bad.value.read())["error"] == "invalid_signature"
    with psycopg.connect(url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM webhook_events WHERE event_id = 'evt_tampered'"
            ).fetchone()[0]
            == 0
        )


def test_restart_and_down_of_one_service_leave_the_others_alone(nine):
    before = {n: r["pgid"] for n, r in state(nine.root).items()}
    result = nine.inv("services.restart", "--service", "appointment", check=True, timeout=120)
    assert "1 started" in result.stdout
    after = state(nine.root)
    assert after["appointment-service"]["pgid"] != before["appointment-service"]
    assert after["appointment-service"]["restarts"] == 0  # asked for: not a crash
    assert not group_members(before["appointment-service"])
    assert all(after[n]["pgid"] == before[n] for n in before if n != "appointment-service")
    port, debug = nine.ports["notification-service"]
    nine.inv("services.down", "--service", "notification", check=True)
    assert not listening(port) and not listening(debug)
    assert get(nine.ports["auth-service"][0])[0] == 200
    gateway = try_get(nine.ports["api-gateway"][0])
    assert gateway[0] == 503 and gateway[1]["failed"] == ["notification-service"]
    nine.inv("services.up", "--service", "notification", check=True, timeout=120)
    wait_until(
        lambda: try_get(nine.ports["api-gateway"][0])[0] == 200,
        15,
        "the gateway did not see notification-service again",
    )


# -- down ------------------------------------------------------------------------------------------
def test_down_leaves_no_listening_port_and_no_process_then_up_resumes(nine):
    pgids = [r["pgid"] for r in state(nine.root).values()]
    result = nine.inv("services.down", check=True)
    assert "stopped:" in result.stdout
    for name, (port, debug) in nine.ports.items():
        assert not listening(port) and not listening(debug), name
    assert not any(group_members(p) for p in pgids)
    assert processes_under(nine.root) == []
    assert not (nine.root / ".lomash/services/supervisor.pid").exists()
    rows = json.loads(nine.inv("services.status", "--json", check=True).stdout)
    assert {r["state"] for r in rows} == {"stopped"}
    again = nine.inv("services.up", check=True, timeout=120)
    assert "9 started" in again.stdout


# -- bad input and faults: one or two services in a workspace of their own ------------------------
@dataclass
class Solo:
    root: Path
    env: dict[str, str]
    inv: Inv
    ports: dict[str, tuple[int, int]]


@pytest.fixture
def solo(nine, tmp_root, request):
    """A fresh workspace copy on the `nine` stack's PostgreSQL and Redis, its own service ports."""
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="solo-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    env = {**nine.env, "INVOKE_WORKSPACE_ROOT": str(root)}
    ports = service_ports(env)
    inv = Inv(env)
    inv("env.copy", check=True)
    try:
        yield Solo(root, env, inv, ports)
    finally:
        inv("services.down", timeout=60)
        assert processes_under(root) == []


def test_a_port_held_by_another_program_is_named_and_nothing_starts(solo):
    port = solo.ports["auth-service"][0]
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        result = solo.inv("services.up", "--service", "product", "--service", "auth")
    finally:
        holder.close()
    assert_user_error(
        result,
        f"Port {port}",
        f"pid {os.getpid()}",
        "INVOKE_SERVICES_AUTH_SERVICE_PORT",
        "no service was started",
    )
    assert processes_under(solo.root) == []
    assert not listening(solo.ports["product-service"][0])


def test_a_service_that_exits_at_start_shows_its_log_and_the_others_keep_running(solo):
    source = solo.root / "services/product-service/src/index.js"
    source.write_text("throw new Error('boom: product cannot start');\n")
    result = solo.inv("services.up", "--service", "product", "--service", "auth", timeout=120)
    assert_user_error(
        result,
        "product-service exited during start",
        "boom: product cannot start",
        "1 of 2 services did not become healthy",
    )
    assert get(solo.ports["auth-service"][0])[0] == 200
    rows = {
        r["service"]: r
        for r in json.loads(solo.inv("services.status", "--json", check=True).stdout)
    }
    assert rows["auth-service"]["state"] == "healthy"
    assert rows["product-service"]["state"] in ("crashed", "restarting")


def test_no_node_modules_says_to_install_the_deps(nine, tmp_root):
    import tempfile

    root = make_workspace(Path(tempfile.mkdtemp(prefix="bare-", dir=tmp_root)) / "ws")
    env = {**nine.env, "INVOKE_WORKSPACE_ROOT": str(root)}
    service_ports(env)
    Inv(env)("env.copy", check=True)
    result = Inv(env)("services.up", "--service", "auth")
    assert_user_error(result, "inv setup --only deps", "node_modules")
    assert not (root / ".lomash/services/desired.json").exists()


def test_an_unknown_service_lists_the_valid_ones(solo):
    assert_user_error(
        solo.inv("services.up", "--service", "auht"),
        "Unknown service 'auht'",
        "Did you mean 'auth'?",
    )
    assert_user_error(solo.inv("services.logs", "--service", "nope"), "Unknown service")
    assert not (solo.root / ".lomash/services/desired.json").exists()


def test_no_env_file_says_to_run_env_copy(solo):
    (solo.root / "services/auth-service/.env").unlink()
    assert_user_error(solo.inv("services.up", "--service", "auth"), "inv env.copy")


def test_infrastructure_that_does_not_answer_is_named_first(solo):
    env = {"INVOKE_INFRA_REDIS_PORT": str(free_port()), "INVOKE_SERVICE_OPTIONS_INFRA_TIMEOUT": "1"}
    result = solo.inv("services.up", "--service", "auth", env=env)
    assert_user_error(result, "need redis first", "inv stack.up")
    assert processes_under(solo.root) == []


def test_health_that_never_turns_200_hits_the_deadline_and_says_what_it_last_said(solo):
    env_file = solo.root / "services/notification-service/.env"
    closed = free_port()
    env_file.write_text(
        "\n".join(
            f"REDIS_URL=redis://:changeme_local@127.0.0.1:{closed}/6"
            if line.startswith("REDIS_URL=")
            else line
            for line in env_file.read_text().splitlines()
        )
        + "\n"
    )
    result = solo.inv("services.up", "--service", "notification", "--timeout", "4")
    assert_user_error(
        result,
        "did not answer GET /health with 200 within 4s",
        "/health last said: 503",
        '"failed":["redis"]',
    )
    rows = {
        r["service"]: r
        for r in json.loads(solo.inv("services.status", "--json", check=True).stdout)
    }
    assert rows["notification-service"]["state"] == "unhealthy"
    assert "503" in rows["notification-service"]["detail"]


def test_ctrl_c_during_up_leaves_a_consistent_state_and_a_rerun_resumes(solo):
    env = {**os.environ, **solo.env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "services.up",
            "--service",
            "auth",
            "--service",
            "content",
            "--service",
            "product",
        ],
        cwd=SUITE_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    desired = solo.root / ".lomash/services/desired.json"
    wait_until(desired.exists, 30, "services.up never wrote its launches")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    # what was started keeps running under its supervisor; a second up adds no copy
    result = solo.inv(
        "services.up",
        "--service",
        "auth",
        "--service",
        "content",
        "--service",
        "product",
        check=True,
        timeout=120,
    )
    assert "3 services healthy" in result.stdout
    recs = state(solo.root)
    for name in ("auth-service", "content-service", "product-service"):
        assert recs[name]["state"] == "healthy"
        assert len(group_members(recs[name]["pgid"])) == 2  # the watcher and its child
    assert len(processes_under(solo.root)) == 6


def test_a_killed_supervisor_leaves_no_orphan_after_the_next_up(solo):
    solo.inv("services.up", "--service", "auth", check=True, timeout=120)
    folder = solo.root / ".lomash/services"
    old = state(solo.root)["auth-service"]["pgid"]
    os.kill(int((folder / "supervisor.pid").read_text()), signal.SIGKILL)
    time.sleep(0.3)
    rows = {
        r["service"]: r
        for r in json.loads(solo.inv("services.status", "--json", check=True).stdout)
    }
    assert "supervisor is not running" in rows["auth-service"]["detail"]
    solo.inv("services.up", "--service", "auth", check=True, timeout=120)
    assert not group_members(old)  # the orphaned group was ended, not doubled
    now = state(solo.root)["auth-service"]
    assert now["state"] == "healthy" and len(group_members(now["pgid"])) == 2
    assert len(processes_under(solo.root)) == 2


# -- plain functions -------------------------------------------------------------------------------
def test_service_flag_takes_a_string_a_comma_list_or_a_list():
    from lomash_tasks.services.model import service_names

    assert service_names(None) == [] and service_names("auth") == ["auth"]
    assert service_names("auth,order") == ["auth", "order"]
    assert service_names(["auth", "order, gateway"]) == ["auth", "order", "gateway"]


def test_since_takes_durations_and_dates_and_refuses_the_rest():
    from lomash_tasks.errors import UserError
    from lomash_tasks.services.model import since_cutoff

    assert since_cutoff("10m", now=1000.0) == 400.0 and since_cutoff("30s", now=100.0) == 70.0
    assert since_cutoff("2h", now=10000.0) == 2800.0 and since_cutoff(None) is None
    assert since_cutoff("2026-12-01T15:00:00+00:00") == 1796137200.0
    with pytest.raises(UserError, match="--since"):
        since_cutoff("last tuesday")


def test_bad_service_options_are_one_message(solo):
    result = solo.inv("services.up", env={"INVOKE_SERVICE_OPTIONS_START_TIMEOUT": "soon"})
    assert_user_error(result, "INVOKE_SERVICE_OPTIONS_START_TIMEOUT")
    result = solo.inv("services.up", "--timeout", "0")
    assert_user_error(result, "--timeout")


def test_a_crash_tail_keeps_the_error_above_its_long_stack_trace(tmp_path):
    from lomash_tasks.services.logs import condensed_tail

    stamp = "2026-12-06T04:51:36.608"
    frames = [
        f"{stamp}     at frame{i} (/x/node_modules/ts-node/dist/util.js:{i}:1)" for i in range(12)
    ]
    log = tmp_path / "auth-service.log"
    log.write_text(
        "\n".join(
            [
                f"{stamp} --- starting: npm run start:dev",
                f"{stamp} Error: Cannot find module 'tsconfig-paths/register'",
                *frames,
                f"{stamp}   code: 'MODULE_NOT_FOUND',",
                *[f"{stamp}   line {i}" for i in range(10)],
                f"{stamp} Node.js v20.20.2",
                f"{stamp} [nodemon] app crashed - waiting for file changes",
            ]
        )
    )
    tail = condensed_tail(log, 15).splitlines()
    assert len(tail) == 15
    assert tail[0].endswith("Error: Cannot find module 'tsconfig-paths/register'")
    assert tail[-1].endswith("app crashed - waiting for file changes")
    short = condensed_tail(log, 40)
    assert short.count(" at frame") == 3 and "more stack frames in the log" in short
    assert condensed_tail(tmp_path / "none.log") == "(no log was written)"
