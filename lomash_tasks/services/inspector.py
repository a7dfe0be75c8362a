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
evaluate(port, expression)    Runtime.evaluate over the inspector's websocket (a real CDP
                              client: handshake, masked frames), the result's value
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit


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


class Session:
    """A minimal Chrome DevTools Protocol session over the inspector's websocket."""

    def __init__(self, ws_url: str, timeout: float = 5.0) -> None:
        parts = urlsplit(ws_url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("the inspector closed the websocket handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise OSError(f"websocket handshake refused: {head.splitlines()[0]!r}")
        self.buffer = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _send(self, text: str) -> None:
        data = text.encode()
        mask = os.urandom(4)
        head = bytes([0x81])
        if len(data) < 126:
            head += bytes([0x80 | len(data)])
        elif len(data) < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", len(data))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("the inspector closed the websocket")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _frame(self) -> str:
        b1, b2 = self._read(2)
        length = b2 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        payload = self._read(length)
        return payload.decode(errors="replace") if (b1 & 0x0F) in (0x1, 0x0) else ""

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            text = self._frame()
            if not text:
                continue
            message = json.loads(text)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise OSError(f"{method} failed: {message['error']}")
                return message.get("result", {})


def evaluate(port: int, expression: str, timeout: float = 5.0) -> Any:
    """The value of `expression` evaluated in the service's own process, through its inspector."""
    found = [t for t in targets(port) if t.get("webSocketDebuggerUrl")]
    if not found:
        raise OSError(f"the inspector on port {port} has no free target (a debugger is attached)")
    with Session(found[0]["webSocketDebuggerUrl"], timeout) as session:
        result = session.call("Runtime.evaluate", expression=expression, returnByValue=True)
    return result.get("result", {}).get("value")
