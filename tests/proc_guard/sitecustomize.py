"""/proc, hidden from the suite's own code.

On PYTHONPATH (with LOMASH_PROC_GUARD=<a log file>) this is loaded into every Python process the
tests start, `inv` and the services' supervisor included; `arm()` does the same in the test's
own process. From then on, an open, listdir or scandir of a /proc path whose nearest caller
outside the standard library is a module of `lomash_tasks` is written to the log and fails
with ProcAccess (not an OSError: no `except OSError` can swallow it). psutil may read /proc on
Linux (its frames are its own): the point is that the suite asks only through psutil, so it
works where there is no /proc (macOS). os.readlink and os.stat raise no audit event: a test of
the source (no "/proc" string in the package) covers those.
"""

from __future__ import annotations

import os
import sys
import sysconfig

PACKAGE = os.sep + "lomash_tasks" + os.sep
STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
EVENTS = {"open", "os.listdir", "os.scandir"}
STATE = {"armed": False, "log": "", "seen": []}


class ProcAccess(RuntimeError):
    """The suite's own code touched /proc."""


def _culprit() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        name = os.path.realpath(frame.f_code.co_filename)
        if not name.startswith(STDLIB) or "site-packages" in name:
            return name if PACKAGE in name else None
        frame = frame.f_back
    return None


def _hook(event: str, args: tuple) -> None:
    if not STATE["armed"] or event not in EVENTS or not args:
        return
    path = args[0]
    if isinstance(path, bytes):
        path = path.decode(errors="replace")
    if not isinstance(path, str) or not (path == "/proc" or path.startswith("/proc/")):
        return
    culprit = _culprit()
    if culprit is None:
        return
    line = f"{os.getpid()} {event} {path} from {culprit}"
    STATE["seen"].append(line)
    if STATE["log"]:
        STATE["armed"] = False  # our own write below is no violation
        try:
            with open(STATE["log"], "a") as handle:
                handle.write(line + "\n")
        finally:
            STATE["armed"] = True
    raise ProcAccess(line)


_installed = False


def arm(log: str = "") -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    STATE.update(armed=True, log=log)


def disarm() -> None:
    STATE["armed"] = False


if os.environ.get("LOMASH_PROC_GUARD"):
    arm(os.environ["LOMASH_PROC_GUARD"])
