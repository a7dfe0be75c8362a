"""lomash_tasks.processes: every function against real processes and sockets, with /proc hidden
from the suite's own code (tests/proc_guard: an audit hook fails any open, listdir or scandir of
/proc made by a module of lomash_tasks; psutil, which reads /proc on Linux, may). The sockets of
the whole machine are root's only on macOS: that path (each process asked for its own) is run
here too, by making psutil refuse the machine-wide call as macOS does.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUITE_ROOT, Inv, make_workspace, stack_env
from proc_guard import sitecustomize as guard

GUARD_PATH = SUITE_ROOT / "tests" / "proc_guard"


@pytest.fixture(autouse=True)
def proc_hidden():
    guard.STATE["seen"].clear()
    guard.arm()
    try:
        yield
    finally:
        guard.disarm()
    assert guard.STATE["seen"] == []


@pytest.fixture(params=["machine-wide", "per process (as on macOS)"])
def sockets(request, monkeypatch):
    """Both ways the module reads sockets: psutil's machine-wide table, and (where that is for
    root only) each process's own."""
    if request.param != "machine-wide":
        import psutil

        def refused(*args, **kwargs):
            raise psutil.AccessDenied()

        monkeypatch.setattr(psutil, "net_connections", refused)
    return request.param


def group(*argv: str, cwd: Path | None = None) -> subprocess.Popen:
    """A process in a new process group (its own session), as the supervisor starts services."""
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait(timeout=10)


def wait_for(check, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(what)


def test_the_guard_catches_the_suites_own_reads_of_proc(tmp_path):
    """The guard itself: a module under lomash_tasks that opens /proc fails; psutil does not."""
    import importlib.util

    import psutil

    psutil.Process(os.getpid()).status()  # psutil reads /proc/<pid>/stat on Linux: allowed
    fake = tmp_path / "lomash_tasks" / "spy.py"
    fake.parent.mkdir()
    fake.write_text("def peek():\n    return open('/proc/self/stat').read()\n")
    spec = importlib.util.spec_from_file_location("spy", fake)
    spy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spy)
    with pytest.raises(guard.ProcAccess):
        spy.peek()
    assert guard.STATE["seen"] and "/proc/self/stat" in guard.STATE["seen"][0]
    guard.STATE["seen"].clear()


def test_no_module_of_the_suite_names_proc():
    """What the audit hook cannot see (os.readlink, os.stat) the source shows."""
    found = []
    for path in sorted((SUITE_ROOT / "lomash_tasks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("/proc")
            ):  # f"/proc/{pid}/cwd" has one too
                found.append(f"{path.relative_to(SUITE_ROOT)}:{node.lineno}")
    assert found == []


def test_psutil_is_imported_by_the_process_module_only():
    users = []
    for path in sorted((SUITE_ROOT / "lomash_tasks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "psutil" for n in names):
                users.append(str(path.relative_to(SUITE_ROOT)))
    assert users == ["lomash_tasks/processes.py"]


def test_alive_command_line_name_user_describe_and_cwd(tmp_path):
    import pwd

    from lomash_tasks import processes

    proc = group(sys.executable, "-c", "import time; time.sleep(60)", "--marker", cwd=tmp_path)
    try:
        assert processes.alive(proc.pid)
        assert processes.command_line(proc.pid) == [
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
            "--marker",
        ]
        assert processes.name(proc.pid).startswith("python")
        assert processes.user(proc.pid) == pwd.getpwuid(os.getuid()).pw_name
        assert processes.describe(proc.pid).endswith("--marker")
        assert processes.describe(proc.pid, width=20).endswith("...")
        assert len(processes.describe(proc.pid, width=20)) == 20
        assert processes.cwd(proc.pid) == str(tmp_path.resolve())
        assert processes.in_folder(tmp_path) == [proc.pid]
        assert processes.in_folder(tmp_path.parent).count(proc.pid) == 1  # below it counts
    finally:
        stop(proc)
    assert not processes.alive(proc.pid)
    for gone in (processes.command_line, processes.name, processes.user, processes.cwd):
        assert not gone(proc.pid)
    assert processes.describe(proc.pid) == "?"
    assert processes.in_folder(tmp_path) == []
    assert not processes.alive(None) and not processes.alive(0) and not processes.alive(-3)


def test_alive_is_false_for_a_zombie_and_reaps_our_own_dead_child():
    from lomash_tasks import processes

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    # not waited for: a zombie until reaped; alive() reaps it (it is our child) and says False
    wait_for(lambda: not processes.alive(proc.pid), "the exited child still looked alive")
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)  # already reaped
    # another process's zombie: a child of a parent that never reaps
    parent = group(
        sys.executable,
        "-c",
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
        "time.sleep(60)\n",
    )
    try:
        members = wait_for(
            lambda: [p for p in _group_pids_any(parent.pid) if p != parent.pid] or None,
            "no child in the group",
        )
        zombie = members[0]
        wait_for(lambda: not processes.alive(zombie), "the unreaped child looked alive")
        assert zombie in _group_pids_any(parent.pid)  # still there, as a zombie
        assert zombie not in processes.group_members(parent.pid)  # zombies are no members
        assert processes.descendants(parent.pid) == []
    finally:
        stop(parent)


def _group_pids_any(pgid: int) -> list[int]:
    """Every process of a group, zombies included (psutil, for the test's own check)."""
    import psutil

    out = []
    for pid in psutil.pids():
        try:
            if os.getpgid(pid) == pgid:
                out.append(pid)
        except OSError:
            continue
    return out


def test_groups_group_members_and_descendants():
    from lomash_tasks import processes

    proc = group("sh", "-c", "sleep 60 & sleep 60 & wait")
    try:
        members = wait_for(
            lambda: (lambda m: m if len(m) == 3 else None)(processes.group_members(proc.pid)),
            "the group never had its three members",
        )
        assert proc.pid in members
        assert sorted(processes.descendants(proc.pid)) == sorted(
            m for m in members if m != proc.pid
        )
        assert processes.groups([proc.pid, 999999999]) == {proc.pid: members}
        everything = processes.groups()
        assert sorted(everything[proc.pid]) == sorted(members)
        assert os.getpid() in everything[os.getpgid(0)]
        assert processes.groups([]) == {} and processes.group_members(None) == []
    finally:
        stop(proc)
    wait_for(lambda: not processes.group_members(proc.pid), "the killed group stayed")
    assert processes.groups([proc.pid]) == {}
    assert processes.descendants(proc.pid) == []


def test_listeners_addresses_ports_and_established_connections(sockets):
    from lomash_tasks import processes

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        me = os.getpid()
        assert processes.listeners(port) == [me]
        assert processes.listeners(port, "127.0.0.1") == [me]
        assert processes.listeners(port, "localhost") == [me]
        assert processes.listeners(port, "10.9.8.7") == []
        assert processes.listening_addresses(port) == ["127.0.0.1"]
        assert port in processes.listening_ports([me])[me]
        assert processes.established(port) == 0
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        try:
            assert processes.established(port) == 1  # the server's end, not the client's
            assert processes.established(port, [me]) == 1
        finally:
            client.close()
            accepted.close()
    finally:
        server.close()
    assert processes.listeners(port) == []
    assert processes.listening_addresses(port) == []
    assert processes.listening_ports([me]).get(me, set()).isdisjoint({port})


def test_one_scan_answers_every_socket_question_from_one_listing(sockets, monkeypatch):
    import psutil

    from lomash_tasks import processes

    calls = []  # each machine-wide listing starts with one (tried) psutil.net_connections
    real = psutil.net_connections

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(psutil, "net_connections", counted)
    servers = []
    for _ in range(3):
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)
    ports = [s.getsockname()[1] for s in servers]
    try:
        with processes.one_scan():
            assert [processes.listeners(p) for p in ports] == [[os.getpid()]] * 3
            assert [processes.established(p) for p in ports] == [0, 0, 0]
            with processes.one_scan():  # nested: still the outer listing
                assert processes.listening_addresses(ports[0]) == ["127.0.0.1"]
            servers[0].close()
            assert processes.listeners(ports[0]) == [os.getpid()]  # the listing, as it was
        assert len(calls) == 1, calls
        assert processes.listeners(ports[0]) == []  # outside: asked afresh
        assert len(calls) == 2, calls
    finally:
        for server in servers:
            server.close()


def test_a_wildcard_listener_counts_for_any_host(sockets):
    from lomash_tasks import processes

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        assert processes.listeners(port, "127.0.0.1") == [os.getpid()]
        assert processes.listening_addresses(port) == ["0.0.0.0"]
    finally:
        server.close()


def test_memory_of_processes():
    from lomash_tasks import processes

    rss, pss = processes.memory([os.getpid()])
    assert rss > 5 and 0 < pss <= rss
    assert processes.memory([]) == (0.0, 0.0)
    assert processes.memory([999999999]) == (0.0, 0.0)


def test_ports_holder_names_the_process(sockets):
    from lomash_tasks.stack import ports

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        held = ports.holder(port)
        assert held is not None and held.pid == os.getpid()
        assert sys.executable.rsplit("/", 1)[-1] in held.describe()
    finally:
        server.close()
    assert ports.holder(port) is None


def test_stack_up_status_and_down_with_proc_hidden(tmp_root, tmp_path):
    """The embedded Redis started, seen and stopped by `inv` processes whose every /proc read
    by the suite would fail (the guard loaded into them through PYTHONPATH)."""
    import tempfile

    from lomash_tasks import processes

    parent = Path(tempfile.mkdtemp(prefix="procless-", dir=tmp_root))
    parent.chmod(0o755)
    root = make_workspace(parent / "ws")
    log = tmp_path / "violations"
    env = {
        **stack_env(root),
        "INVOKE_STACK_BACKEND": "embedded",
        "PYTHONPATH": os.pathsep.join([str(GUARD_PATH), os.environ.get("PYTHONPATH", "")]),
        "LOMASH_PROC_GUARD": str(log),
    }
    inv = Inv(env)
    inv("stack.up", "--part", "redis", check=True, timeout=120)
    pid = int((root / ".lomash/redis/redis.pid").read_text())
    assert processes.alive(pid)
    rows = {r["part"]: r for r in json.loads(inv("stack.status", "--json", check=True).stdout)}
    assert rows["redis"]["state"] == "running" and rows["redis"]["pid"] == pid
    inv("stack.down", check=True, timeout=120)
    assert not processes.alive(pid)
    assert not log.exists(), log.read_text()
