"""One stream of several services' logs, each line prefixed with its service.

Embedded logs are files whose lines begin with the supervisor's timestamp
(`2026-12-01T15:04:05.123 ...`): lines are merged in time order and `--since` keeps the lines
from that moment on. Following polls the files (a rotated file is reopened from its start).
"""

from __future__ import annotations

import heapq
import os
import re
import time
from pathlib import Path
from typing import Iterator, Mapping

COLOURS = ("36", "33", "35", "32", "34", "91", "96", "93", "95")


def stamp_of(line: str) -> float | None:
    head = line[:23]
    try:
        moment = time.strptime(head[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    frac = float("0" + head[19:23]) if head[19:20] == "." else 0.0
    return time.mktime(moment) + frac


def _lines(path: Path, since: float | None) -> Iterator[tuple[float, str]]:
    try:
        handle = open(path, "r", errors="replace")
    except OSError:
        return
    last = 0.0
    with handle:
        for raw in handle:
            line = raw.rstrip("\n")
            when = stamp_of(line)
            last = when if when is not None else last
            if since is None or last >= since:
                yield last, line


def merged(files: Mapping[str, Path], since: float | None = None) -> Iterator[tuple[str, str]]:
    """Every line of the files as (service, line), in time order."""
    def tagged(name: str, path: Path) -> Iterator[tuple[float, str, str]]:
        for when, line in _lines(path, since):
            yield when, name, line

    streams = [tagged(name, path) for name, path in files.items()]
    for _, name, line in heapq.merge(*streams, key=lambda item: item[0]):
        yield name, line


def follow(files: Mapping[str, Path], since: float | None = None, poll: float = 0.2,
           stop=None) -> Iterator[tuple[str, str]]:
    """merged(), then every new line as it is written, until interrupted (or `stop()`)."""
    handles: dict[str, tuple[object, int]] = {}
    yield from merged(files, since)
    for name, path in files.items():
        try:
            handle = open(path, "r", errors="replace")
            handle.seek(0, os.SEEK_END)
            handles[name] = (handle, os.fstat(handle.fileno()).st_ino)
        except OSError:
            handles[name] = (None, 0)
    partial: dict[str, str] = {name: "" for name in files}
    while stop is None or not stop():
        quiet = True
        for name, path in files.items():
            handle, inode = handles[name]
            try:
                now_inode = os.stat(path).st_ino
            except OSError:
                now_inode = 0
            if now_inode and now_inode != inode:  # rotated (or created): start it over
                if handle is not None:
                    handle.close()
                handle = open(path, "r", errors="replace")
                handles[name] = (handle, now_inode)
            if handle is None:
                continue
            while True:
                chunk = handle.readline()
                if not chunk:
                    break
                quiet = False
                if not chunk.endswith("\n"):
                    partial[name] += chunk
                    continue
                yield name, partial[name] + chunk.rstrip("\n")
                partial[name] = ""
        if quiet:
            time.sleep(poll)


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
        shown = [kept[errors[-1]], "    ..."] + kept[-(lines - 2):]
    return "\n".join(shown)


def prefixer(names: list[str], colour: bool):
    width = max((len(n) for n in names), default=0)
    colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(names)}

    def prefix(name: str, line: str) -> str:
        tag = f"{name:<{width}} |"
        return f"\x1b[{colours[name]}m{tag}\x1b[0m {line}" if colour else f"{tag} {line}"
    return prefix
