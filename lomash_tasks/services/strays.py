"""The services' processes of one workspace that no supervisor's record names any more.

`git clean -fdX` (or `rm -rf .lomash`) takes the supervisor's record with it; a supervisor killed
with SIGKILL leaves its services running. They are still recognisable by what they are:

- a supervisor of this workspace: `python -m lomash_tasks.services.supervisor <its folder>`,
  its folder this workspace's `.lomash/services`;
- a service's process: working in the workspace (its service's folder) with the variable the
  suite gives every service, LOMASH_SERVICE_EVENTS, naming a file in that same folder. Nothing
  else carries it: a `pnpm dev` of the developer's own, another workspace's services or another
  program in the folder is never taken for one.

Processes are asked through `lomash_tasks.processes` (psutil), one pass over the machine.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import processes
from lomash_tasks.helpers import poll_until

SUPERVISOR_MODULE = "lomash_tasks.services.supervisor"
EVENTS_VARIABLE = "LOMASH_SERVICE_EVENTS"


def _inside(path: str, root: str) -> bool:
    return bool(path) and (path == root or path.startswith(root.rstrip(os.sep) + os.sep))


@dataclass
class Strays:
    """What runs for a workspace's services without a supervisor that records it."""

    supervisors: list[processes.Seen] = field(default_factory=list)
    groups: dict[str, set[int]] = field(default_factory=dict)  # service -> process groups
    pids: dict[str, list[int]] = field(default_factory=dict)  # service -> its processes

    def __bool__(self) -> bool:
        return bool(self.supervisors or self.groups)


def find(ws_root: Path, folder: Path, names: set[str] | None = None) -> Strays:
    """The supervisors of `folder` (the workspace's .lomash/services) and the processes of the
    workspace's services (those of `names` only, when given)."""
    root = os.path.realpath(ws_root)
    state = os.path.realpath(folder)
    out = Strays()
    me = os.getpid()
    for seen in processes.snapshot():
        if seen.pid == me:
            continue
        argv = seen.argv
        if SUPERVISOR_MODULE in argv:
            target = argv[-1] if argv else ""
            if os.path.realpath(target) == state or _inside(seen.cwd, state):
                out.supervisors.append(seen)
            continue
        if not _inside(seen.cwd, root) or _inside(seen.cwd, state):
            continue
        events = processes.environ(seen.pid).get(EVENTS_VARIABLE, "")
        if not events or os.path.dirname(os.path.realpath(events)) != state:
            continue
        name = os.path.basename(events).removesuffix(".events")
        if names is not None and name not in names:
            continue
        out.pids.setdefault(name, []).append(seen.pid)
        if seen.pgid:
            out.groups.setdefault(name, set()).add(seen.pgid)
    return out


def end(found: Strays, timeout: float = 5.0) -> None:
    """SIGTERM the supervisors (each stops its own services), then every group left; SIGKILL
    what is still there after `timeout`."""
    for seen in found.supervisors:
        try:
            os.kill(seen.pid, signal.SIGTERM)
        except OSError:
            pass
    poll_until(
        lambda: not any(processes.alive(s.pid) for s in found.supervisors), timeout=timeout + 5
    )
    pgids = {g for groups in found.groups.values() for g in groups if g and g != os.getpgid(0)}
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except OSError:
            pass
    poll_until(lambda: not any(processes.group_members(g) for g in pgids), timeout=timeout)
    for seen in found.supervisors:
        if processes.alive(seen.pid):
            try:
                os.kill(seen.pid, signal.SIGKILL)
            except OSError:
                pass

    def killed() -> bool:
        if not any(processes.group_members(g) for g in pgids):
            return True
        for pgid in pgids:  # a watcher may start another child on its way out
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        return False

    poll_until(killed, timeout=5, interval=0.02)
