"""Servers of this workspace's embedded stack that no pid file records any more.

`git clean -fdX` (or `rm -rf .lomash`) removes the state folder while the servers run: their
pid files go with it, and a stop by pid file finds nothing. They are still recognisable by what
they are, asked through `lomash_tasks.processes` (psutil) in one pass over the machine:

- the program: PostgreSQL's postmaster (`postgres -D <data>`), `valkey-server`/`redis-server`,
  the suite's own `lomash_tasks.stack.aws_endpoint` and `lomash_tasks.stack.smtp_trap`;
- where it works: its working folder, or a path on its command line (`-D`, `--dir`), is inside
  this workspace's state folder (`<workspace>/.lomash`, removed or not), or inside the folder
  that keeps this workspace's PostgreSQL cluster when its user cannot reach the workspace.

Both must hold. A system PostgreSQL works in its own data folder and another workspace's stack
in that workspace's state folder: neither is ever taken for one of ours, whatever port it holds.
The ports each one found listens on are reported beside it (they confirm; they never decide).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lomash_tasks import processes
from lomash_tasks.workspace import Workspace


@dataclass(frozen=True)
class Stray:
    part: str
    pid: int
    command: str
    where: str  # the folder of ours it works in (or names), as the user knows it
    ports: tuple[int, ...]  # the TCP ports it listens on

    def text(self) -> str:
        ports = f", listening on {', '.join(map(str, self.ports))}" if self.ports else ""
        return f"pid {self.pid} ({self.command}) in {self.where}{ports}"


def _program(argv: tuple[str, ...]) -> str:
    """The program's file name (Redis servers rename their argv[0]: 'valkey-server 1.2.3.4:P')."""
    first = argv[0].split(" ")[0] if argv else ""
    return os.path.basename(first)


KINDS: dict[str, Callable[[processes.Seen], bool]] = {
    "postgres": lambda seen: _program(seen.argv) == "postgres" and "-D" in seen.argv,
    "redis": lambda seen: _program(seen.argv) in ("valkey-server", "redis-server"),
    "aws": lambda seen: "lomash_tasks.stack.aws_endpoint" in seen.argv,
    "smtp": lambda seen: "lomash_tasks.stack.smtp_trap" in seen.argv,
}


def roots(ws: Workspace) -> list[str]:
    """The folders whose servers are this workspace's."""
    from lomash_tasks.stack.embedded.postgres import outside_dir

    return [os.path.realpath(ws.state_dir), os.path.realpath(outside_dir(ws.root).parent)]


def _inside(path: str, folders: Iterable[str]) -> str:
    for root in folders:
        if path and (path == root or path.startswith(root + os.sep)):
            return path
    return ""


def ours(seen: processes.Seen, folders: list[str]) -> str:
    """The folder of ours the process works in or names on its command line ('' if none)."""
    where = _inside(seen.cwd, folders)
    if where:
        return where
    for word in seen.argv:
        where = _inside(word.partition("=")[2] if word.startswith("--") else word, folders)
        if where:
            return where
    return ""


def find(
    ws: Workspace, parts: Iterable[str] | None = None, skip: Iterable[int] = ()
) -> list[Stray]:
    """The servers of `parts` (all four by default) this workspace's embedded backend started,
    found by what they are; `skip`: pids already known from their pid files."""
    wanted = list(parts) if parts is not None else list(KINDS)
    folders = roots(ws)
    skipped = set(skip) | {os.getpid()}
    found: list[tuple[str, processes.Seen, str]] = []
    for seen in processes.snapshot():
        if seen.pid in skipped:
            continue
        for part in wanted:
            if KINDS[part](seen):
                where = ours(seen, folders)
                if where:
                    found.append((part, seen, where))
                break
    listening = processes.listening_ports([seen.pid for _, seen, _ in found]) if found else {}
    return [
        Stray(
            part,
            seen.pid,
            seen.describe(100),
            ws.relative(Path(where)),
            tuple(sorted(listening.get(seen.pid, ()))),
        )
        for part, seen, where in found
    ]
