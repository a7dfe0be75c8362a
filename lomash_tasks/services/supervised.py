"""One supervised service: its process group, its output, its health, its crashes.

A service is several processes (its package manager, its watcher: `node --watch`, nodemon,
ts-node-dev, tsx watch; the service's own process below them). The suite's Node preload
(`node_preload.cjs`) tells which one is the service's own: its pid arrives in `<name>.events`.
The service has crashed when

- the group's leader exits (the package manager or the watcher itself), or
- its own process is gone and no other followed within APP_GONE_GRACE (RELOAD_GRACE once the
  watcher said it restarts it: nodemon waits its `delay`, ts-node compiles), or at once when
  the watcher says it waits for a file change (WATCHER_WAITS).

Then the whole group is killed before the service starts again, so no orphan keeps the port or
the inspector. A crash restarts after a delay that doubles per crash in a row. Nothing here
scans the machine's processes while a service runs: one pid is asked about, every SCAN_EVERY.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.processes import alive, group_members
from lomash_tasks.services.logfile import LogFile
from lomash_tasks.services.shared import (
    APP_GONE_GRACE,
    CRASHED,
    FAILS_UNHEALTHY,
    HEALTH_RUNNING,
    HEALTH_STARTING,
    HEALTHY,
    RELOAD_GRACE,
    RESTARTING,
    STARTING,
    STOPPED,
    UNHEALTHY,
    WATCHER_RESTARTS,
    WATCHER_WAITS,
    health,
    now_stamp,
    read_events,
)


@dataclass(frozen=True)
class Hooks:
    """What a supervised service asks of whoever supervises it, as callables (the supervisor
    passes its own: this module never imports it)."""

    settings: Callable[[], dict[str, float]]  # the current restart and log settings
    changed: Callable[[], None]  # something the record shows changed: write it soon
    health_read: Callable[[], None]  # a health check ran (written within a second)
    publish: Callable[[], None]  # write the record now (a crash is said at once)


def log_limits(settings: dict[str, float]) -> dict[str, int]:
    """How the services' logs are rotated (service_options.log_max_mb, log_keep)."""
    mb = float(settings.get("log_max_mb") or 0)
    return {"max_bytes": int(mb * (1 << 20)), "keep": int(settings.get("log_keep") or 3)}


class Supervised:
    """One supervised service: its launch, its process group, its state."""

    def __init__(self, spec: dict[str, Any], hooks: Hooks) -> None:
        self.hooks = hooks
        self.spec = spec
        self.name = spec["name"]
        self.proc: Any = None
        self.pgid: int | None = None
        self.fds: dict[int, bytes] = {}
        self.streams: dict[int, Any] = {}
        self.log = LogFile(spec["log"], **log_limits(hooks.settings()))
        self.state = STOPPED
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
        self.after_crash = False
        # the service's own process, as the preload reported it
        self.events_offset = 0
        self.app: dict[str, Any] = {}
        self.app_gone_at: float | None = None
        self.watcher_waits = ""  # the watcher's line saying it waits for a file change
        self.restarting_at: float | None = None  # when the watcher said it restarts it
        self.inspector: dict[str, Any] = {}

    # -- process ---------------------------------------------------------------------------
    def write_log(self, text: str) -> None:
        """Never raises: a full disk drops the output (counted, and said once there is room)."""
        self.log.write(text.encode(errors="replace"))

    def note(self, text: str) -> None:
        self.write_log(f"{now_stamp()} --- {text}\n")

    def start(self) -> None:
        from lomash_tasks import commands

        # `up` may have rotated the file (write to the new one), or changed the limits
        self.log.close()
        self.log.path = Path(self.spec["log"])
        limits = log_limits(self.hooks.settings())
        self.log.max_bytes, self.log.keep = limits["max_bytes"], limits["keep"]
        what = "restarting after a crash" if self.after_crash else "starting"
        self.note(f"{what}: {' '.join(self.spec['argv'])} (in {self.spec['cwd']})")
        self.reset_app()
        try:
            proc = commands.spawn(
                self.spec["argv"],
                env=self.spec["env"],
                cwd=self.spec["cwd"],
                replace_env=True,
                pipe=True,
            )
        except Exception as exc:
            self.note(f"could not start: {exc}")
            self.crashed(f"could not start: {exc}")
            return
        self.proc, self.pgid = proc, proc.pid
        self.fds, self.streams = {}, {}
        for stream in (proc.stdout, proc.stderr):
            if stream is None:  # spawned with pipes: never
                continue
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self.fds[fd] = b""
            self.streams[fd] = stream
        self.started_at = time.time()
        self.first_started = self.first_started or self.started_at
        self.state = RESTARTING if self.after_crash else STARTING
        self.healthy_since = None
        self.fails = 0
        self.next_health = time.monotonic() + 0.05
        self.next_start = None
        self.hooks.changed()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def descriptors(self) -> list[int]:
        """The pipes of its output still open (to wait on, then `drain`)."""
        return list(self.fds)

    def update(self, spec: dict[str, Any], stop_timeout: float) -> None:
        """A launch from desired.json: started again when what it runs changed, it was stopped
        or a restart was asked (a new token); otherwise only taken (e.g. a new log path)."""
        if spec == self.spec:
            return
        restart = (
            self.spec.get("token") != spec.get("token")
            or self.state == STOPPED
            or _differs(self.spec, spec)
        )
        if restart:
            self.stop(stop_timeout)
            self.spec = spec
            self.after_crash = False
            self.streak = 0
            self.start()
        else:
            self.spec = spec

    def reset_app(self) -> None:
        """Forget the last run's own process; its events file starts empty."""
        path = self.spec.get("events")
        if path:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(fd)
            except OSError as exc:  # the preload then has nowhere to say it; the group decides
                self.note(f"could not empty {path}: {exc.strerror or exc}")
        self.events_offset = 0
        self.app = {}
        self.app_gone_at = None
        self.watcher_waits = ""
        self.restarting_at = None
        self.inspector = {}

    def kill_group(self, timeout: float) -> None:
        """SIGTERM the whole group, SIGKILL what is left after `timeout`; reap the leader."""
        if self.pgid is None:
            return
        from lomash_tasks import commands  # loaded already: it spawned the group

        def still_there(pgid: int) -> bool:
            self.drain()  # the group's output is read while it stops (a full pipe would block it)
            if self.proc is not None:
                self.proc.poll()
            return bool(group_members(pgid))

        # settle: a watcher that saw its child die may have started another before it went
        # itself (nodemon with "signal": "SIGTERM" does): that one is in the group too
        commands.end_groups([self.pgid], signal.SIGTERM, timeout, alive=still_there, settle=5.0)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except Exception:
                pass
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
            for line in lines:
                if any(said in line for said in WATCHER_WAITS):
                    self.watcher_waits = _plain(line)
                elif WATCHER_RESTARTS in line.lower():
                    self.restarting_at = time.monotonic()
            if lines:
                self.write_log(
                    "".join(f"{stamp} {line.decode(errors='replace')}\n" for line in lines)
                )
            if len(rest) > 16384:
                self.write_log(f"{stamp} {rest.decode(errors='replace')}\n")
                rest = b""
            self.fds[fd] = rest

    def stop(self, timeout: float) -> None:
        if self.pgid is not None:
            self.note("stopping (SIGTERM to the process group)")
            self.kill_group(timeout)
            self.note("stopped")
        self.log.close()
        self.state = STOPPED
        self.next_start = None
        self.hooks.changed()

    def fail(self, why: str) -> None:
        """A crash: said in the state file at once, then the whole group ended (which may take
        up to a second) before the restart after the backoff."""
        self.drain()
        self.crashed(why)
        self.hooks.publish()
        self.kill_group(0.5)
        self.hooks.changed()

    def crashed(self, why: str) -> None:
        settings = self.hooks.settings()
        if self.healthy_since and time.time() - self.healthy_since >= settings["stable_after"]:
            self.streak = 0
        self.streak += 1
        self.backoff = min(
            settings["backoff_max"], settings["backoff_base"] * 2 ** (self.streak - 1)
        )
        self.last_exit = why
        self.state = CRASHED
        self.healthy_since = None
        self.next_start = time.monotonic() + self.backoff
        self.after_crash = True
        self.note(
            f"crashed: {why}; restarting in {self.backoff:g}s (crash #{self.streak} in a "
            f"row, backoff doubles up to {settings['backoff_max']:g}s)"
        )
        self.hooks.changed()

    # -- watching --------------------------------------------------------------------------
    def watch(self, scan: bool) -> None:
        mono = time.monotonic()
        if self.state == CRASHED:
            if self.next_start is not None and mono >= self.next_start:
                self.restarts += 1
                self.start()
            return
        if self.proc is None:
            return
        code = self.proc.poll()
        if code is not None:
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            self.fail(f"its process exited ({how})")
            return
        self.read_events()
        if scan or self.watcher_waits:
            why = self.app_down(mono)
            if why:
                self.fail(why)
                return
        if mono >= self.next_health:
            self.check_health()

    def check_soon(self) -> None:
        """Check /health at the next look, not at its scheduled time (a running service that
        is not healthy yet: `services.up` saw it answer and waits for the record to agree)."""
        if self.proc is not None and self.state != HEALTHY:
            self.next_health = 0.0

    def read_events(self) -> None:
        """What the preload said since the last look: the service's own process started (a
        reload: a new one), its exit code, where its inspector listens."""
        path = self.spec.get("events")
        if not path:
            return
        events, self.events_offset = read_events(path, self.events_offset)
        for item in events:
            kind, pid = item.get("event"), item.get("pid")
            if kind == "start":
                self.app = {"pid": pid, "main": item.get("main", ""), "at": item.get("at")}
                self.app_gone_at = None
                self.watcher_waits = ""
                self.restarting_at = None
                self.inspector = {}
            elif kind == "exit" and pid == self.app.get("pid"):
                self.app["code"] = item.get("code")
            elif kind == "inspector" and pid == self.app.get("pid"):
                self.inspector = {k: item[k] for k in ("url", "error", "own") if k in item}
                self.inspector["pid"] = pid
            self.hooks.changed()

    def app_down(self, mono: float) -> str:
        """Why the service is down while its watcher lives on, or ''."""
        pid = self.app.get("pid")
        if pid:
            if alive(pid):
                self.app_gone_at = None
                return ""
            if self.app_gone_at is None:
                self.app_gone_at = mono
            since, grace = self.app_gone_at, APP_GONE_GRACE
            if self.restarting_at is not None:  # a reload: the next one may take a while
                since, grace = self.restarting_at, RELOAD_GRACE
            if not self.watcher_waits and mono - since < grace:
                return ""
            code = self.app.get("code")
            how = f" with exit code {code}" if code is not None else ""
            if self.watcher_waits:
                waits = f"; its watcher said: {self.watcher_waits}"
            elif self.restarting_at is not None:
                waits = f"; its watcher said it restarts it, but none followed within {grace:g}s"
            else:
                waits = (
                    f" and none followed within {grace:g}s (its watcher waits for a file change)"
                )
            return f"the service's own process (pid {pid}) exited{how}{waits}"
        if self.watcher_waits:
            return f"its watcher said: {self.watcher_waits}"
        return ""

    def check_health(self) -> None:
        code, seen = health(self.spec["port"])
        self.last_health = {"code": code, "seen": seen, "at": time.time()}
        before = self.state
        if code == 200:
            self.fails = 0
            if self.state != HEALTHY:
                self.healthy_since = time.time()
                self.state = HEALTHY
        else:
            self.fails += 1
            if self.state == HEALTHY:
                if self.fails >= FAILS_UNHEALTHY:  # one miss may be a hot reload
                    self.state = UNHEALTHY
                    self.healthy_since = None
            elif code is not None:  # it answers, but not 200 (e.g. 503: its database is down)
                self.state = UNHEALTHY
        if (
            self.state == HEALTHY
            and self.healthy_since
            and self.streak
            and time.time() - self.healthy_since >= self.hooks.settings()["stable_after"]
        ):
            self.streak = 0
        interval = HEALTH_RUNNING if self.state == HEALTHY else HEALTH_STARTING
        self.next_health = time.monotonic() + interval
        if self.state != before:
            self.hooks.changed()
        self.hooks.health_read()

    def record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pgid,
            "pgid": self.pgid,
            "started_at": self.started_at,
            "first_started": self.first_started,
            "restarts": self.restarts,
            "streak": self.streak,
            "backoff": self.backoff,
            "next_start_in": (
                round(max(0.0, self.next_start - time.monotonic()), 2)
                if self.next_start is not None
                else None
            ),
            "last_exit": self.last_exit,
            "last_health": self.last_health,
            "token": self.spec.get("token", 0),
            "port": self.spec["port"],
            "debug_port": self.spec.get("debug_port"),
            "log": self.spec["log"],
            "argv0": self.spec["argv"][0],
            "command": self.spec.get("command", ""),
            "app": self.app if self.proc is not None else {},
            "inspector": self.inspector if self.proc is not None else {},
        }


def _differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("argv", "cwd", "env", "port", "debug_port", "events")
    return any(old.get(k) != new.get(k) for k in keys)


def _plain(line: bytes) -> str:
    """A watcher's output line without its colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", line.decode(errors="replace")).strip()
