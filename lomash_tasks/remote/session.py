"""Acting on a target's databases: its secrets, its tunnel, a Workspace pointed at both.

    with session.opened(ws, target, services) as remote_ws:
        migrate.status(remote_ws, ...)   # the usual db functions, on the target's Postgres

The seam is the Workspace: `remote_ws.registry.postgres` is where the target's Postgres answers
from here (the tunnel's local end, or the server itself for `via: direct`), each service's
database is the target's, and `remote_ws.database_urls` holds the secrets' DATABASE_URLs, which
`connections` uses instead of the local .env files. The tunnel closes when the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import replace

from lomash_tasks.registry import Service
from lomash_tasks.remote import credentials, tunnel
from lomash_tasks.remote.targets import Target
from lomash_tasks.workspace import Workspace


def pointed_at(
    ws: Workspace, target: Target, host: str, port: int, urls: dict[str, str]
) -> Workspace:
    reg = ws.registry
    services = tuple(
        replace(s, database=target.database(s)) if s.has_database else s for s in reg.services
    )
    registry = replace(reg, services=services, postgres=replace(reg.postgres, host=host, port=port))
    return Workspace(ws.root, registry, target=target.name, database_urls=urls)


@contextlib.contextmanager
def opened(
    ws: Workspace, target: Target, services: Iterable[Service] | None = None, log=None
) -> Iterator[Workspace]:
    chosen = [
        s
        for s in (services if services is not None else ws.registry.with_database)
        if s.has_database
    ]
    urls = credentials.database_urls(target, chosen)
    pg = target.postgres
    if target.via == "bastion" and target.bastion is not None:
        with tunnel.opened(target.bastion, pg.host, pg.port, label=target.name) as local:
            if log:
                log(f"tunnel open: {local.address} -> {target.bastion.address} -> {pg.address}")
            try:
                yield pointed_at(ws, target, local.host, local.port, urls)
            finally:
                if log:
                    log(f"tunnel closed ({local.address}).")
    else:
        yield pointed_at(ws, target, pg.host, pg.port, urls)
