"""One stream of several services' logs, each line prefixed with its service.

Embedded logs are files whose lines begin with the supervisor's timestamp
(`2026-12-01T15:04:05.123 ...`): lines are merged in time order, `--since` keeps the lines
from that moment on and `--tail` the last lines of each, both found reading from the end of the
file (and of the rotated ones before it): a 50 MB log answers at once. Following polls the files
from where that reading ended (a rotated file is read to its end, then its successor).
"""

from __future__ import annotations

import heapq
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

# rich's names of the colours the prefixes take in turn
COLOURS = (
    "cyan",
    "yellow",
    "magenta",
    "green",
    "blue",
    "bright_red",
    "bright_cyan",
    "bright_yellow",
    "bright_magenta",
)


def stamp_of(line: str) -> float | None:
    head = line[:23]
    try:
        moment = time.strptime(head[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    frac = float("0" + head[19:23]) if head[19:20] == "." else 0.0
    return time.mktime(moment) + frac


BLOCK = 1 << 16
ROTATED_MAX = 20  # name.log.1 ... name.log.20 at most are looked at


def generations(path: Path) -> list[Path]:
    """The log and the rotated ones before it that exist, newest first (name.log, name.log.1,
    ...): the size rotation and each start's rotation keep them."""
    out = [path]
    for n in range(1, ROTATED_MAX + 1):
        older = path.with_name(f"{path.name}.{n}")
        if not older.exists():
            break
        out.append(older)
    return out


def _start_offset(
    path: Path, end: int, want: int | None, since: float | None
) -> tuple[int, int, bool]:
    """Read `path` backwards from byte `end`: (the offset of the first line to print, how many
    lines that makes, whether the start was found within this file). The start is `want` lines
    before the end (None: no limit) or the first line stamped from `since` on."""
    try:
        handle = open(path, "rb")
    except OSError:
        return 0, 0, False

    def older(head: bytes) -> bool:
        when = stamp_of(head.decode(errors="replace"))
        return since is not None and when is not None and when < since

    with handle:
        count, pos, after, later = 0, end, b"", end  # later: the start of the line below
        while pos > 0:
            step = min(BLOCK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step)
            data = block + after
            i = len(block)
            while True:
                j = block.rfind(b"\n", 0, i)
                if j < 0:
                    break
                i = j
                start = pos + j + 1
                if start >= end:
                    continue  # the final newline ends the last line, it starts none
                if older(data[j + 1 : j + 24]):
                    return later, count, True
                count += 1
                later = start
                if want is not None and count >= want:
                    return start, count, True
            after = data[:32]
        if end > 0:  # the file's first line
            if older(after[:23]):
                return later, count, True
            count += 1
            if want is not None and count >= want:
                return 0, count, True
        return 0, count, False


def _ranges(
    path: Path, tail: int | None, since: float | None, end: int | None = None
) -> list[tuple[Path, int, int | None]]:
    """(file, from, to) to read, oldest first: the last `tail` lines (every line for None or 0)
    from `since` on, across the log and its rotated predecessors, found reading from the end
    (a 50 MB log answers at once). `end` bounds the newest file (where following begins)."""
    want = tail or None
    if want is None and since is None:
        files = list(reversed(generations(path)))
        return [(f, 0, end if f == path else None) for f in files if f.exists()]
    out: list[tuple[Path, int, int | None]] = []
    for i, candidate in enumerate(generations(path)):
        try:
            size = candidate.stat().st_size if i or end is None else end
        except OSError:
            continue
        start, count, found = _start_offset(candidate, size, want, since)
        out.insert(0, (candidate, start, size))
        if found:
            break
        if want is not None:
            want -= count
    return out


def _read(ranges: list[tuple[Path, int, int | None]]) -> Iterator[tuple[float, str]]:
    """The lines of those ranges in order, each with its time (a line without a stamp of its
    own takes the one above it)."""
    last = 0.0
    for path, start, stop in ranges:
        try:
            handle = open(path, "rb")
        except OSError:
            continue
        with handle:
            handle.seek(start)
            left = None if stop is None else max(0, stop - start)
            while left is None or left > 0:
                raw = handle.readline() if left is None else handle.readline(left)
                if not raw:
                    break
                if left is not None:
                    left -= len(raw)
                line = raw.decode(errors="replace").rstrip("\n")
                when = stamp_of(line)
                last = when if when is not None else last
                yield last, line


def merged(
    files: Mapping[str, Path],
    since: float | None = None,
    tail: int | None = None,
    ends: Mapping[str, int] | None = None,
) -> Iterator[tuple[str, str]]:
    """The lines of the files as (service, line), in time order: each one's last `tail` lines
    (all for None or 0) from `since` on."""

    def tagged(name: str, path: Path) -> Iterator[tuple[float, str, str]]:
        for when, line in _read(_ranges(path, tail, since, (ends or {}).get(name))):
            yield when, name, line

    streams = [tagged(name, path) for name, path in files.items()]
    for _, name, line in heapq.merge(*streams, key=lambda item: item[0]):
        yield name, line


def follow(
    files: Mapping[str, Path],
    since: float | None = None,
    poll: float = 0.2,
    stop=None,
    tail: int | None = None,
) -> Iterator[tuple[str, str]]:
    """merged() (from each file's last `tail` lines), then every new line as it is written,
    until interrupted (or `stop()`). Nothing written in between is missed or shown twice: each
    file is opened first and followed from the size it had then. A rotated file is read to
    its end, then its successor from the start."""
    handles: dict[str, tuple[Any, int]] = {}
    ends: dict[str, int] = {}
    for name, path in files.items():
        try:
            handle = open(path, "rb")
            info = os.fstat(handle.fileno())
            handles[name] = (handle, info.st_ino)
            ends[name] = info.st_size
            handle.seek(info.st_size)
        except OSError:
            handles[name] = (None, 0)
    yield from merged(files, since, tail, ends)
    partial: dict[str, bytes] = {name: b"" for name in files}

    def lines_of(name: str, handle: Any) -> Iterator[tuple[str, str]]:
        while True:
            chunk = handle.readline()
            if not chunk:
                return
            if not chunk.endswith(b"\n"):
                partial[name] += chunk
                continue
            yield name, (partial[name] + chunk).decode(errors="replace").rstrip("\n")
            partial[name] = b""

    try:
        while stop is None or not stop():
            quiet = True
            for name, path in files.items():
                handle, inode = handles[name]
                if handle is not None:
                    for item in lines_of(name, handle):
                        quiet = False
                        yield item
                try:
                    now_inode = os.stat(path).st_ino
                except OSError:
                    now_inode = 0
                if now_inode and now_inode != inode:  # rotated (or created): the new one
                    if handle is not None:
                        for item in lines_of(name, handle):  # what the old one got last
                            yield item
                        handle.close()
                    try:
                        handles[name] = (open(path, "rb"), now_inode)
                    except OSError:
                        handles[name] = (None, 0)
                    quiet = False
            if quiet:
                time.sleep(poll)
    finally:
        for handle, _ in handles.values():
            if handle is not None:
                handle.close()


FRAME = re.compile(r"^(?:\S+ )?\s+at \S")  # a stack frame, after the supervisor's timestamp
FRAMES_KEPT = 3
ERROR = re.compile(r"(?:^|\s)(?:[A-Z]\w*)?Error(?: \[\w+\])?: ")  # Error: / TypeError [X]:


def condensed_tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a service's log, each stack trace cut to its first frames, and
    the last error line kept in view above them when its trace would push it out."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log was written)"
    kept: list[str] = []
    run = 0
    for line in text.splitlines():
        if not line.strip() or not line.split(" ", 1)[-1].strip():
            continue
        if FRAME.match(line):
            run += 1
            if run > FRAMES_KEPT:
                if run == FRAMES_KEPT + 1:
                    kept.append("    ... (more stack frames in the log)")
                continue
        else:
            run = 0
        kept.append(line)
    if not kept:
        return "(the log is empty)"
    shown = kept[-lines:]
    errors = [i for i, line in enumerate(kept) if ERROR.search(line)]
    if errors and errors[-1] < len(kept) - lines:  # the error above its trace stays in view
        shown = [kept[errors[-1]], "    ..."] + kept[-(lines - 2) :]
    return "\n".join(shown)


def prefixer(names: list[str], colour: bool) -> Callable[[str, str], str]:
    """`prefix(name, line)`: the line after its service's name, padded to the longest; in a
    colour of its own per service when `colour` (a terminal without NO_COLOR: Console.color)."""
    width = max((len(n) for n in names), default=0)
    tags = {name: f"{name:<{width}} |" for name in names}
    if colour:
        from rich.color import ColorSystem
        from rich.style import Style

        tags = {
            name: Style(color=COLOURS[i % len(COLOURS)]).render(
                tag, color_system=ColorSystem.STANDARD
            )
            for i, (name, tag) in enumerate(tags.items())
        }

    def prefix(name: str, line: str) -> str:
        return f"{tags.get(name) or f'{name:<{width}} |'} {line}"

    return prefix
