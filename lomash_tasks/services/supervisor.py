"""The embedded services' supervisor: one small process per workspace that owns the services.

    python -m lomash_tasks.services.supervisor <workspace>/.lomash/services

It reads `desired.json` (which services should run and how: written by `inv services.*`, then
SIGHUP), starts each service in its own process group, timestamps and writes its output to
`<name>.log`, and records what it sees in `state.json`. Measured pitfalls it is built around:

- `node --watch` is two processes (the watcher and the serving child). The state comes from
  the group and from GET /health, never from one live pid: the watcher's exit is a crash, and
  so is the group shrinking to the watcher alone (the child died; Node's watcher would wait for
  a file change), and then the whole group is killed before the service starts again, so no
  orphan keeps the port or the inspector.
- A crashed service is restarted after a delay that doubles per crash (backoff_base ..
  backoff_max), and starts afresh once it was healthy for `stable_after` seconds.
- A stop signals the whole group (SIGTERM, then SIGKILL after stop_timeout).
- Groups recorded by a supervisor that was killed are killed when the next one starts.

Single-threaded (one select loop), standard library only besides the command layer: a few MB.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

TICK = 0.1
SCAN_EVERY = 0.25
HEALTH_STARTING = 0.2
HEALTH_RUNNING = 2.0
CHILD_GONE_GRACE = 1.0   # a watcher without its child this long: the service crashed
FAILS_UNHEALTHY = 2      # consecutive failed checks before a healthy service is "unhealthy"


def now_stamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def groups() -> dict[int, list[int]]:
    """Every process group on the machine with its live (not zombie) members."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        out.setdefault(int(fields[2]), []).append(int(entry))
    return out


def health(port: int, timeout: float = 2.5) -> tuple[int | None, str]:
    """(HTTP status or None, what was seen) of GET /health on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while len(data) < 65536:
                chunk = sock.recv(8192)
                if not chunk:
                    break
                data += chunk
    except ConnectionRefusedError:
        return None, "connection refused (nothing listens yet)"
    except OSError as exc:
        return None, f"no answer ({exc.strerror or exc})"
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        code = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, "not an HTTP answer"
    return code, body.decode(errors="replace")[:500]


class Service:
    """One supervised service: its launch, its process group, its state."""

    def __init__(self, sup: "Supervisor", spec: dict[str, Any]) -> None:
        self.sup = sup
        self.spec = spec
        self.name = spec["name"]
        self.proc: Any = None
        self.pgid: int | None = None
        self.fds: dict[int, bytes] = {}
        self.streams: dict[int, Any] = {}
        self.log: Any = None
        self.state = "stopped"
        self.started_at: float | None = None
        self.first_started: float | None = None
        self.healthy_since: float | None = None
        self.restarts = 0
        self.streak = 0
        self.backoff = 0.0
        self.next_start: float | None = None
        self.last_exit: str = ""
        self.last_health: dict[str, Any] = {}
        self.fails = 0
        self.next_health = 0.0
        self.child_gone_at: float | None = None
        self.after_crash = False

    # -- process ---------------------------------------------------------------------------
    def write_log(self, text: str) -> None:
        if self.log is None:
            fd = os.open(self.spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self.log = os.fdopen(fd, "ab", buffering=0)
        self.log.write(text.encode(errors="replace"))

    def note(self, text: str) -> None:
        self.write_log(f"{now_stamp()} --- {text}\n")

    def start(self) -> None:
        from lomash_tasks import commands

        if self.log is not None:  # `up` may have rotated the file: write to the new one
            self.log.close()
            self.log = None
        what = "restarting after a crash" if self.after_crash else "starting"
        self.note(f"{what}: {' '.join(self.spec['argv'])} (in {self.spec['cwd']})")
        try:
            proc = commands.spawn(self.spec["argv"], env=self.spec["env"], cwd=self.spec["cwd"],
                                  replace_env=True, pipe=True)
        except Exception as exc:  # noqa: BLE001 - a launch that cannot start is a crash
            self.note(f"could not start: {exc}")
            self.crashed(f"could not start: {exc}")
            return
        self.proc, self.pgid = proc, proc.pid
        self.fds, self.streams = {}, {}
        for stream in (proc.stdout, proc.stderr):
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self.fds[fd] = b""
            self.streams[fd] = stream
        self.started_at = time.time()
        self.first_started = self.first_started or self.started_at
        self.state = "restarting" if self.after_crash else "starting"
        self.healthy_since = None
        self.fails = 0
        self.next_health = time.monotonic() + 0.05
        self.child_gone_at = None
        self.next_start = None
        self.sup.dirty = True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self, timeout: float) -> None:
        """SIGTERM the whole group, SIGKILL what is left after `timeout`; reap the leader."""
        if self.pgid is None:
            return
        pgid = self.pgid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and groups().get(pgid):
            self.drain()
            if self.proc is not None:
                self.proc.poll()
            time.sleep(0.02)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except Exception:  # noqa: BLE001 - it was SIGKILLed
                pass
        end = time.monotonic() + 5
        while time.monotonic() < end and groups().get(pgid):
            time.sleep(0.02)
        self.drain()
        self.close_pipes()
        self.proc = None
        self.pgid = None

    def close_pipes(self) -> None:
        for fd, rest in list(self.fds.items()):
            if rest:
                self.write_log(f"{now_stamp()} {rest.decode(errors='replace')}\n")
            self._close(fd)
        self.fds = {}

    def _close(self, fd: int) -> None:
        stream = self.streams.pop(fd, None)
        try:
            if stream is not None:
                stream.close()  # the pipe's file object owns the descriptor
            else:
                os.close(fd)
        except OSError:
            pass

    def drain(self, fds: list[int] | None = None) -> None:
        for fd in list(fds if fds is not None else self.fds):
            if fd not in self.fds:
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    continue
                chunk = b""
            if not chunk:
                rest = self.fds.pop(fd)
                if rest:
                    self.write_log(f"{now_stamp()} {rest.decode(errors='replace')}\n")
                self._close(fd)
                continue
            data = self.fds[fd] + chunk
            *lines, rest = data.split(b"\n")
            stamp = now_stamp()
            if lines:
                self.write_log("".join(f"{stamp} {line.decode(errors='replace')}\n"
                                       for line in lines))
            if len(rest) > 16384:
                self.write_log(f"{stamp} {rest.decode(errors='replace')}\n")
                rest = b""
            self.fds[fd] = rest

    def stop(self, timeout: float) -> None:
        if self.pgid is not None:
            self.note("stopping (SIGTERM to the process group)")
            self.kill_group(timeout)
            self.note("stopped")
        self.state = "stopped"
        self.next_start = None
        self.sup.dirty = True

    def crashed(self, why: str) -> None:
        settings = self.sup.settings
        if self.healthy_since and time.time() - self.healthy_since >= settings["stable_after"]:
            self.streak = 0
        self.streak += 1
        self.backoff = min(settings["backoff_max"],
                           settings["backoff_base"] * 2 ** (self.streak - 1))
        self.last_exit = why
        self.state = "crashed"
        self.healthy_since = None
        self.next_start = time.monotonic() + self.backoff
        self.after_crash = True
        self.note(f"crashed: {why}; restarting in {self.backoff:g}s (crash #{self.streak} in a "
                  f"row, backoff doubles up to {settings['backoff_max']:g}s)")
        self.sup.dirty = True

    # -- watching --------------------------------------------------------------------------
    def watch(self, members: dict[int, list[int]] | None) -> None:
        mono = time.monotonic()
        if self.state == "crashed":
            if self.next_start is not None and mono >= self.next_start:
                self.restarts += 1
                self.start()
            return
        if self.proc is None:
            return
        code = self.proc.poll()
        if code is not None:
            self.drain()
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            self.kill_group(0.5)
            self.crashed(f"its process exited ({how})")
            return
        if members is not None and self.spec.get("watch"):
            alone = len(members.get(self.pgid, [])) <= 1
            if not alone:
                self.child_gone_at = None
            elif self.child_gone_at is None:
                self.child_gone_at = mono
            elif mono - self.child_gone_at >= CHILD_GONE_GRACE:
                self.drain()
                self.kill_group(0.5)
                self.crashed("the service's own process exited and only Node's watcher was left")
                return
        if mono >= self.next_health:
            self.check_health()

    def check_health(self) -> None:
        code, seen = health(self.spec["port"])
        self.last_health = {"code": code, "seen": seen, "at": time.time()}
        before = self.state
        if code == 200:
            self.fails = 0
            if self.state != "healthy":
                self.healthy_since = time.time()
                self.state = "healthy"
        else:
            self.fails += 1
            if self.state == "healthy":
                if self.fails >= FAILS_UNHEALTHY:  # one miss may be a hot reload
                    self.state = "unhealthy"
                    self.healthy_since = None
            elif code is not None:  # it answers, but not 200 (e.g. 503: its database is down)
                self.state = "unhealthy"
        if self.state == "healthy" and self.healthy_since and self.streak and \
                time.time() - self.healthy_since >= self.sup.settings["stable_after"]:
            self.streak = 0
        interval = HEALTH_RUNNING if self.state == "healthy" else HEALTH_STARTING
        self.next_health = time.monotonic() + interval
        if self.state != before:
            self.sup.dirty = True
        self.sup.health_changed = True

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name, "state": self.state, "pid": self.pgid, "pgid": self.pgid,
            "started_at": self.started_at, "first_started": self.first_started,
            "restarts": self.restarts, "streak": self.streak, "backoff": self.backoff,
            "next_start_in": (round(max(0.0, self.next_start - time.monotonic()), 2)
                              if self.next_start is not None else None),
            "last_exit": self.last_exit, "last_health": self.last_health,
            "token": self.spec.get("token", 0), "port": self.spec["port"],
            "debug_port": self.spec.get("debug_port"), "log": self.spec["log"],
            "argv0": self.spec["argv"][0],
        }


class Supervisor:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.desired_path = folder / "desired.json"
        self.state_path = folder / "state.json"
        self.services: dict[str, Service] = {}
        self.settings: dict[str, float] = {}
        self.reload = True
        self.stopping = False
        self.dirty = True
        self.health_changed = False
        self.desired_mtime = 0.0
        self.last_write = 0.0
        self.last_scan = 0.0

    def kill_orphans(self) -> None:
        """Groups a killed supervisor left running: end them before anything starts again."""
        old = read_json(self.state_path).get("services", {})
        live = groups()
        killed = []
        for name, rec in old.items():
            pgid = rec.get("pgid")
            if pgid and live.get(pgid) and pgid != os.getpgid(0):
                cmd = Path(f"/proc/{pgid}/cmdline")
                try:
                    argv0 = cmd.read_bytes().split(b"\0")[0].decode(errors="replace")
                except OSError:
                    argv0 = ""
                if argv0 and argv0 != rec.get("argv0"):
                    continue  # the group id was reused by something else
                try:
                    os.killpg(pgid, signal.SIGKILL)
                    killed.append(pgid)
                except OSError:
                    pass
                print(f"{now_stamp()} killed the group {pgid} of {name} left by an earlier "
                      f"supervisor", flush=True)
        deadline = time.monotonic() + 5  # gone (ports and inspectors free) before new starts
        while killed and time.monotonic() < deadline:
            live = groups()
            killed = [p for p in killed if live.get(p)]
            time.sleep(0.02)

    def load_desired(self) -> None:
        try:
            mtime = self.desired_path.stat().st_mtime_ns
        except OSError:
            mtime = 0
        if not self.reload and mtime == self.desired_mtime:
            return
        self.reload = False
        self.desired_mtime = mtime
        desired = read_json(self.desired_path)
        self.settings = {"stop_timeout": 5.0, "backoff_base": 0.5, "backoff_max": 30.0,
                         "stable_after": 30.0, **(desired.get("settings") or {})}
        specs = desired.get("services") or {}
        for name in list(self.services):
            if name not in specs:
                self.services.pop(name).stop(self.settings["stop_timeout"])
                self.dirty = True
        for name, spec in specs.items():
            current = self.services.get(name)
            if current is None:
                svc = Service(self, spec)
                self.services[name] = svc
                svc.start()
            elif current.spec != spec:
                restart = (current.spec.get("token") != spec.get("token")
                           or current.state == "stopped" or _differs(current.spec, spec))
                if restart:
                    current.stop(self.settings["stop_timeout"])
                    current.spec = spec
                    current.after_crash = False
                    current.streak = 0
                    current.start()
                else:
                    current.spec = spec

    def write_state(self, force: bool = False) -> None:
        mono = time.monotonic()
        if not (self.dirty or force or (self.health_changed and mono - self.last_write > 1.0)):
            return
        write_json(self.state_path, {
            "supervisor": {"pid": os.getpid(), "written": time.time()},
            "services": {name: svc.record() for name, svc in self.services.items()},
        })
        self.dirty = self.health_changed = False
        self.last_write = mono

    def run(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload", True))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        self.kill_orphans()
        print(f"{now_stamp()} supervisor {os.getpid()} started", flush=True)
        while not self.stopping:
            self.load_desired()
            fds = {fd: svc for svc in self.services.values() for fd in svc.fds}
            try:
                ready = select.select(list(fds), [], [], TICK)[0] if fds else []
                if not fds:
                    time.sleep(TICK)
            except InterruptedError:
                ready = []
            for fd in ready:
                fds[fd].drain([fd])
            mono = time.monotonic()
            members = None
            if mono - self.last_scan >= SCAN_EVERY:
                members = groups()
                self.last_scan = mono
            for svc in list(self.services.values()):
                try:
                    svc.watch(members)
                except Exception:  # noqa: BLE001 - one service's surprise must not end the rest
                    import traceback

                    print(f"{now_stamp()} error watching {svc.name}:\n{traceback.format_exc()}",
                          flush=True)
            self.write_state()
            if not self.services and not (read_json(self.desired_path).get("services")):
                break
        for svc in self.services.values():
            svc.stop(self.settings.get("stop_timeout", 5.0))
        self.services.clear()
        self.write_state(force=True)
        print(f"{now_stamp()} supervisor {os.getpid()} stopped", flush=True)


def _differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("argv", "cwd", "env", "port", "debug_port", "watch")
    return any(old.get(k) != new.get(k) for k in keys)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]).resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(folder / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another supervisor runs for this workspace", file=sys.stderr)
        return 0
    pid_file = folder / "supervisor.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        Supervisor(folder).run()
    finally:
        try:
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
