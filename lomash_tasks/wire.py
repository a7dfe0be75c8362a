"""Small clients of the stack's wire protocols, on the standard library alone.

    pg_query(host, port, user, password, dbname, sql, timeout) -> [[row, ...], ...]
    resp(host, port, [command, ...], timeout) -> [reply, ...]             Redis (RESP2)
    smtp_ehlo(host, port, name, timeout) -> (code, text)
    aws_call(endpoint, region, key_id, secret, service, ...) -> (status, body)   SigV4-signed

For the checks a warm `inv setup` and every readiness probe make: whether a server answers its
own protocol, and what it says, without paying a full client library's import (psycopg alone
costs more than the whole check, boto3 hundreds of milliseconds). They speak the protocols
exactly (PostgreSQL's SCRAM-SHA-256 / MD5 / password logins, Redis's AUTH, SigV4 as AWS
checks it) but only as much of them as a check needs: plain text results of simple queries,
no TLS, no pipelining beyond one request list. Work that changes something uses the full
clients (`connections.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit


class WireError(Exception):
    """A server answered with an error, or the exchange broke; `code` is the server's own
    (PostgreSQL's SQLSTATE, Redis's first word) when it gave one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# -- PostgreSQL ---------------------------------------------------------------------------------
def pg_query(
    host: str,
    port: int,
    user: str,
    password: str,
    dbname: str,
    sql: str | Sequence[str],
    timeout: float = 5.0,
) -> list[list[tuple[str | None, ...]]]:
    """Log in and run each statement as a simple query; each one's rows, values as text (None
    for NULL). Raises WireError (with the SQLSTATE) on a refused login or a failing query, and
    OSError when nothing answers."""
    statements = [sql] if isinstance(sql, str) else list(sql)
    with pg_session(host, port, user, password, dbname, timeout) as session:
        return [session.query(s) for s in statements]


@contextmanager
def pg_session(
    host: str, port: int, user: str, password: str, dbname: str, timeout: float = 5.0
) -> Iterator[_Pg]:
    """A logged-in session whose `.query(sql)` returns rows as `pg_query` does."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        conn = _Pg(sock)
        conn.login(user, password, dbname)
        try:
            yield conn
        finally:
            try:
                sock.sendall(b"X\x00\x00\x00\x04")
            except OSError:
                pass


class _Pg:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WireError("the server closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def message(self) -> tuple[bytes, bytes]:
        kind = self._read(1)
        (length,) = struct.unpack("!i", self._read(4))
        return kind, self._read(length - 4)

    def send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    @staticmethod
    def error(body: bytes) -> WireError:
        fields = {}
        for part in body.split(b"\x00"):
            if part:
                fields[part[:1].decode()] = part[1:].decode("utf-8", "replace")
        return WireError(fields.get("M", "error"), fields.get("C", ""))

    def login(self, user: str, password: str, dbname: str) -> None:
        params = b"".join(
            k.encode() + b"\x00" + v.encode() + b"\x00"
            for k, v in (
                ("user", user),
                ("database", dbname),
                ("application_name", "lomash-tasks"),
                ("client_encoding", "UTF8"),
            )
        )
        startup = struct.pack("!i", 196608) + params + b"\x00"
        self.sock.sendall(struct.pack("!i", len(startup) + 4) + startup)
        scram: dict[str, Any] = {}
        while True:
            kind, body = self.message()
            if kind == b"E":
                raise self.error(body)
            if kind == b"Z":
                return
            if kind != b"R":
                continue  # ParameterStatus, BackendKeyData, NoticeResponse
            (code,) = struct.unpack("!i", body[:4])
            if code == 0:
                continue
            if code == 3:
                self.send(b"p", password.encode() + b"\x00")
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                self.send(b"p", b"md5" + outer.encode() + b"\x00")
            elif code == 10:
                if b"SCRAM-SHA-256" not in body[4:].split(b"\x00"):
                    raise WireError("the server offers no SASL mechanism this check speaks")
                nonce = base64.b64encode(os.urandom(18)).decode()
                scram["bare"] = f"n=,r={nonce}"
                scram["nonce"] = nonce
                first = ("n,," + scram["bare"]).encode()
                self.send(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first)
            elif code == 11:
                self.send(b"p", _scram_final(scram, password, body[4:].decode()))
            elif code == 12:
                if body[4:].decode().split("v=", 1)[-1] != scram.get("verifier"):
                    raise WireError("the server's SCRAM signature does not match")
            else:
                raise WireError(f"authentication method {code} is not supported by this check")

    def query(self, sql: str) -> list[tuple[str | None, ...]]:
        self.send(b"Q", sql.encode() + b"\x00")
        rows: list[tuple[str | None, ...]] = []
        failure: WireError | None = None
        while True:
            kind, body = self.message()
            if kind == b"D":
                (count,) = struct.unpack("!h", body[:2])
                at, row = 2, list[str | None]()
                for _ in range(count):
                    (size,) = struct.unpack("!i", body[at : at + 4])
                    at += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(body[at : at + size].decode("utf-8", "replace"))
                        at += size
                rows.append(tuple(row))
            elif kind == b"E":
                failure = self.error(body)
            elif kind == b"Z":
                if failure is not None:
                    raise failure
                return rows


def _scram_final(scram: dict[str, Any], password: str, server_first: str) -> bytes:
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    if not attrs.get("r", "").startswith(scram["nonce"]):
        raise WireError("the server's SCRAM nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{scram['bare']},{server_first},{without_proof}".encode()
    signature = hmac.new(stored, auth, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    scram["verifier"] = base64.b64encode(
        hmac.new(server_key, auth, hashlib.sha256).digest()
    ).decode()
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def pg_literal(value: str) -> str:
    """A string as an SQL literal (standard_conforming_strings, the default since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


# -- Redis --------------------------------------------------------------------------------------
def resp(
    host: str, port: int, commands: Sequence[Sequence[str]], timeout: float = 2.0
) -> list[Any]:
    """Send the commands in one write; each reply (str, int, None, or WireError for `-ERR`)."""
    payload = b"".join(
        b"*%d\r\n" % len(cmd)
        + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in cmd)
        for cmd in commands
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(payload)
        reader = sock.makefile("rb")
        return [_resp_reply(reader) for _ in commands]


def _resp_reply(reader: Any) -> Any:
    line = reader.readline()
    if not line:
        raise WireError("the server closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n").decode("utf-8", "replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        return WireError(rest, rest.split(" ", 1)[0])
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2].decode("utf-8", "replace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_resp_reply(reader) for _ in range(size)]
    raise WireError(f"not a Redis reply: {line[:40]!r}")


# -- SMTP ---------------------------------------------------------------------------------------
def smtp_ehlo(
    host: str, port: int, name: str = "lomash-tasks", timeout: float = 2.0
) -> tuple[int, str]:
    """The code and text of the server's answer to EHLO (after its 220 greeting), then QUIT."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        reader = sock.makefile("rb")
        code, text = _smtp_reply(reader)
        if code != 220:
            return code, text
        sock.sendall(f"EHLO {name}\r\n".encode())
        code, text = _smtp_reply(reader)
        try:
            sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        return code, text


def _smtp_reply(reader: Any) -> tuple[int, str]:
    lines = []
    while True:
        line = reader.readline()
        if not line:
            raise WireError("the server closed the connection")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(text[4:])
        if len(text) < 4 or text[3] != "-":
            try:
                return int(text[:3]), "\n".join(lines)
            except ValueError:
                raise WireError(f"not an SMTP reply: {text[:40]!r}") from None


# -- AWS (SigV4 over HTTP) ---------------------------------------------------------------------
def aws_call(
    endpoint: str,
    region: str,
    key_id: str,
    secret: str,
    service: str,
    method: str = "GET",
    path: str = "/",
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One request to an AWS-compatible endpoint, signed with Signature Version 4 as AWS
    checks it; the HTTP status and body. Raises OSError when nothing answers."""
    import datetime
    import http.client

    parts = urlsplit(endpoint)
    signed = sigv4(
        method,
        parts.netloc,
        path,
        query or {},
        {"x-amz-content-sha256": hashlib.sha256(body).hexdigest(), **(headers or {})},
        body,
        region,
        service,
        key_id,
        secret,
        datetime.datetime.now(datetime.timezone.utc),
    )
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        target = path + (f"?{_canonical_query(query or {})}" if query else "")
        conn.request(
            method,
            target,
            body=body or None,
            headers={k: v for k, v in signed.items() if k != "host"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def sigv4(
    method: str,
    host: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    region: str,
    service: str,
    key_id: str,
    secret: str,
    now: Any,
) -> dict[str, str]:
    """The request's headers (lower-case names, `host` and `x-amz-date` added), with the
    Authorization of Signature Version 4 over all of them."""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {"host": host, "x-amz-date": stamp, **{k.lower(): v for k, v in headers.items()}}
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            _canonical_query(query),
            "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


def _canonical_query(query: dict[str, str]) -> str:
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
