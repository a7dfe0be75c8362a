"""A minimal Chrome DevTools Protocol client over a Node inspector's websocket (a real one:
handshake, masked frames), for the tests to evaluate in a running service's own process.

evaluate(port, expression)    Runtime.evaluate in the first free target, the result's value
Session(ws_url)               one websocket session: call(method, **params) -> result
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit

from lomash_tasks.services.inspector import targets


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
