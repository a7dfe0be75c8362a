"""The Node inspector of a running service, as a debugger client sees it.

targets(port)                 GET http://127.0.0.1:<port>/json/list
attached(port)                True / False, or None when the inspector does not answer:
                              a debugger holds a websocket to the inspector's port, seen as
                              an established connection to it (`processes.established`;
                              Node 20 keeps listing `webSocketDebuggerUrl` while a session
                              is attached)
placed(port, app, reported)   where a supervised service's inspector is, verified (its
                              /json/list answers, from the service's own process), or why
                              there is none

(The tests' Chrome DevTools client, which evaluates in a service over the inspector's
websocket, is tests/devtools.py.)
"""

from __future__ import annotations

import json
import socket
from typing import Any


def _http_get(port: int, path: str, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        length = None
        while True:  # the inspector keeps the connection open: read Content-Length bytes
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and length is None:
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
            if sep and length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise OSError(f"GET {path} answered {head.splitlines()[0] if head else b'nothing'!r}")
    return body


def targets(port: int, timeout: float = 0.5) -> list[dict[str, Any]]:
    return json.loads(_http_get(port, "/json/list", timeout))


def connections(port: int) -> int:
    """Established TCP connections to the local `port` (a debugger's websocket)."""
    from lomash_tasks import processes

    return processes.established(port)


def attached(port: int, timeout: float = 0.3) -> bool | None:
    if connections(port):  # before our own request, which would be one
        return True
    try:
        found = targets(port, timeout)
    except (OSError, ValueError):
        return None
    if not found:
        return None
    return any("webSocketDebuggerUrl" not in t for t in found)


def attached_text(port: int) -> str:
    return {True: "attached", False: "not attached", None: ""}[attached(port)]


def placed(
    port: int | None, app: dict[str, Any], reported: dict[str, Any], own: bool = False
) -> tuple[bool, str]:
    """(verified, text): the inspector of a service the supervisor runs, as status shows it.

    `app` is the service's own process as the suite's Node preload reported it ({pid, main}),
    `reported` what the preload said of the inspector ({url} or {error}), `own` whether the dev
    script opens its inspector itself. Verified: GET /json/list on the port answers and the
    port's listener is the service's own process."""
    from lomash_tasks import processes

    if not port:
        return False, "no debug port"
    pid = app.get("pid")
    try:
        found = targets(port)
    except (OSError, ValueError):
        found = []
    if found:
        holders = [p for p in processes.listeners(port) if p]
        title = found[0].get("title") or found[0].get("url") or "?"
        if pid and pid in holders:
            return True, f"127.0.0.1:{port} in the service's own process (pid {pid}: {title})"
        if not pid:
            return False, (
                f"127.0.0.1:{port} answers /json/list ({title}), but the service's "
                f"own process is not known (the suite's Node preload did not run "
                f"in it)"
            )
        who = (
            f"pid {holders[0]} ({processes.describe(holders[0], 80)})"
            if holders
            else "another process"
        )
        return False, (
            f"port {port} is held by {who}, not by the service's own process (pid "
            f"{pid}): a program that starts the service took it; name its package "
            f"in service_options.wrappers"
        )
    if reported.get("error"):
        return False, f"none: {reported['error']}"
    if own:
        return False, (
            f"none: the dev script asks for its own inspector (port {port}), but "
            f"nothing answers there (nodemon, for one, hands --inspect to node only, "
            f"not to an `exec` such as ts-node)"
        )
    if not pid:
        return False, (
            "none yet: the service's own process has not started (or the suite's "
            "Node preload does not reach it: does its script reset NODE_OPTIONS?)"
        )
    return False, f"none: nothing answers on port {port}"
