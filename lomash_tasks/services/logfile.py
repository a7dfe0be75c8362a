"""A log the supervisor appends to: rotated by size, and a full disk survived.

A service's output arrives whether or not its disk has room, and the supervisor must go on
watching the services either way. So a write that fails (ENOSPC, a quota, any I/O error) stops
nothing: what could not be written is counted (lines, bytes, since when, why), and once the
filesystem has room again (asked with statvfs first, so no half-written marker is left) one
marker line says what was dropped, then the output goes on. A file that would grow past
`max_bytes` is rotated first (name.log -> name.log.1 -> ... -> name.log.<keep>, the oldest
dropped), so a chatty service never fills the disk by itself.

Standard library only: the supervisor imports it and stays small.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from lomash_tasks.services.shared import now_stamp as stamp

HEADROOM = 64 * 1024  # free bytes wanted beyond a write before writing resumes
RETRY_EVERY = 1.0  # seconds between attempts while output is being dropped


def rotate(path: Path, keep: int = 3) -> None:
    """name.log -> name.log.1 -> ... -> name.log.<keep> (the oldest dropped)."""
    if not path.exists():
        return
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))


def free_bytes(path: str | os.PathLike[str] | int) -> int | None:
    """Bytes this process may still write on the filesystem holding `path` (a path or an open
    descriptor); None when it cannot be asked. Root may use the blocks kept for it."""
    try:
        st = os.fstatvfs(path) if isinstance(path, int) else os.statvfs(path)
    except OSError:
        return None
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def size_text(n: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


class LogFile:
    """Appends to `path` (or to an open descriptor, e.g. the supervisor's own stdout, which is
    never rotated); never raises on a write."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        max_bytes: int = 0,
        keep: int = 3,
        fd: int | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.max_bytes = max(0, int(max_bytes or 0))
        self.keep = max(1, int(keep or 1))
        self.fd = fd
        self.owned = fd is None
        self.size = 0
        self.line_open = False  # the last byte written was not a newline
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self.dropped_since: float | None = None
        self.dropped_last: float | None = None
        self.why = ""
        self.next_try = 0.0

    # -- the file ------------------------------------------------------------------------------
    def _open(self) -> int:
        if self.fd is None:
            assert self.path is not None
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self.size = os.fstat(self.fd).st_size
            try:  # a line cut by a full disk: what comes next starts on a line of its own
                self.line_open = self.size > 0 and os.pread(self.fd, 1, self.size - 1) != b"\n"
            except OSError:
                self.line_open = False
        return self.fd

    def close(self) -> None:
        """Close the file (the next write opens it again: `up` may have rotated it)."""
        if self.fd is not None and self.owned:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def _rotate(self) -> None:
        self.close()
        assert self.path is not None
        rotate(self.path, self.keep)
        self._open()

    # -- writing -------------------------------------------------------------------------------
    @property
    def dropping(self) -> bool:
        return self.dropped_bytes > 0

    def write(self, data: bytes) -> bool:
        """Append `data`; False when it (or its end) was dropped, and counted for the marker."""
        if not data:
            return True
        mono = time.monotonic()
        if self.dropping and (mono < self.next_try or not self._room(len(data))):
            self._count(data)
            return False
        written = 0
        try:
            fd = self._open()
            if (
                self.max_bytes
                and self.path is not None
                and self.size
                and self.size + len(data) > self.max_bytes
            ):
                self._rotate()
                fd = self._open()
            if self.dropping:
                try:
                    self._write_all(fd, self.marker())
                except OSError as exc:
                    exc.written = 0  # type: ignore[attr-defined]  # none of `data` went in
                    raise
                self.dropped_lines = self.dropped_bytes = 0
                self.dropped_since = self.dropped_last = None
            written = self._write_all(fd, data)
            return True
        except OSError as exc:
            written = getattr(exc, "written", written)
            self.why = exc.strerror or str(exc)
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
                self.close()  # a file removed or replaced under us: open it afresh next time
            self._count(data[written:])
            self.next_try = mono + RETRY_EVERY
            return False

    def _write_all(self, fd: int, data: bytes) -> int:
        """Write all of `data`; an error says (as `.written`) how much went in before it."""
        view = memoryview(data)
        done = 0
        while done < len(data):
            try:
                n = os.write(fd, view[done:])
            except OSError as exc:
                exc.written = done  # type: ignore[attr-defined]
                raise
            if n <= 0:
                err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                err.written = done  # type: ignore[attr-defined]
                raise err
            done += n
            self.size += n
            self.line_open = data[done - 1 : done] != b"\n"
        return done

    def _count(self, data: bytes) -> None:
        now = time.time()
        if self.dropped_since is None:
            self.dropped_since = now
        self.dropped_last = now
        self.dropped_bytes += len(data)
        self.dropped_lines += data.count(b"\n") or 1

    def _room(self, n: int) -> bool:
        where: str | os.PathLike[str] | int | None = (
            self.fd
            if self.fd is not None
            else (self.path.parent if self.path is not None else None)
        )
        if where is None:
            return True
        free = free_bytes(where)
        return free is None or free >= n + HEADROOM

    def marker(self) -> bytes:
        since = stamp(self.dropped_since)[11:19] if self.dropped_since else "?"
        until = stamp(self.dropped_last)[11:19] if self.dropped_last else "?"
        lines = self.dropped_lines
        text = (
            f"{stamp()} --- {lines} line{'s' if lines != 1 else ''} "
            f"({size_text(self.dropped_bytes)}) of output dropped from {since} to {until}: "
            f"the log could not be written ({self.why or 'no space left'})\n"
        )
        return (b"\n" if self.line_open else b"") + text.encode()
