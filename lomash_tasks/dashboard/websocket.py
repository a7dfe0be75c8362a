"""The server side of a WebSocket (RFC 6455), as much as the page needs: the handshake, text
frames to the page, and reading the page's frames (close, ping; browsers mask every frame).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping
from email.message import Message
from typing import Protocol

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_INCOMING = 1 << 16  # the page sends nothing large


class Reader(Protocol):
    """What frames are read from: the request handler's `rfile`."""

    def read(self, size: int, /) -> bytes: ...


def is_upgrade(headers: Mapping[str, str] | Message) -> bool:
    """True for a WebSocket handshake request (RFC 6455, version 13)."""
    return (
        headers.get("Upgrade", "").strip().lower() == "websocket"
        and "upgrade" in headers.get("Connection", "").lower()
        and headers.get("Sec-WebSocket-Version", "").strip() == "13"
        and bool(headers.get("Sec-WebSocket-Key", "").strip())
    )


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.strip().encode("ascii") + GUID).digest()).decode()


def handshake(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked, final frame (a server never masks)."""
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack(">H", size)
    else:
        head += bytes([127]) + struct.pack(">Q", size)
    return head + payload


def close_frame(code: int = 1000) -> bytes:
    return frame(struct.pack(">H", code), CLOSE)


def _exactly(stream: Reader, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise ConnectionError("the page closed the connection")
        data += chunk
    return data


def read_frame(stream: Reader) -> tuple[int, bytes]:
    """(opcode, payload) of the next frame from the page; ConnectionError at its end, or for a
    frame that is unmasked or larger than the page ever sends."""
    first, second = _exactly(stream, 2)
    opcode = first & 0x0F
    size = second & 0x7F
    if size == 126:
        size = struct.unpack(">H", _exactly(stream, 2))[0]
    elif size == 127:
        size = struct.unpack(">Q", _exactly(stream, 8))[0]
    if not second & 0x80:
        raise ConnectionError("a frame from the page was not masked")
    if size > MAX_INCOMING:
        raise ConnectionError(f"a frame of {size} bytes from the page is too large")
    mask = _exactly(stream, 4)
    data = _exactly(stream, size)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))
