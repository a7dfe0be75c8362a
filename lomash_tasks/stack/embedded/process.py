"""Processes the embedded backend starts: pid files, logs, spawning detached, stopping.

Each part keeps its state in `<workspace>/.lomash/<part>/`: `<part>.pid`, `<part>.log`, a
`version` file written at start, and its data. A pid is trusted only while that process is
alive and its command line still names the server (so a reused pid is not mistaken for ours;
both asked through `lomash_tasks.processes`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lomash_tasks import commands
from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.processes import alive, command_line
from lomash_tasks.stack import ports
from lomash_tasks.stack.base import PORT_KEYS, Settings, endpoint
from lomash_tasks.workspace import Workspace

TAIL_LINES = 15


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log was written)"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept) if kept else "(the log is empty)"


def follow(path: Path, follow_: bool, poll: float = 0.25) -> Iterator[str]:
    """The lines of a log file; with `follow_`, keep yielding new lines until interrupted."""
    if not path.exists():
        return
    with open(path, errors="replace") as handle:
        while True:
            line = handle.readline()
            if line:
                yield line.rstrip("\n")
                continue
            if not follow_:
                return
            time.sleep(poll)


class Part:
    """One server of the embedded stack."""

    name = "?"
    marker = "?"  # a word the server's command line always contains

    def __init__(self, ws: Workspace, settings: Settings) -> None:
        self.ws = ws
        self.settings = settings
        self.proc: Any = None  # the Popen of a server this process started

    # -- places ----------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return self.ws.state_dir / self.name

    @property
    def pid_file(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    @property
    def version_file(self) -> Path:
        return self.dir / "version"

    @property
    def endpoint(self):
        return endpoint(self.ws, self.name)

    @property
    def address(self) -> str:
        return self.endpoint.address

    def ports(self) -> list[tuple[int, str]]:
        """The ports this part binds, each with the config variable that moves it."""
        return [(self.endpoint.port, PORT_KEYS[self.name])]

    # -- state -----------------------------------------------------------------------------
    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pid(self) -> int | None:
        """The server's pid when it is alive and still ours."""
        pid = self.recorded_pid()
        if pid and alive(pid) and self.marker in " ".join(command_line(pid)):
            return pid
        return None

    def answering(self, timeout: float = 0.2) -> bool:
        return ports.answers(self.endpoint.host, self.endpoint.port, timeout)

    def running(self) -> bool:
        return self.pid() is not None and self.answering()

    def version(self) -> str:
        try:
            return self.version_file.read_text().strip()
        except OSError:
            return ""

    def data_paths(self) -> list[Path]:
        """What `down --volumes` removes."""
        return [self.dir]

    def check_ports(self) -> None:
        from lomash_tasks.connections import is_local

        host = self.endpoint.host
        if not is_local(host):
            raise UserError(
                f"The embedded {self.name} listens on the loopback only, but "
                f"infra.{self.name}.host is {host}. Set it to 127.0.0.1 (or "
                f"localhost), or use a remote server without the embedded backend."
            )
        for port, key in self.ports():
            ports.ensure_free(self.endpoint.host, port, f"the embedded {self.name}", key)

    # -- work ------------------------------------------------------------------------------
    def check(self) -> None:
        """Fail early (before anything starts) when the server's program is missing."""

    def prepare(self) -> list[str]:
        """Everything before spawning (binaries found, folders made); returns notes."""
        return []

    def spawn(self) -> None:
        """Start the server process without waiting for it."""
        raise NotImplementedError

    def after_ready(self) -> list[str]:
        """Work once the server answers (e.g. init.sql); returns notes."""
        return []

    def _spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        **kwargs: Any,
    ) -> Any:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.log_file, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
        try:
            proc = commands.spawn(argv, log=self.log_file, env=env, cwd=cwd or self.dir, **kwargs)
        except (OSError, commands.CommandError) as exc:
            raise UserError(
                f"Could not start the embedded {self.name} ({argv[0]}): {exc}."
            ) from None
        self.proc = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def died(self) -> str | None:
        """A message when the process we spawned has exited (else None)."""
        pid = self.proc.pid if self.proc is not None else self.recorded_pid()
        if self.proc is not None:
            if self.proc.poll() is None:
                return None
        elif alive(pid):
            return None
        return self.death_message()

    def death_message(self, what: str = "exited during start") -> str:
        code = self.proc.returncode if self.proc is not None else None
        how = f" (exit code {code})" if code is not None else ""
        return (
            f"The embedded {self.name} {what}{how}. Last lines of "
            f"{self.ws.relative(self.log_file)}:\n{tail(self.log_file)}"
        )

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the server if it runs; True when something was stopped."""
        pid = self.pid()
        stopped = False
        if pid:
            stopped = True
            terminate(pid, self.stop_signal, timeout)
        self.pid_file.unlink(missing_ok=True)
        return stopped

    stop_signal = signal.SIGTERM


def terminate(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal `pid` (and its process group) and wait for it to go; kill it after `timeout`."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    gone = lambda: not alive(pid)  # noqa: E731
    if not poll_until(gone, timeout=timeout, interval=0.005, backoff=2, max_interval=0.1):
        for target in (
            lambda: os.killpg(pid, signal.SIGKILL),
            lambda: os.kill(pid, signal.SIGKILL),
        ):
            try:
                target()
            except OSError:
                pass
        poll_until(gone, timeout=5, interval=0.02)
        return
    # children left in its session (e.g. a server's workers) go with it
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        pass
