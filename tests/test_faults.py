"""Fault injection on a real embedded stack of its own (its own workspace, free ports): servers
killed mid-task, a port taken, Ctrl-C during `inv setup` and `stripe.listen`, two setups at once,
a readiness wait that runs out. Each fault must end in a clear message, leave no half-written
file and no orphan process, and a plain re-run must complete.

The tests run in file order on one worker and share one stack; each leaves it running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, make_workspace, stack_env

pytestmark = pytest.mark.xdist_group("faults")  # one worker: these start their own stack

STANDIN = SUITE_ROOT / "tests" / "standins" / "stripe"


def port_env(root) -> dict[str, str]:
    """Free ports for a dedicated embedded stack in `root`."""
    return {**stack_env(root), "INVOKE_STACK_BACKEND": "embedded"}


def spawn(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen:
    """`inv ARGS` in the background, as a user's terminal would run it; output to `log`."""
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")
    }
    full.update(env)
    handle = open(log, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=SUITE_ROOT,
        env=full,
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return proc


# -- process helpers (lomash_tasks.processes) ------------------------------------------------------
def cmdline(pid: int) -> str:
    from lomash_tasks import processes

    return " ".join(processes.command_line(pid))


def alive(pid: int) -> bool:
    from lomash_tasks import processes

    return processes.alive(pid)


def descendants(pid: int) -> set[int]:
    from lomash_tasks import processes

    return set(processes.descendants(pid))


def node_processes_in(root: Path) -> list[str]:
    """Node/Prisma processes whose working folder is inside `root`."""
    from lomash_tasks import processes

    return [
        f"{pid}: {line}"
        for pid in processes.in_folder(root)
        for line in [cmdline(pid)]
        if "node" in line or "prisma" in line
    ]


def status(inv: Inv) -> dict[str, dict]:
    result = inv("stack.status", "--json", check=True)
    return {row["part"]: row for row in json.loads(result.stdout)}


def wait_closed(port: int, deadline: float = 15) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still answers")


def half_written(root: Path) -> list[str]:
    """Temporary files an interrupted atomic write would leave behind, outside node_modules."""
    return [
        str(p)
        for p in root.rglob("*.tmp")
        if "node_modules" not in p.parts and ".lomash" not in p.parts
    ]


def env_files_parse(root: Path) -> None:
    from lomash_tasks.env.files import read_env

    for path in root.rglob(".env"):
        if "node_modules" not in path.parts:
            read_env(path)  # raises on a torn file


# -- the stack these tests share --------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh(tmp_root):
    """A fresh workspace (Node dependencies linked) on free ports; stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="faults-", dir=tmp_root))
    root.rmdir()
    make_workspace(root, node_modules=True)
    inv = Inv(port_env(root))
    yield root, inv
    inv("stack.down", "--volumes", "--yes", timeout=120)


def test_sigint_during_setup_leaves_nothing_half_done_and_setup_resumes(fresh, tmp_path):
    """Ctrl-C while the Prisma CLI migrates: no orphan Node process, no torn file; resumable."""
    root, inv = fresh
    proc = spawn(inv.env, "setup", "--runner", "prisma", log=tmp_path / "setup.log")
    seen: set[int] = set()
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            prisma = {p for p in descendants(proc.pid) if "prisma" in cmdline(p)}
            seen |= prisma
            if prisma:
                break
            time.sleep(0.05)
        assert seen, "setup never ran the Prisma CLI:\n" + (tmp_path / "setup.log").read_text()
        time.sleep(0.3)
        seen |= {p for p in descendants(proc.pid) if "node" in cmdline(p) or "prisma" in cmdline(p)}
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "setup.log").read_text()
    assert code == 130, text
    assert "Traceback" not in text, text
    assert "interrupted" in text and "run `inv setup` again" in text, text
    time.sleep(0.5)
    assert not [p for p in seen if alive(p)], f"orphans: {[cmdline(p) for p in seen if alive(p)]}"
    assert node_processes_in(root) == []
    assert half_written(root) == []
    env_files_parse(root)

    again = inv("setup", "--runner", "prisma", "--json", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    steps = {s["step"]: s["status"] for s in json.loads(again.stdout)["steps"]}
    assert steps["db.migrate"] in ("done", "already done"), steps
    assert set(steps.values()) <= {"done", "already done", "skipped"}, steps
    assert node_processes_in(root) == []


def slow_migration(root: Path, seconds: int = 4) -> Path:
    folder = root / "services/content-service/prisma/migrations/20270101000000_slow_backfill"
    folder.mkdir()
    (folder / "migration.sql").write_text(
        f"SELECT pg_sleep({seconds});\nCREATE TABLE slow_backfill (id integer PRIMARY KEY);\n"
    )
    return folder


def test_postgres_killed_during_migrate_fails_cleanly_and_a_rerun_completes(fresh, tmp_path):
    root, inv = fresh
    slow_migration(root)
    pg = status(inv)["postgres"]
    assert pg["state"] == "running" and pg["pid"]
    proc = spawn(
        inv.env,
        "db.migrate",
        "--runner",
        "native",
        "--service",
        "content",
        log=tmp_path / "migrate.log",
    )
    try:
        import psycopg

        port = int(inv.env["INVOKE_INFRA_POSTGRES_PORT"])
        deadline = time.monotonic() + 30
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="lomash_master",
            password="changeme_local",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            while time.monotonic() < deadline:
                busy = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                    "'%pg_sleep(%' AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                if busy:
                    break
                time.sleep(0.05)
            assert busy, (tmp_path / "migrate.log").read_text()
        os.kill(pg["pid"], signal.SIGKILL)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "migrate.log").read_text()
    assert code != 0, text
    assert "Traceback" not in text, text
    assert "content-service" in text, text
    assert "db.migrate: 1 of 1 services failed" in text, text

    inv("stack.up", check=True, timeout=180)
    rerun = inv("db.migrate", "--runner", "native", "--service", "content", timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 migration(s) applied" in rerun.stdout
    again = inv("db.migrate", "--runner", "native", check=True, timeout=120)
    assert "0 migration(s) applied" in again.stdout


def test_redis_down_during_flush_names_the_address(fresh):
    root, inv = fresh
    rd = status(inv)["redis"]
    os.kill(rd["pid"], signal.SIGKILL)
    port = int(inv.env["INVOKE_INFRA_REDIS_PORT"])
    wait_closed(port)
    result = inv("cache.flush", "auth", "--yes", timeout=60)
    assert_user_error(result, f"127.0.0.1:{port}", "inv stack.up")
    inv("stack.up", "--part", "redis", check=True, timeout=60)
    inv("cache.flush", "auth", "--yes", check=True, timeout=60)


def test_sigint_during_stripe_listen_stops_the_cli_and_keeps_env(fresh, tmp_path):
    """The Stripe CLI is a stand-in (tests/standins/stripe): Stripe's servers are unreachable."""
    root, inv = fresh
    env_path = root / "services/order-payment-service/.env"
    before = env_path.read_text()
    log = tmp_path / "cli.jsonl"
    env = dict(
        inv.env,
        INVOKE_STRIPE_CLI=str(STANDIN),
        STANDIN_STRIPE_LOG=str(log),
        STANDIN_STRIPE_SECRET="whsec_faultinjection0123456789",
    )
    proc = spawn(env, "stripe.listen", log=tmp_path / "listen.log")
    try:
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and "Forwarding Stripe events" not in (tmp_path / "listen.log").read_text()
        ):
            time.sleep(0.05)
        cli_pid = next(
            json.loads(line)["pid"]
            for line in log.read_text().splitlines()
            if json.loads(line)["event"] == "listening"
        )
        assert alive(cli_pid)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "listen.log").read_text()
    assert code == 0, text
    assert "Traceback" not in text and "Stripe CLI stopped" in text, text
    assert not alive(cli_pid), "the Stripe CLI outlived stripe.listen"
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[-1] == "stopped"
    after = env_path.read_text()
    assert "STRIPE_WEBHOOK_SECRET=whsec_faultinjection0123456789\n" in after
    assert [s for s in after.splitlines() if not s.startswith("STRIPE_WEBHOOK_SECRET=")] == [
        s for s in before.splitlines() if not s.startswith("STRIPE_WEBHOOK_SECRET=")
    ]
    assert half_written(root) == []
    assert "whsec_faultinjection0123456789" not in text


def test_two_setups_at_once_never_interleave(fresh, tmp_path):
    root, inv = fresh
    inv("stack.down", check=True, timeout=120)  # so the first run has real work to do
    lock = root / ".lomash" / "setup.lock"
    first = spawn(inv.env, "setup", "--runner", "native", "--json", log=tmp_path / "a.log")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # the lock file names its holder: pid on the first line, its command on the second
            if lock.is_file() and lock.read_text().split("\n")[0].strip() == str(first.pid):
                break
            time.sleep(0.02)
        second = spawn(inv.env, "setup", "--runner", "native", "--json", log=tmp_path / "b.log")
        codes = first.wait(timeout=300), second.wait(timeout=300)
    finally:
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    a, b = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    assert codes == (0, 0), a + b
    assert "Another inv setup is running on this workspace" in b, b
    assert f"(pid {first.pid}: " in b and "setup" in b.split(f"(pid {first.pid}: ")[1]
    assert "Another inv setup" not in a

    def steps(text):
        data = json.loads(text[text.index("{\n") :])
        return {s["step"]: s["status"] for s in data["steps"]}

    sa, sb = steps(a), steps(b)
    assert sa["stack"] == "done", sa
    assert set(sb.values()) <= {"already done", "skipped"}, sb  # it started after the first
    assert list(sa) == list(sb)


def test_port_taken_before_start_names_the_holder_and_the_key(tmp_root):
    root = Path(tempfile.mkdtemp(prefix="taken-", dir=tmp_root))
    root.rmdir()
    make_workspace(root)
    env = port_env(root)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env["INVOKE_INFRA_REDIS_PORT"] = str(port)
        result = Inv(env)("stack.up", "--part", "redis", timeout=60)
    assert_user_error(result, f"Port {port}", f"pid {os.getpid()}", "INVOKE_INFRA_REDIS_PORT")
    assert not list((root / ".lomash").rglob("*.pid")) if (root / ".lomash").exists() else True


def test_a_readiness_wait_that_times_out_names_the_part_and_its_last_error(tmp_root):
    root = Path(tempfile.mkdtemp(prefix="wait-", dir=tmp_root))
    root.rmdir()
    make_workspace(root)
    env = port_env(root)
    began = time.monotonic()
    result = Inv(env)("stack.wait", "--timeout", "1", timeout=60)
    elapsed = time.monotonic() - began
    port = env["INVOKE_INFRA_POSTGRES_PORT"]
    assert_user_error(
        result,
        f"postgres at 127.0.0.1:{port} was not ready after",
        "last error: connection refused",
        "--timeout",
    )
    assert elapsed < 15, elapsed
