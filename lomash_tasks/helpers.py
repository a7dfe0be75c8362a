"""Small helpers the whole package shares, each written once. Standard library only at import
(the services supervisor imports it and stays small: `lomash_tasks.errors`, which imports
Invoke, is imported only when an error is raised):

    write_atomic(path, data, mode=0o600)   -> a file replaced in one step, fsync'd, folder too
    owner_lock(path, timeout=..., on_wait=...) -> an exclusive lock file (0600) naming its holder
    lock_holder(path)                      -> who holds a lock now (None when it is free)
    poll_until(predicate, timeout=..., what=...) -> the first truthy value, or the last one seen
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


# -- atomic write ------------------------------------------------------------------------------
def write_atomic(
    path: str | Path,
    data: str | bytes,
    mode: int = 0o600,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace `path` with `data` in one step that survives a crash: a temporary file in the
    same folder (created with `mode`), written, flushed and fsync'd, renamed over `path`, then
    the folder fsync'd so the rename itself is on disk. No temporary file is left behind when
    any step fails (the error is the caller's to word). Text is written as UTF-8, as is.
    `before_replace`: a last check, run once the data is on disk (it may raise: nothing then
    changes)."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder (its entries: a rename into it is then durable); quiet where the system
    cannot (some filesystems refuse fsync on a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- owner-only lock that names its holder -----------------------------------------------------
@dataclass(frozen=True)
class Holder:
    """Who holds a lock: the pid and command line it wrote into the lock file."""

    pid: int | None
    command: str = ""

    def __str__(self) -> str:
        if self.pid is None:
            return "unknown process"
        return f"pid {self.pid}" + (f": {self.command}" if self.command else "")


def _command_line() -> str:
    """This process's command, from its own argv (no /proc: the same on macOS)."""
    text = " ".join([sys.executable, *sys.argv])
    text = " ".join(text.split())  # one line, whatever the arguments held
    return text if len(text) <= 200 else text[:199] + "…"


def read_holder(path: str | Path) -> Holder | None:
    """The holder a lock file names (first line: pid, second: command), None when it names
    none. It says who took the lock last: see `lock_holder` for whether it still holds it."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    first, _, rest = text.partition("\n")
    first = first.strip()
    if not first.isdigit():
        return None
    return Holder(int(first), rest.strip())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(path: str | Path) -> Holder | None:
    """Who holds the lock at `path` now: None when nobody does; a Holder with `pid=None` when
    it is held but the file does not (yet) name a live process."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(path)
            if holder is None or holder.pid is None or not _alive(holder.pid):
                return Holder(None)
            return holder
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def owner_lock(
    path: str | Path,
    *,
    timeout: float | None = None,
    interval: float = 0.2,
    on_wait: Callable[[Holder | None], None] | None = None,
    busy: Callable[[Holder | None], str] | None = None,
) -> Iterator[Holder]:
    """Hold an exclusive lock on `path` (created owner-only, 0600, its folder 0700) and write
    this process's pid and command line into it, so whoever waits can say who holds it.

    `timeout`: None waits as long as it takes; 0 tries once; otherwise seconds. `on_wait` is
    called once, with the holder, when the lock is taken and this call has to wait. Past the
    timeout `errors.LockBusy` (a UserError) is raised, its message `busy(holder)` when given.
    Yields this holder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(path)
            if on_wait is not None:
                on_wait(holder)
            if timeout is None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            elif not poll_until(lambda: _try_lock(fd), timeout=timeout, interval=interval):
                from lomash_tasks.errors import LockBusy

                holder = read_holder(path) or holder
                raise LockBusy(path, holder, busy(holder) if busy else None) from None
        me = Holder(os.getpid(), _command_line())
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{me.pid}\n{me.command}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same, unnamed
            pass
        yield me
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# -- polling -----------------------------------------------------------------------------------
def poll_until(
    predicate: Callable[[], T],
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    interval: float = 0.05,
    what: str | None = None,
    backoff: float = 1.0,
    max_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy, and return
    that. It is called at least once, and once more at the deadline (`timeout` seconds from
    now, or `deadline` on `time.monotonic()`'s clock; neither: no deadline). `backoff` > 1
    grows the interval by that factor after each call, up to `max_interval`.

    Out of time: with `what`, `errors.PollTimeout` (a UserError) is raised naming it and the
    last value seen; without, the last (falsy) value is returned, for the caller's own message."""
    started = time.monotonic()
    if deadline is None and timeout is not None:
        deadline = started + timeout
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        sleep(interval if deadline is None else max(0.0, min(interval, deadline - now)))
        if backoff != 1.0:
            interval = max(interval, min(interval * backoff, max_interval))
    if what is not None:
        from lomash_tasks.errors import PollTimeout

        limit = timeout if timeout is not None else (deadline or started) - started
        raise PollTimeout(what, max(0.0, limit), value)
    return value
