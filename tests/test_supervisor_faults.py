"""The services' supervisor under faults: a full disk, a chatty service, a killed supervisor.

Each test starts one service of a workspace of its own on the session's PostgreSQL and Redis
(the `stack` fixture), under the suite's real supervisor. The service's own code is replaced by
a small Node program of the test's (CHATTY below: /health, and routes that print lines on
demand or make /health answer 503), so the test decides when the service writes and what its
health says; everything around it (its dev script `node --watch`, the supervisor, the preload,
the log files) is the real thing. A full disk is a real one: a 2 MB tmpfs mounted on the
workspace's `.lomash/services`, filled by a file of the test's until writes fail with ENOSPC.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, assert_user_error, make_workspace, service_ports

pytestmark = pytest.mark.xdist_group("supervisor")

CHATTY = r"""
'use strict';
// A stand-in for the service's code (the test's own): /health, /say?n=&text=&size= prints n
// lines, /sick makes /health answer 503. START_DELAY_MS in .env delays listening.
const http = require('node:http');
let sick = false;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/health') {
    res.writeHead(sick ? 503 : 200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ status: sick ? 'unhealthy' : 'ok', pid: process.pid }));
  }
  if (url.pathname === '/say') {
    const n = Number(url.searchParams.get('n') || 1);
    const text = url.searchParams.get('text') || 'line';
    const pad = 'x'.repeat(Number(url.searchParams.get('size') || 0));
    for (let i = 0; i < n; i++) console.log(`${text} ${i} ${pad}`);
    res.writeHead(200);
    return res.end('said');
  }
  if (url.pathname === '/sick') { sick = true; res.writeHead(200); return res.end('sick'); }
  res.writeHead(404);
  res.end();
});
setTimeout(() => server.listen(Number(process.env.PORT), '127.0.0.1',
  () => console.log(`listening on ${process.env.PORT}`)), Number(process.env.START_DELAY_MS || 0));
"""


@dataclass
class One:
    root: Path
    inv: Inv
    port: int
    folder: Path  # .lomash/services

    def say(self, n: int, text: str = "line", size: int = 0) -> None:
        url = f"http://127.0.0.1:{self.port}/say?n={n}&text={text}&size={size}"
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert resp.status == 200

    def health(self) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    def supervisor(self) -> int:
        return int((self.folder / "supervisor.pid").read_text())

    def record(self) -> dict:
        return json.loads((self.folder / "state.json").read_text())["services"].get(
            "auth-service", {}
        )

    def status(self) -> dict:
        rows = json.loads(self.inv("services.status", "--json", check=True).stdout)
        return {r["service"]: r for r in rows}["auth-service"]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


@pytest.fixture
def one(stack, tmp_root):
    """auth-service's folder running CHATTY, in a workspace of its own on the session's stack
    (its own service ports); stopped at the end, nothing of it left running."""
    from lomash_tasks import processes

    parent = Path(tempfile.mkdtemp(prefix="sup-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws", node_modules=True)
    (root / "services/auth-service/src/index.js").write_text(CHATTY)
    env = {
        **stack.env,
        "INVOKE_WORKSPACE_ROOT": str(root),
        "INVOKE_SERVICE_OPTIONS_BACKEND": "embedded",
    }
    ports = service_ports(env)
    inv = Inv(env)
    inv("env.copy", check=True)
    folder = root / ".lomash" / "services"
    try:
        yield One(root, inv, ports["auth-service"][0], folder)
    finally:
        inv("services.down", timeout=60)
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        assert processes.in_folder(root / "services") == []


def mount_tmpfs(folder: Path, size: str = "2m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def fill(folder: Path) -> Path:
    """A file that takes every free byte of the filesystem holding `folder`."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "ab", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError:
                break
        while True:  # the last blocks, byte by byte
            try:
                if not handle.write(b"\0" * 512):
                    break
            except OSError:
                break
    with pytest.raises(OSError):
        with open(folder / "probe", "ab", buffering=0) as handle:
            handle.write(b"x" * 4096)
    return filler


def test_a_full_disk_drops_log_lines_with_a_marker_and_the_supervisor_goes_on(one):
    mount_tmpfs(one.folder)
    one.inv("services.up", "--service", "auth", check=True, timeout=120)
    supervisor = one.supervisor()
    one.say(3, "before")
    filler = fill(one.folder)
    one.say(2000, "lost", size=100)  # ENOSPC on every log write
    time.sleep(1)
    from lomash_tasks import processes

    assert processes.alive(supervisor) and one.health() == 200
    # still supervised on a full disk: its own process killed, it is started again
    app = one.record()["app"]["pid"]
    os.kill(app, signal.SIGKILL)
    wait_until(
        lambda: (
            one.health() == 200
            and json.loads(
                urllib.request.urlopen(f"http://127.0.0.1:{one.port}/health", timeout=5).read()
            )["pid"]
            != app
        ),
        60,
        "the service was not started again on a full disk",
    )
    fill(one.folder)  # what the restart freed (its events file emptied) is taken again

    # status does not trust a record the supervisor could not write: it asks /health
    def said_full() -> dict | None:
        row = one.status()
        return row if "is full" in row["detail"] else None

    row = wait_until(
        said_full, 60, "status kept trusting a record the supervisor could not rewrite"
    )
    assert row["state"] == "healthy", row
    # a new launch cannot be recorded: said as such, no service blamed
    result = one.inv("services.up", "--service", "product", timeout=120)
    assert_user_error(result, "No space left on device", "desired.json", "is full")
    assert "product-service did not" not in result.stdout + result.stderr
    filler.unlink()
    one.say(3, "after")
    log = one.folder / "auth-service.log"
    wait_until(
        lambda: "after 2" in log.read_text(), 30, "no line was written once there was room again"
    )
    text = log.read_text()
    assert "before 2" in text and "lost 1999" not in text
    marker = [line for line in text.splitlines() if "of output dropped" in line]
    assert len(marker) == 1 and "No space left on device" in marker[0], marker
    assert marker[0].split(" ", 1)[1].startswith("--- "), marker  # on a line of its own
    assert text.index("of output dropped") < text.index("after 0")
    assert one.supervisor() == supervisor
    wait_until(lambda: "is full" not in one.status()["detail"], 30, "status kept the old note")
    assert one.status()["state"] == "healthy"


def test_a_chatty_service_s_log_is_rotated_by_size_and_read_from_its_end(one):
    env = {"INVOKE_SERVICE_OPTIONS_LOG_MAX_MB": "0.25", "INVOKE_SERVICE_OPTIONS_LOG_KEEP": "2"}
    one.inv("services.up", "--service", "auth", env=env, check=True, timeout=120)
    for batch in range(8):
        one.say(1000, f"batch{batch}", size=100)  # ~0.13 MB each
    log = one.folder / "auth-service.log"
    wait_until(lambda: "batch7 999 " in log.read_text(), 30, "the last line was not written")
    sizes = {p.name: p.stat().st_size for p in one.folder.glob("auth-service.log*")}
    assert set(sizes) == {"auth-service.log", "auth-service.log.1", "auth-service.log.2"}, sizes
    assert all(size <= 0.25 * 2**20 for size in sizes.values()), sizes
    # --tail reads from the end, across the rotation
    out = one.inv("services.logs", "--service", "auth", "--tail", "5", check=True).stdout
    lines = out.splitlines()
    assert len(lines) == 5 and lines[-1].split("| ", 1)[1].split(" ", 1)[1].startswith(
        "batch7 999"
    ), out
    out = one.inv("services.logs", "--service", "auth", check=True).stdout
    assert len(out.splitlines()) == 100  # service_options.logs_tail
    count = int(log.read_text().count("\n"))
    out = one.inv(
        "services.logs", "--service", "auth", "--tail", str(count + 300), check=True
    ).stdout
    assert len(out.splitlines()) == count + 300  # the rest from auth-service.log.1


def test_logs_of_a_50_mb_log_answer_from_the_end_and_follow_starts_there(one):
    one.inv("services.up", "--service", "auth", check=True, timeout=120)
    one.inv("services.down", check=True, timeout=60)
    log = one.folder / "auth-service.log"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 3600))
    with open(log, "a") as handle:
        line = f"{stamp}.000 backlog line with some padding {'p' * 80}\n"
        handle.write(line * (50 * 2**20 // len(line)))
        handle.write(f"{stamp}.001 the last line of the backlog\n")
    assert log.stat().st_size > 50 * 2**20
    out = one.inv("services.logs", "--service", "auth", "--tail", "3", check=True).stdout
    assert out.splitlines()[-1].endswith("the last line of the backlog"), out
    assert len(out.splitlines()) == 3
    # --follow: the tail, then new lines, never the backlog before it
    env = {**os.environ, **one.inv.env}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "services.logs",
            "--service",
            "auth",
            "--follow",
            "--tail",
            "2",
        ],
        cwd=SUITE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        with open(log, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}.000 a new line\n")
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 3, lines[:5]
    assert lines[0].endswith("p" * 80) and lines[1].endswith("the last line of the backlog")
    assert lines[2].endswith("a new line")


def test_after_the_supervisor_is_killed_status_asks_health(one):
    one.inv("services.up", "--service", "auth", check=True, timeout=120)
    assert one.status()["state"] == "healthy"
    os.kill(one.supervisor(), signal.SIGKILL)
    urllib.request.urlopen(f"http://127.0.0.1:{one.port}/sick", timeout=5).read()
    assert one.record()["state"] == "healthy"  # what the dead supervisor last wrote
    row = one.status()
    assert row["state"] == "unhealthy", row
    assert "503" in row["detail"] and "supervisor is not running" in row["detail"], row


def test_the_supervisor_takes_sigusr1_as_look_now_and_says_it_does(one):
    """`services.up` sends SIGUSR1 ("check the services that are not healthy yet now") only
    to a supervisor whose record says it takes it: SIGUSR1's default action would end one
    that does not. The signal wakes its loop and leaves it and the service running."""
    one.inv("services.up", "--service", "auth", check=True, timeout=120)
    record = json.loads((one.folder / "state.json").read_text())
    assert record["supervisor"]["nudge"] is True
    assert record["services"]["auth-service"]["state"] == "healthy"  # agreed before up returned
    pid = one.supervisor()
    urllib.request.urlopen(f"http://127.0.0.1:{one.port}/sick", timeout=5).read()
    for _ in range(5):
        os.kill(pid, signal.SIGUSR1)
        time.sleep(0.05)
    wait_until(lambda: one.record().get("state") == "unhealthy", 30, "503 never recorded")
    assert one.supervisor() == pid and one.health() == 503


def test_a_supervisor_killed_while_up_waits_is_named_not_the_service(one):
    env_file = one.root / "services/auth-service/.env"
    env_file.write_text(env_file.read_text() + "START_DELAY_MS=30000\n")
    env = {**os.environ, **one.inv.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "services.up", "--service", "auth"],
        cwd=SUITE_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                (one.folder / "state.json").exists() and one.record().get("state") == "starting"
            ),
            60,
            "auth never started",
        )
        os.kill(one.supervisor(), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out + err
    assert proc.returncode != 0 and "Traceback" not in text, text
    assert "supervisor exited" in text and "no service is to blame" in text, text
    assert "did not answer GET /health" not in text, text


# -- the reading from the end, as a plain function -------------------------------------------------
def test_tail_and_since_read_from_the_end_across_rotated_files(tmp_path):
    from lomash_tasks.services import logs
    from lomash_tasks.services.shared import now_stamp

    base = int(time.time()) - 10_000
    lines = [f"{now_stamp(base + i)} line {i} {'x' * (i * 7 % 300)}" for i in range(3000)]
    log = tmp_path / "auth-service.log"

    def read(**kwargs) -> list[str]:
        return [line for _, line in logs.merged({"auth-service": log}, **kwargs)]

    log.write_text("\n".join(lines) + "\n")
    for n in (1, 2, 999, 3000, 5000):
        assert read(tail=n) == lines[-n:], n
    assert read() == lines and read(tail=0) == lines
    assert read(since=base + 2990) == lines[2990:]
    assert read(since=base + 2990, tail=4) == lines[-4:]
    assert read(since=base - 1) == lines
    log.write_text("\n".join(lines[:10]))  # no final newline
    assert read(tail=3) == lines[7:10]
    log.write_text("")
    assert read(tail=3) == []
    (tmp_path / "auth-service.log.1").write_text("\n".join(lines[:100]) + "\n")
    log.write_text("\n".join(lines[100:110]) + "\n")
    assert read(tail=15) == lines[95:110]  # the rest from the rotated file
    assert read(since=base + 50) == lines[50:110]
    assert read() == lines[:110]
