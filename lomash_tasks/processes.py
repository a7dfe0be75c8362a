"""The one place the suite asks the operating system about processes and sockets, through
psutil: the same answers on Linux and macOS (and the BSDs psutil serves). Nothing in the suite
reads `/proc` itself (a test fails any module of the suite that tries).

    alive(pid)                    a live process, not a zombie (an exited child of ours is reaped)
    command_line(pid)             its argv ([] when it is gone or not ours to read)
    name(pid), user(pid)          its program's name, the user it runs as
    describe(pid)                 "node src/index.js" for messages (shortened)
    cwd(pid)                      its working folder, or None
    in_folder(path)               live processes whose working folder is `path` or below it
    environ(pid)                  its environment ({} when it is gone or not ours to read)
    snapshot()                    every live process this user may see: pid, parent, group,
                                  program, argv, working folder (one pass, for finding servers
                                  by what they are when no pid file says)
    group_members(pgid)           live members of one process group
    group_exists(pgid)            whether the group has any process (a zombie too), by signal 0
    groups(pgids)                 {pgid: live members} for several groups, one pass
    descendants(pid)              every live process below `pid`
    listeners(port, host=None)    pids listening on TCP `port` (on `host`, else any address)
    listening_addresses(port)     the local addresses listening on TCP `port`
    listening_ports(pids)         {pid: TCP ports it listens on}, for processes of ours
    established(port)             TCP connections established to the local `port`
    memory(pids)                  (RSS, PSS) in MB of those processes (USS where no PSS)
    one_scan()                    a block whose socket questions share one list of the machine's
                                  sockets (one psutil pass, not one per question)

Sockets: psutil lists every socket of the machine on Linux; on macOS only root may, so the
answers there come from the processes of this user (the services and servers the suite starts
are that user's). Imported lazily: `inv --list` never pays for psutil.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def _ps() -> Any:
    import psutil

    return psutil


def _process(pid: int) -> Any:
    """psutil's Process, or None when there is none with that pid."""
    ps = _ps()
    try:
        return ps.Process(pid)
    except (ps.NoSuchProcess, ValueError):
        return None


def alive(pid: int | None) -> bool:
    """True while `pid` is a live (not zombie) process; reaps it when it is our dead child."""
    if not pid or pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's: alive
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return False
    try:
        return proc.status() != ps.STATUS_ZOMBIE
    except ps.NoSuchProcess:
        return False
    except ps.AccessDenied:
        return True


def command_line(pid: int) -> list[str]:
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return []
    try:
        return list(proc.cmdline())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return []


def name(pid: int) -> str:
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return ""
    try:
        return proc.name()
    except (ps.NoSuchProcess, ps.AccessDenied, OSError):
        return ""


def user(pid: int) -> str:
    """The name of the user the process runs as ('' when it is gone)."""
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return ""
    try:
        return proc.username()
    except (ps.NoSuchProcess, ps.AccessDenied, KeyError, OSError):
        return ""


def describe(pid: int, width: int = 120) -> str:
    """The process's command line (or name) in one short line, for messages."""
    words = " ".join(command_line(pid)) or name(pid) or "?"
    return words if len(words) <= width else words[: width - 3] + "..."


def cwd(pid: int) -> str | None:
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return None
    try:
        return proc.cwd() or None
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return None


def in_folder(path: str | os.PathLike[str]) -> list[int]:
    """Live processes whose working folder is `path` or inside it (those this user may see)."""
    ps = _ps()
    root = os.path.realpath(path)
    found = []
    for proc in ps.process_iter():
        try:
            where = proc.cwd()
            if (
                where
                and (where == root or where.startswith(root + os.sep))
                and proc.status() != ps.STATUS_ZOMBIE
            ):
                found.append(proc.pid)
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
            continue
    return found


def environ(pid: int) -> dict[str, str]:
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return {}
    try:
        return dict(proc.environ())
    except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
        return {}


DELETED = " (deleted)"  # how Linux names a working folder that was removed


@dataclass(frozen=True)
class Seen:
    """One live process as `snapshot()` saw it."""

    pid: int
    ppid: int
    pgid: int | None
    name: str
    argv: tuple[str, ...]
    cwd: str  # '' when it cannot be read; a removed folder without Linux's " (deleted)"
    user: str

    def describe(self, width: int = 120) -> str:
        words = " ".join(a for a in self.argv if a) or self.name or "?"
        return words if len(words) <= width else words[: width - 3] + "..."


def snapshot() -> list[Seen]:
    """Every live (not zombie) process this user may see, in one pass over the machine."""
    ps = _ps()
    out = []
    for proc in ps.process_iter(["pid", "ppid", "name", "cmdline", "cwd", "status", "username"]):
        info = proc.info
        if info.get("status") == ps.STATUS_ZOMBIE:
            continue
        where = info.get("cwd") or ""
        if where.endswith(DELETED):
            where = where[: -len(DELETED)]
        try:
            pgid: int | None = os.getpgid(info["pid"])
        except OSError:
            pgid = None
        out.append(
            Seen(
                info["pid"],
                info.get("ppid") or 0,
                pgid,
                info.get("name") or "",
                tuple(info.get("cmdline") or ()),
                where,
                info.get("username") or "",
            )
        )
    return out


def group_exists(pgid: int) -> bool:
    """Whether process group `pgid` has any process, a zombie too (a signal 0 answers for the
    whole group: nothing is sent, no process is looked at)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def groups(pgids: Iterable[int] | None = None) -> dict[int, list[int]]:
    """{pgid: live members}: of the given groups (a group without members is left out), or of
    every group on the machine when `pgids` is None."""
    ps = _ps()
    wanted = None
    if pgids is not None:
        # a signal 0 answers for a whole group without looking at any process
        wanted = {g for g in pgids if g and g > 0 and group_exists(g)}
        if not wanted:
            return {}
    out: dict[int, list[int]] = {}
    for pid in ps.pids():
        try:
            pgid = os.getpgid(pid)
        except OSError:
            continue
        if wanted is not None and pgid not in wanted:
            continue
        try:
            if ps.Process(pid).status() == ps.STATUS_ZOMBIE:
                continue
        except ps.NoSuchProcess:
            continue
        except ps.AccessDenied:
            pass
        out.setdefault(pgid, []).append(pid)
    return out


def group_members(pgid: int | None) -> list[int]:
    """The live (not zombie) processes of one process group."""
    if not pgid:
        return []
    return groups([pgid]).get(pgid, [])


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    ps = _ps()
    proc = _process(pid)
    if proc is None:
        return []
    out = []
    try:
        for child in proc.children(recursive=True):
            try:
                if child.status() != ps.STATUS_ZOMBIE:
                    out.append(child.pid)
            except (ps.NoSuchProcess, ps.AccessDenied):
                continue
    except ps.NoSuchProcess:
        return []
    return out


# -- sockets -------------------------------------------------------------------------------------
_scan = threading.local()  # .sockets: the machine's sockets listed once, inside one_scan()


@contextmanager
def one_scan() -> Iterator[None]:
    """Inside, every question about the machine's sockets (listeners, established, ...) reads
    one list made at the first question: listing them is the costly part (~0.1 s per pass with
    a few thousand sockets), so a status of nine services with two questions each makes one
    pass instead of eighteen. For questions asked together, not for waiting on a change."""
    outer = getattr(_scan, "sockets", False) is not False
    if not outer:
        _scan.sockets = None
    try:
        yield
    finally:
        if not outer:
            del _scan.sockets


def _connections(pids: Iterable[int] | None = None) -> Iterator[tuple[int | None, Any]]:
    """(pid, connection) of TCP sockets: of the given processes, else of the machine (of this
    user's processes where the machine's are for root only, as on macOS)."""
    if pids is None and getattr(_scan, "sockets", False) is not False:
        if _scan.sockets is None:
            _scan.sockets = list(_machine_connections())
        yield from _scan.sockets
        return
    if pids is None:
        yield from _machine_connections()
        return
    yield from _process_connections(pids)


def _machine_connections() -> Iterator[tuple[int | None, Any]]:
    ps = _ps()
    try:
        conns = ps.net_connections(kind="tcp")
    except ps.AccessDenied:
        yield from _process_connections(ps.pids())
        return
    for conn in conns:
        yield conn.pid, conn


def _process_connections(pids: Iterable[int]) -> Iterator[tuple[int | None, Any]]:
    ps = _ps()
    for pid in pids:
        proc = _process(pid)
        if proc is None:
            continue
        try:
            conns = proc.net_connections(kind="tcp")
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
            continue
        for conn in conns:
            yield pid, conn


WILDCARDS = ("0.0.0.0", "::", "")


def listeners(port: int, host: str | None = None) -> list[int | None]:
    """Who listens on TCP `port` (on `host` or a wildcard address; on any address without
    `host`): their pids, None for a socket whose process this user may not see. Empty when
    nothing listens."""
    ps = _ps()
    hosts = ("127.0.0.1", "::1") if host == "localhost" else (host,)
    found: list[int | None] = []
    for pid, conn in _connections():
        if conn.status != ps.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if host is not None and conn.laddr.ip not in (*hosts, *WILDCARDS):
            continue
        if pid not in found:
            found.append(pid)
    return found


def listening_addresses(port: int) -> list[str]:
    """The local addresses something listens on at TCP `port` ("127.0.0.1", "::1", "0.0.0.0")."""
    ps = _ps()
    return sorted(
        {
            conn.laddr.ip
            for _, conn in _connections()
            if conn.status == ps.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        }
    )


def listening_ports(pids: Iterable[int]) -> dict[int, set[int]]:
    """{pid: the TCP ports it listens on} for the given processes (those this user may see)."""
    ps = _ps()
    out: dict[int, set[int]] = {}
    for pid, conn in _connections(list(pids)):
        if conn.status == ps.CONN_LISTEN and conn.laddr and pid is not None:
            out.setdefault(pid, set()).add(conn.laddr.port)
    return out


def established(port: int, pids: Iterable[int] | None = None) -> int:
    """TCP connections established to the local `port` (of those processes, else all)."""
    ps = _ps()
    return sum(
        1
        for _, conn in _connections(None if pids is None else list(pids))
        if conn.status == ps.CONN_ESTABLISHED and conn.laddr and conn.laddr.port == port
    )


def memory(pids: Iterable[int]) -> tuple[float, float]:
    """(RSS, PSS) in MB of the processes; USS stands in for PSS where there is none (macOS)."""
    ps = _ps()
    rss = pss = 0
    for pid in pids:
        proc = _process(pid)
        if proc is None:
            continue
        try:
            info = proc.memory_full_info()
        except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess, OSError):
            continue
        rss += info.rss
        pss += getattr(info, "pss", getattr(info, "uss", 0))
    return rss / 2**20, pss / 2**20
