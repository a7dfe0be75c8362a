"""Every action on a target, logged: who, what, when, result, as JSON lines in
`<workspace>/.lomash/remote-audit.log` (owner-only; every line masked like any output).

    with audit.action(ws, target, "db.migrate", services=["auth"]) as entry:
        ...
        entry["result"] = "done"     # default: "done"; an exception records "failed: ..."
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lomash_tasks import masking
from lomash_tasks.workspace import Workspace

FILE = "remote-audit.log"


def path(ws: Workspace) -> Path:
    return ws.state_dir / FILE


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    actor = os.environ.get("GITHUB_ACTOR")
    host = socket.gethostname()
    return f"{user}@{host}" + (
        f" (github: {actor}, run {os.environ.get('GITHUB_RUN_ID', '?')})" if actor else ""
    )


def record(ws: Workspace, entry: dict[str, Any]) -> None:
    folder = ws.ensure_state_dir()
    line = masking.mask(json.dumps(entry, default=str, sort_keys=False))
    target = folder / FILE
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


@contextlib.contextmanager
def action(ws: Workspace, target: str, what: str, **detail: Any) -> Iterator[dict[str, Any]]:
    entry: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "who": who(),
        "target": target,
        "what": what,
        **detail,
    }
    began = time.monotonic()
    try:
        yield entry
    except KeyboardInterrupt:
        entry["result"] = "interrupted (Ctrl-C)"
        raise
    except BaseException as exc:
        message = str(exc) or type(exc).__name__
        entry["result"] = f"failed: {message.splitlines()[0][:300]}"
        raise
    finally:
        entry.setdefault("result", "done")
        entry["seconds"] = round(time.monotonic() - began, 2)
        record(ws, entry)
