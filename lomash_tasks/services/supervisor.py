"""The embedded services' supervisor: one small process per workspace that owns the services.

    python -m lomash_tasks.services.supervisor <workspace>/.lomash/services

It reads `desired.json` (which services should run and how: written by `inv services.*`, then
SIGHUP), starts each service in its own process group, timestamps and writes its output to
`<name>.log`, and records what it sees in `state.json`. Measured pitfalls it is built around:

- A service is several processes (package manager, watcher, the service's own process). The
  state comes from the group, the service's own process (the suite's Node preload names it)
  and GET /health, never from one live pid (see `supervised.py`): a crash is seen within
  APP_GONE_GRACE even while the watcher lives on, and the whole group is killed before the
  service starts again, so no orphan keeps the port or the inspector.
- A crashed service is restarted after a delay that doubles per crash (backoff_base ..
  backoff_max), and starts afresh once it was healthy for `stable_after` seconds.
- A stop signals the whole group (SIGTERM, then SIGKILL after stop_timeout).
- Groups recorded by a supervisor that was killed are killed when the next one starts.
- A full disk stops nothing: a log write that fails drops the output (a marker line says what
  was dropped once there is room again: `logfile.py`), a record that cannot be written is
  written again at the next tick, and the services stay watched. Each service's log is rotated
  by size (`service_options.log_max_mb`, `log_keep`). The record is rewritten at least every
  HEARTBEAT seconds, so its age tells readers whether the supervisor still keeps it.

Single-threaded (one select loop), standard library and psutil besides the command layer; it
asks about one pid per service every SCAN_EVERY and never scans the machine while it runs. A
signal wakes the loop at once (its wake-up pipe is in the select): a SIGHUP's new service
starts without waiting out the tick, and SIGUSR1 ("look now") checks every service that is
not healthy yet at once, so `services.up` need not wait for the next scheduled check to see
the record agree with what it saw. The record says `"nudge": true` to tell `inv` this
supervisor takes SIGUSR1 (an older one would be ended by it).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

from lomash_tasks.helpers import owner_lock
from lomash_tasks.processes import command_line, group_members
from lomash_tasks.services.logfile import LogFile
from lomash_tasks.services.shared import (
    HEARTBEAT,
    SCAN_EVERY,
    TICK,
    now_stamp,
    read_json,
    write_json,
)
from lomash_tasks.services.supervised import Hooks, Supervised

OWN_LOG = LogFile(fd=1)  # the supervisor's own lines: its stdout, supervisor.log


def say(text: str) -> None:
    """One line of the supervisor's own log (never raises: the disk may be full)."""
    OWN_LOG.write(f"{now_stamp()} {text}\n".encode(errors="replace"))


class Supervisor:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.desired_path = folder / "desired.json"
        self.state_path = folder / "state.json"
        self.services: dict[str, Supervised] = {}
        self.settings: dict[str, float] = {}
        self.reload = True
        self.stopping = False
        self.nudged = False
        self.dirty = True
        self.health_changed = False
        self.desired_mtime = 0.0
        self.last_write = 0.0
        self.last_scan = 0.0
        self.write_error = ""
        # what each supervised service calls back (it never reaches into the supervisor)
        self.hooks = Hooks(
            settings=lambda: self.settings,
            changed=self.mark_changed,
            health_read=self.mark_health_read,
            publish=lambda: self.write_state(force=True),
        )

    def mark_changed(self) -> None:
        self.dirty = True

    def mark_health_read(self) -> None:
        self.health_changed = True

    def kill_orphans(self) -> None:
        """Groups a killed supervisor left running: end them before anything starts again."""
        old = read_json(self.state_path).get("services", {})
        left: dict[int, str] = {}
        for name, rec in old.items():
            pgid = rec.get("pgid")
            if pgid and pgid != os.getpgid(0) and group_members(pgid):
                argv0 = (command_line(pgid) or [""])[0]
                if argv0 and argv0 != rec.get("argv0"):
                    continue  # the group id was reused by something else
                left[pgid] = name
        if not left:
            return
        from lomash_tasks import commands  # here only: the services' starts load it anyway

        # gone (ports and inspectors free) before new starts
        commands.end_groups(left, signal.SIGKILL, alive=group_members, settle=5.0)
        for pgid, name in left.items():
            say(f"killed the group {pgid} of {name} left by an earlier supervisor")

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
        self.settings = {
            "stop_timeout": 5.0,
            "backoff_base": 0.5,
            "backoff_max": 30.0,
            "stable_after": 30.0,
            "log_max_mb": 10.0,
            "log_keep": 3,
            **(desired.get("settings") or {}),
        }
        specs = desired.get("services") or {}
        for name in list(self.services):
            if name not in specs:
                self.services.pop(name).stop(self.settings["stop_timeout"])
                self.dirty = True
        for name, spec in specs.items():
            current = self.services.get(name)
            if current is None:
                svc = Supervised(spec, self.hooks)
                self.services[name] = svc
                svc.start()
            else:
                current.update(spec, self.settings["stop_timeout"])

    def write_state(self, force: bool = False) -> None:
        """The record `inv services.*` reads; one that cannot be written (a full disk, the
        folder removed) is tried again at the next tick, and said once in the log."""
        mono = time.monotonic()
        if not (
            self.dirty
            or force
            or (self.health_changed and mono - self.last_write > 1.0)
            or mono - self.last_write >= HEARTBEAT
        ):
            return
        try:
            write_json(
                self.state_path,
                {
                    "supervisor": {"pid": os.getpid(), "written": time.time(), "nudge": True},
                    "services": {name: svc.record() for name, svc in self.services.items()},
                },
            )
        except OSError as exc:
            why = exc.strerror or str(exc)
            if why != self.write_error:
                say(f"could not write {self.state_path.name}: {why}; trying again")
            self.write_error = why
            return
        if self.write_error:
            say(f"{self.state_path.name} written again")
            self.write_error = ""
        self.dirty = self.health_changed = False
        self.last_write = mono

    def run(self) -> None:
        wake, woken = os.pipe()  # a signal writes a byte here: the select returns at once
        for fd in (wake, woken):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(woken)
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload", True))
        signal.signal(signal.SIGUSR1, lambda *_: setattr(self, "nudged", True))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        self.kill_orphans()
        say(f"supervisor {os.getpid()} started")
        while not self.stopping:
            try:
                self.load_desired()
            except Exception:
                self.surprise("reading desired.json")
            fds = {fd: svc for svc in self.services.values() for fd in svc.descriptors()}
            try:
                ready = select.select([wake, *fds], [], [], TICK)[0]
            except InterruptedError:
                ready = []
            for fd in ready:
                if fd == wake:
                    _drain_wakeups(wake)
                    continue
                try:
                    fds[fd].drain([fd])
                except Exception:
                    self.surprise(f"reading {fds[fd].name}'s output")
            if self.nudged:
                self.nudged = False
                for svc in self.services.values():
                    svc.check_soon()
            mono = time.monotonic()
            scan = mono - self.last_scan >= SCAN_EVERY
            if scan:
                self.last_scan = mono
            for svc in list(self.services.values()):
                try:
                    svc.watch(scan)
                except Exception:
                    self.surprise(f"watching {svc.name}")
            self.write_state()
            if not self.services and not (read_json(self.desired_path).get("services")):
                break
        for svc in self.services.values():
            svc.stop(self.settings.get("stop_timeout", 5.0))
        self.services.clear()
        self.write_state(force=True)
        say(f"supervisor {os.getpid()} stopped")

    @staticmethod
    def surprise(what: str) -> None:
        import traceback

        say(f"error {what}:\n{traceback.format_exc()}")


def _drain_wakeups(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def main(argv: list[str]) -> int:
    folder = Path(argv[0]).resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with owner_lock(folder / "supervisor.lock", timeout=0):  # held for the supervisor's life
            return _supervise(folder)
    except Exception as exc:
        from lomash_tasks.errors import LockBusy  # (Invoke's import only when it is needed)

        if not isinstance(exc, LockBusy):
            raise
        print("another supervisor runs for this workspace", file=sys.stderr)
        return 0


def _supervise(folder: Path) -> int:
    pid_file = folder / "supervisor.pid"
    try:
        pid_file.write_text(f"{os.getpid()}\n")
    except OSError as exc:  # a full disk: `inv` finds it through the lock all the same
        say(f"could not write {pid_file.name}: {exc.strerror or exc}")
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
