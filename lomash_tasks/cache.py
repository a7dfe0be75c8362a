"""Redis, one logical database (index) per service: flush one, list keys, per-index stats.

Keys are listed with SCAN (never KEYS), looping to cursor 0 and dropping repeats; a flush is
FLUSHDB on the service's own index (never FLUSHALL). Every client comes from
`connections.redis_client`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from lomash_tasks import connections
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

SCAN_COUNT = 500
MAX_INDEX = 15  # Redis' default `databases 16`


def cache_service(ws: Workspace, name: str) -> Service:
    """The named service, which must own a Redis index (the gateway has none)."""
    svc = ws.registry.service(name)
    if not svc.has_cache:
        owners = ", ".join(f"{s.alias} ({s.redis_db})" for s in ws.registry.with_cache)
        raise UserError(
            f"{svc.name} has no cache: it owns no Redis index. Services with one "
            f"(alias and index): {owners}."
        )
    return svc


@contextmanager
def _client(ws: Workspace, index: int, timeout: float = 5.0) -> Iterator[Any]:
    """A client for `index`; connection and auth failures become one clear UserError."""
    import redis

    client = connections.redis_client(ws, index, timeout=timeout)
    rd = ws.registry.redis
    try:
        yield client
    except redis.AuthenticationError as exc:
        raise UserError(
            f"Redis at {rd.address} refused the password ({exc}). The suite uses "
            f"REDIS_PASSWORD from the workspace's root .env (or .env.example); make "
            f"it match the server's requirepass."
        ) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise UserError(
            f"Cannot reach Redis at {rd.address}: {exc}. Start the stack "
            f"(`inv stack.up`) or check it with `inv cache.wait`."
        ) from None
    except redis.ResponseError as exc:
        raise UserError(
            f"Redis at {rd.address} refused a command on index {index}: {exc}"
        ) from None
    finally:
        client.connection_pool.disconnect()


def scan(
    client: Any, pattern: str | None = None, limit: int | None = None, count: int = SCAN_COUNT
) -> tuple[list[str], bool]:
    """Keys matching `pattern` with SCAN, to cursor 0, without repeats; (keys, truncated)."""
    seen: dict[str, None] = {}
    cursor = 0
    while True:
        cursor, batch = client.scan(cursor=cursor, match=pattern or None, count=count)
        for key in batch:
            if key in seen:
                continue
            if limit is not None and len(seen) >= limit:
                return list(seen), True  # one more key exists beyond the limit
            seen[key] = None
        if int(cursor) == 0:
            return list(seen), False


def namespace_of(key: str) -> str:
    """The prefix before the first ':' ("" when the key has none)."""
    return key.split(":", 1)[0] if ":" in key else ""


def group(keys: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key in sorted(keys):
        out[namespace_of(key)].append(key)
    return dict(sorted(out.items()))


# -- flush --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlushResult:
    service: str
    index: int
    removed: int


def flush(
    ws: Workspace, svc: Service, allow_remote: bool = False, timeout: float = 5.0
) -> FlushResult:
    """FLUSHDB on the service's own index only; how many keys went."""
    rd = ws.registry.redis
    assert svc.redis_db is not None
    connections.refuse_remote(rd.host, f"flush Redis index {svc.redis_db}", allow_remote)
    with _client(ws, svc.redis_db, timeout) as client:
        before = int(client.dbsize())
        client.flushdb()
    return FlushResult(svc.name, svc.redis_db, before)


# -- keys ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyListing:
    service: str
    index: int
    pattern: str
    keys: list[str]
    truncated: bool

    @property
    def by_namespace(self) -> dict[str, list[str]]:
        return group(self.keys)


def list_keys(
    ws: Workspace,
    svc: Service,
    pattern: str | None = None,
    limit: int | None = None,
    timeout: float = 5.0,
) -> KeyListing:
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be 1 or more, not {limit}.")
    assert svc.redis_db is not None
    with _client(ws, svc.redis_db, timeout) as client:
        keys, truncated = scan(client, pattern, limit)
    return KeyListing(svc.name, svc.redis_db, pattern or "*", keys, truncated)


# -- stats --------------------------------------------------------------------------------------
@dataclass
class IndexStats:
    index: int
    service: str | None  # None: an index no service owns
    keys: int
    namespaces: dict[str, int] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)  # namespaces the owner does not declare

    @property
    def clean(self) -> bool:
        return not self.foreign and (self.service is not None or self.keys == 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stats(ws: Workspace, timeout: float = 5.0) -> list[IndexStats]:
    """Per index: key count and namespaces, flagging keys outside the owner's namespaces.

    Indexes no service owns are reported only when they hold keys.
    """
    owners = {s.redis_db: s for s in ws.registry.with_cache}
    out = []
    with _client(ws, 0, timeout) as client:
        keyspace = client.info("keyspace")  # {"db0": {"keys": n, ...}, ...}
    for index in range(MAX_INDEX + 1):
        svc = owners.get(index)
        listed = keyspace.get(f"db{index}", {})
        if svc is None and not listed:
            continue
        with _client(ws, index, timeout) as client:
            keys, _ = scan(client)
        counts: dict[str, int] = defaultdict(int)
        for key in keys:
            counts[namespace_of(key)] += 1
        declared = set(svc.namespaces) if svc else set()
        foreign = sorted(ns for ns in counts if ns not in declared)
        out.append(
            IndexStats(
                index, svc.name if svc else None, len(keys), dict(sorted(counts.items())), foreign
            )
        )
    return out
