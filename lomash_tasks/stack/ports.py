"""Ports: is one free, does one answer, and which process holds it.

A port already taken is found before a server is started and reported with the process
holding it (psutil: `lomash_tasks.processes`; `ss -ltnp` or `lsof` when it may not see the
holder, e.g. another user's process) and the config key to change, e.g.
INVOKE_INFRA_POSTGRES_PORT.
"""

from __future__ import annotations

import re
import shutil
import socket
from dataclasses import dataclass

from lomash_tasks import commands
from lomash_tasks.errors import UserError


@dataclass(frozen=True)
class Holder:
    """The process listening on a port (as much of it as could be found)."""

    pid: int | None
    name: str = ""
    cmdline: str = ""

    def describe(self) -> str:
        if self.pid is None:
            return self.name or "an unknown process"
        words = self.cmdline or self.name or "?"
        if len(words) > 120:
            words = words[:117] + "..."
        return f"pid {self.pid} ({words})"


def answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_free(host: str, port: int) -> bool:
    """True when a server could bind host:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def holder(port: int) -> Holder | None:
    """The process listening on TCP `port` (any address), or None when nothing is found."""
    from lomash_tasks import processes

    pids = processes.listeners(port)
    known = [p for p in pids if p is not None]
    if known:
        return process_info(known[0])
    found = _from_ss(port) or _from_lsof(port)
    if found:
        return found
    if pids:
        return Holder(None, "a process this user cannot inspect")
    return None


def ensure_free(host: str, port: int, what: str, config_key: str) -> None:
    """Raise a UserError naming the holder and the key to change when host:port is taken."""
    if is_free(host, port):
        return
    held = holder(port)
    who = held.describe() if held else "another process"
    raise UserError(
        f"Port {port} on {host} is already in use by {who}, so {what} cannot start there. "
        f"Stop that process, or pick another port with {config_key}=<port> "
        f"(or the matching key in invoke.yaml)."
    )


def process_info(pid: int) -> Holder:
    from lomash_tasks import processes

    return Holder(pid, processes.name(pid), " ".join(processes.command_line(pid)))


def unreachable(host: str, port: int, timeout: float = 3.0) -> str | None:
    """Why nothing accepts a TCP connection at host:port within `timeout` (None: it does)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        if isinstance(exc, socket.timeout):
            return f"no answer within {timeout:.0f} s"
        return exc.strerror or type(exc).__name__


# -- tools ----------------------------------------------------------------------------------
def _from_ss(port: int) -> Holder | None:
    if not shutil.which("ss"):
        return None
    try:
        out = commands.run(["ss", "-Hltnp", f"sport = :{port}"], timeout=2, check=False).stdout
    except commands.CommandError:
        return None
    match = re.search(r'users:\(\("(?P<name>[^"]+)",pid=(?P<pid>\d+)', out)
    if not match:
        return None
    info = process_info(int(match.group("pid")))
    return Holder(info.pid, info.name or match.group("name"), info.cmdline)


def _from_lsof(port: int) -> Holder | None:
    if not shutil.which("lsof"):
        return None
    try:
        out = commands.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], timeout=3, check=False
        ).stdout
    except commands.CommandError:
        return None
    pid = name = None
    for line in out.splitlines():
        if line.startswith("p") and pid is None:
            pid = int(line[1:])
        elif line.startswith("c") and name is None:
            name = line[1:]
    if pid is None:
        return None
    info = process_info(pid)
    return Holder(pid, info.name or name or "", info.cmdline)
