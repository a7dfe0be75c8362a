"""What the supervisor and `inv services.*` both use: a service's GET /health over a plain
socket, the JSON state files (written atomically, owner-only), the events the suite's Node
preload writes, and the timings. Standard library only: the supervisor imports this and stays
small (processes are asked through `lomash_tasks.processes`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, cast

from lomash_tasks.helpers import write_atomic

# A supervised service's states (what state.json records and `inv services.status` shows).
STATES = ("starting", "healthy", "unhealthy", "crashed", "restarting", "stopped")
STARTING, HEALTHY, UNHEALTHY, CRASHED, RESTARTING, STOPPED = STATES

TICK = 0.1
SCAN_EVERY = 0.25
HEALTH_STARTING = 0.2
HEALTH_RUNNING = 2.0
APP_GONE_GRACE = 1.0  # the service's own process gone this long, none after it: crashed
RELOAD_GRACE = 15.0  # ... after its watcher said it restarts it (nodemon's `delay`, a build)
FAILS_UNHEALTHY = 2  # consecutive failed checks before a healthy service is "unhealthy"
HEARTBEAT = 2.0  # the supervisor rewrites its record at least this often
RECORD_STALE = 10.0  # a record older than this is not the supervisor's word any more
# What watchers print when the service's process ended and they wait for a file change: the
# service is down at once (no need to wait out APP_GONE_GRACE).
WATCHER_WAITS = (
    b"app crashed - waiting for file changes",  # nodemon
    b"clean exit - waiting for changes before restart",  # nodemon
    b"Failed running '",  # node --watch
    b"Completed running '",  # node --watch
)
# What watchers print when they restart the service for a change (in any case): nodemon
# "restarting due to changes", node --watch "Restarting 'src/index.js'", ts-node-dev
# "Restarting: ... has been modified", tsx "change in ./src/main.ts Restarting...".
WATCHER_RESTARTS = b"restarting"


def now_stamp(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def write_json(path: Path, data: Any) -> None:
    """Atomically and owner-only (`helpers.write_atomic`: none left behind when that fails)."""
    write_atomic(path, json.dumps(data, indent=1), 0o600)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The whole JSON lines the Node preload appended to `path` since `offset`, and the new
    offset (a line still being written waits for the next call)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(1 << 20)
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    out = []
    for line in data[:end].splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out, offset + end


def health(port: int, timeout: float = 2.5) -> tuple[int | None, str]:
    """(HTTP status or None, what was seen) of GET /health on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            data = b""
            while len(data) < 65536:
                chunk = sock.recv(8192)
                if not chunk:
                    break
                data += chunk
    except ConnectionRefusedError:
        return None, REFUSED
    except OSError as exc:
        return None, f"no answer ({exc.strerror or exc})"
    return _answer(data)


REFUSED = "connection refused (nothing listens yet)"
HEALTH_REQUEST = b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(data: bytes) -> tuple[int | None, str]:
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        code = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, "not an HTTP answer"
    return code, body.decode(errors="replace")[:500]


def health_many(ports: list[int], timeout: float = 2.5) -> dict[int, tuple[int | None, str]]:
    """`health` of every port at once, in this thread (non-blocking sockets on one selector:
    no thread per check), all within `timeout`."""
    import errno
    import selectors

    out: dict[int, tuple[int | None, str]] = {}
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    for port in dict.fromkeys(ports):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            out[port] = (
                None,
                REFUSED if err == errno.ECONNREFUSED else f"no answer ({os.strerror(err)})",
            )
            continue
        sel.register(sock, selectors.EVENT_WRITE, [port, b""])
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, events in sel.select(left):
                sock, (port, data) = cast(socket.socket, key.fileobj), key.data
                if events & selectors.EVENT_WRITE:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        out[port] = (
                            None,
                            REFUSED
                            if err == errno.ECONNREFUSED
                            else f"no answer ({os.strerror(err)})",
                        )
                    else:
                        try:
                            sock.send(HEALTH_REQUEST)  # a few bytes: the buffer takes them
                            sel.modify(sock, selectors.EVENT_READ, key.data)
                            continue
                        except OSError as exc:
                            out[port] = (None, f"no answer ({exc.strerror or exc})")
                else:
                    try:
                        chunk = sock.recv(8192)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        out[port] = (None, f"no answer ({exc.strerror or exc})")
                        chunk = None
                    if chunk and len(data) < 65536:
                        key.data[1] = data + chunk
                        continue
                    if chunk is not None:
                        out[port] = _answer(key.data[1])
                sel.unregister(sock)
                sock.close()
    finally:
        for key in list(sel.get_map().values()):
            out.setdefault(key.data[0], (None, "no answer (timed out)"))
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()
    return out
