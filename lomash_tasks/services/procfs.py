"""What the supervisor and `inv services.*` both read: process groups from /proc, a service's
GET /health over a plain socket, and the JSON state files (written atomically, owner-only).
Standard library only: the supervisor imports this and stays small.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

TICK = 0.1
SCAN_EVERY = 0.25
HEALTH_STARTING = 0.2
HEALTH_RUNNING = 2.0
CHILD_GONE_GRACE = 1.0   # a watcher without its child this long: the service crashed
FAILS_UNHEALTHY = 2      # consecutive failed checks before a healthy service is "unhealthy"


def now_stamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def groups() -> dict[int, list[int]]:
    """Every process group on the machine with its live (not zombie) members."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        out.setdefault(int(fields[2]), []).append(int(entry))
    return out


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
        return None, "connection refused (nothing listens yet)"
    except OSError as exc:
        return None, f"no answer ({exc.strerror or exc})"
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        code = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, "not an HTTP answer"
    return code, body.decode(errors="replace")[:500]
