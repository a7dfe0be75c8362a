"""Readiness probes: real protocol checks of the stack's parts, with deadlines.

    check(ws, part, backend=None, timeout=2.0) -> ProbeResult     one attempt, never raises
    wait_for(ws, part, timeout=60.0, backend=None, abort=None) -> ProbeResult
                                                                  retries until ready; on
                                                                  timeout a UserError naming the
                                                                  part, address, wait, last error
    wait_all(ws, parts=None, timeout=60.0, backend=None) -> list[ProbeResult]

What "ready" means per part:
  postgres  a login as the superuser + `SHOW server_version`, and every role and database of
            the registry exists (57P03 "the database system is starting up" is not ready)
  redis     AUTH with the workspace's password + PING
  aws       a real API call: S3 ListBuckets (the embedded moto endpoint, or any endpoint);
            with backend="compose", LocalStack's /_localstack/health reporting s3
            "available" or "running"
            (postgres with backend="external": the server answering is enough; db.init
            creates the roles and databases there)
  smtp      EHLO answered with 250

Each check speaks the part's own protocol through `lomash_tasks.wire` (standard library
only): no client library is imported to learn that a server answers.

Retries back off from 20 ms, doubling to a 1 s cap; while the port refuses connections the
wait is spent polling the port every 5 ms, so a server that starts listening is probed at once
(and the back-off starts again from 20 ms).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from lomash_tasks import connections
from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.settings import STACK_PARTS as PARTS
from lomash_tasks.stack import ports
from lomash_tasks.stack.base import endpoint as _endpoint
from lomash_tasks.workspace import Workspace

FIRST_DELAY, MAX_DELAY, PORT_POLL = 0.02, 1.0, 0.005


@dataclass
class ProbeResult:
    part: str
    address: str
    ready: bool
    detail: str = ""  # when ready: e.g. the server's version
    error: str = ""  # when not: the last error seen
    elapsed: float = 0.0  # seconds spent (all attempts)
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _NotReady(Exception):
    """One failed attempt: the message says what was seen."""


# -- one attempt per part -------------------------------------------------------------------------
class _Postgres:
    def __init__(self, ws: Workspace, timeout: float, objects: bool = True) -> None:
        # objects=False (the external backend's stack.up): the server answering is enough,
        # since db.init creates the roles and databases on a server the suite did not start
        self.ws, self.timeout, self.objects = ws, timeout, objects

    def __call__(self) -> str:
        from lomash_tasks import wire

        reg = self.ws.registry
        roles = ", ".join(wire.pg_literal(s.db_role) for s in reg.with_database)
        dbs = ", ".join(wire.pg_literal(s.db) for s in reg.with_database)
        sql = ["SHOW server_version"]
        if self.objects and roles:
            sql += [
                f"SELECT rolname FROM pg_roles WHERE rolname IN ({roles})",
                f"SELECT datname FROM pg_database WHERE datname IN ({dbs})",
            ]
        try:
            found = connections.pg_wire(self.ws, sql, superuser=True, timeout=self.timeout)
        except wire.WireError as exc:
            if exc.code == "57P03":
                raise _NotReady("the database system is starting up (57P03)") from None
            raise _NotReady(
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            ) from None
        except OSError as exc:
            raise _NotReady(str(exc) or type(exc).__name__) from None
        version = found[0][0][0]
        if not self.objects or not roles:
            return f"PostgreSQL {version}"
        have_roles = {r[0] for r in found[1]}
        have_dbs = {r[0] for r in found[2]}
        missing_roles = [s.db_role for s in reg.with_database if s.db_role not in have_roles]
        missing_dbs = [s.db for s in reg.with_database if s.db not in have_dbs]
        if missing_roles or missing_dbs:
            parts = []
            if missing_roles:
                parts.append("roles " + ", ".join(missing_roles))
            if missing_dbs:
                parts.append("databases " + ", ".join(missing_dbs))
            raise _NotReady(
                f"connected, but missing {' and '.join(parts)} "
                f"(has infra/docker/postgres/init.sql run?)"
            )
        return f"PostgreSQL {version}"


class _Redis:
    def __init__(self, ws: Workspace, timeout: float) -> None:
        self.ws, self.timeout = ws, timeout

    def __call__(self) -> str:
        from lomash_tasks import wire

        try:
            auth, pong, info = connections.redis_wire(
                self.ws, [["PING"], ["INFO", "server"]], timeout=self.timeout
            )
        except (wire.WireError, OSError) as exc:
            raise _NotReady(str(exc) or type(exc).__name__) from None
        if isinstance(auth, wire.WireError):
            raise _NotReady(f"authentication failed: {auth}")
        if pong != "PONG":
            raise _NotReady(f"PING answered {pong}")
        fields = dict(line.split(":", 1) for line in str(info).splitlines() if ":" in line)
        name = "Valkey" if fields.get("valkey_version") else "Redis"
        return f"{name} {fields.get('valkey_version') or fields.get('redis_version', '?')}"


class _S3:
    def __init__(self, ws: Workspace, timeout: float) -> None:
        self.ws, self.timeout = ws, timeout

    def __call__(self) -> str:
        try:
            status, body = connections.aws_wire(self.ws, "s3", timeout=self.timeout)
        except OSError as exc:
            raise _NotReady(f"S3 ListBuckets failed: {exc or type(exc).__name__}") from None
        if status != 200:
            raise _NotReady(
                f"S3 ListBuckets failed: HTTP {status}: {body[:200].decode(errors='replace')}"
            )
        count = body.count(b"<Name>")
        return f"S3 answers ({count} bucket{'s' if count != 1 else ''})"


class _LocalStack:
    def __init__(self, ws: Workspace, timeout: float) -> None:
        self.url = ws.registry.aws.url + "/_localstack/health"
        self.timeout = timeout

    def __call__(self) -> str:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                data = json.loads(response.read().decode() or "{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _NotReady(f"GET /_localstack/health failed: {exc}") from None
        services = data.get("services") or {}
        s3 = services.get("s3")
        if s3 not in ("available", "running"):
            raise _NotReady(f"LocalStack reports s3 {s3 or 'absent'}")
        return f"LocalStack {data.get('version', '?')}"


class _Smtp:
    def __init__(self, ws: Workspace, timeout: float) -> None:
        self.ws, self.timeout = ws, timeout

    def __call__(self) -> str:
        from lomash_tasks import wire

        smtp = self.ws.registry.smtp
        try:
            code, banner = wire.smtp_ehlo(smtp.host, smtp.port, "lomash-tasks", self.timeout)
        except (wire.WireError, OSError) as exc:
            raise _NotReady(f"SMTP: {exc or type(exc).__name__}") from None
        if code != 250:
            raise _NotReady(f"EHLO answered {code} {banner!r}")
        first = banner.splitlines()[0] if banner else ""
        return f"SMTP EHLO 250 {first}".strip()


def _attempt(
    ws: Workspace, part: str, backend: str | None, timeout: float, objects: bool | None = None
) -> Callable[[], str]:
    _endpoint(ws, part)
    if part == "postgres":
        return _Postgres(ws, timeout, objects=backend != "external" if objects is None else objects)
    if part == "redis":
        return _Redis(ws, timeout)
    if part == "aws":
        if backend == "compose":
            return _LocalStack(ws, timeout)
        return _S3(ws, timeout)
    return _Smtp(ws, timeout)


# -- public API ---------------------------------------------------------------------------------
def check(
    ws: Workspace, part: str, backend: str | None = None, timeout: float = 2.0
) -> ProbeResult:
    """One readiness check of `part`; never raises for a part that is down."""
    ep = _endpoint(ws, part)
    start = time.monotonic()
    if not ports.answers(ep.host, ep.port, timeout=min(timeout, 0.5)):
        return ProbeResult(
            part,
            ep.address,
            False,
            error="connection refused (nothing listens)",
            elapsed=time.monotonic() - start,
        )
    try:
        detail = _attempt(ws, part, backend, timeout)()
    except _NotReady as exc:
        return ProbeResult(
            part, ep.address, False, error=str(exc), elapsed=time.monotonic() - start
        )
    return ProbeResult(part, ep.address, True, detail=detail, elapsed=time.monotonic() - start)


def wait_for(
    ws: Workspace,
    part: str,
    timeout: float = 60.0,
    backend: str | None = None,
    abort: Callable[[], str | None] | None = None,
    objects: bool | None = None,
) -> ProbeResult:
    """Retry `part`'s check until it is ready; a UserError after `timeout` seconds.

    `abort` (optional) is called between attempts; a message from it ends the wait at once
    with a UserError carrying that message (e.g. "the server exited", with its log).
    `objects=False`: PostgreSQL answering is enough (the caller creates the registry's roles
    and databases itself); default: required except on the external backend.
    """
    ep = _endpoint(ws, part)
    start = time.monotonic()
    attempt = _attempt(ws, part, backend, timeout=max(0.5, min(5.0, timeout)), objects=objects)
    delay, attempts, last, was_open = FIRST_DELAY, 0, "no attempt was made", None
    port_open = False

    def ready() -> ProbeResult | None:
        nonlocal delay, attempts, last, was_open, port_open
        attempts += 1
        if ports.answers(ep.host, ep.port, timeout=0.5):
            if was_open is False:
                delay = FIRST_DELAY  # the server just started listening: back off afresh
            was_open = port_open = True
            try:
                detail = attempt()
                return ProbeResult(
                    part,
                    ep.address,
                    True,
                    detail=detail,
                    elapsed=time.monotonic() - start,
                    attempts=attempts,
                )
            except _NotReady as exc:
                last = str(exc)
        else:
            last, port_open, was_open = "connection refused (nothing listens)", False, False
        if abort is not None:
            message = abort()
            if message:
                raise UserError(message)
        return None

    def pause(left: float) -> None:  # this wait's own back-off, never past the deadline
        nonlocal delay
        if port_open:
            time.sleep(min(delay, left))
        else:
            _sleep_until_port_opens(ep.host, ep.port, min(delay, left))
        delay = min(delay * 2, MAX_DELAY)

    result = poll_until(ready, deadline=start + timeout, interval=float("inf"), sleep=pause)
    if result is not None:
        return result
    raise UserError(
        f"{part} at {ep.address} was not ready after {time.monotonic() - start:.1f} s "
        f"({attempts} attempt{'s' if attempts != 1 else ''}); last error: {last}. "
        f"Check that it is running (`inv stack.status`, `inv stack.logs --part {part}`) "
        f"or wait longer with --timeout."
    )


def wait_all(
    ws: Workspace,
    parts: Iterable[str] | None = None,
    timeout: float = 60.0,
    backend: str | None = None,
) -> list[ProbeResult]:
    """Wait for several parts, sharing one deadline."""
    chosen = list(parts) if parts else list(PARTS)
    deadline = time.monotonic() + timeout
    return [wait_for(ws, p, max(0.0, deadline - time.monotonic()), backend) for p in chosen]


def _sleep_until_port_opens(host: str, port: int, pause: float) -> None:
    """Sleep `pause` seconds, or less: until the port opens (asked every PORT_POLL seconds)."""
    poll_until(lambda: ports.answers(host, port, timeout=0.05), timeout=pause, interval=PORT_POLL)
