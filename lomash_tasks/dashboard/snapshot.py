"""What the page shows, as typed data: one `Snapshot` of the stack, rendered to JSON with every
string masked exactly as the terminal masks it (`masking.mask`, the workspace's registered
secrets included).

The rows are built from the tasks' own results (`PartStatus` of stack.status, `ServiceStatus`
of services.status, `MigrationState` of db.status, `IndexStats` of cache.stats, `Problem` of
env.check, aws.status's listing, the summary `inv setup` records) and add nothing they lack.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from lomash_tasks import masking
from lomash_tasks.services.shared import (
    CRASHED,
    HEALTHY,
    RESTARTING,
    STARTING,
    STOPPED,
    UNHEALTHY,
)

# The page's states: the services' own (services/shared.py), and the parts' mapped onto them.
COMPOSE_ONLY = "Compose only"
PART_STATES = {
    "running": HEALTHY,
    "unhealthy": UNHEALTHY,
    "stale": CRASHED,
    "stopped": STOPPED,
    "starting": STARTING,
}
TROUBLED = (CRASHED, UNHEALTHY, RESTARTING)  # a service in these shows its log tail


@dataclass
class Part:
    """A part of the stack (postgres, redis, aws, smtp), or a tool only Compose runs."""

    name: str
    kind: str  # infra | tool
    state: str
    address: str
    url: str = ""  # what a browser opens (the mail trap's web view, a tool)
    pid: int | None = None
    version: str = ""
    detail: str = ""


@dataclass
class Migrations:
    """One service's migrations, as db.status reads them."""

    applied: int = 0
    pending: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def state(self) -> str:
        if self.error:
            return "unknown"
        if self.failed:
            return "failed"
        return "pending" if self.pending else "up to date"

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Migrations:
        """From `MigrationState.as_dict()` (db.status --json)."""
        return cls(
            len(data.get("applied") or []),
            list(data.get("pending") or []),
            list(data.get("failed") or []),
            list(data.get("modified") or []),
            list(data.get("missing") or []),
            data.get("error") or "",
        )


@dataclass
class Cache:
    """One service's Redis index, as cache.stats reads it."""

    index: int
    keys: int | None = None
    foreign: list[str] = field(default_factory=list)  # namespaces the service does not declare
    error: str = ""


@dataclass
class ServiceRow:
    """A service: services.status's row, and what the page adds beside it."""

    name: str
    alias: str
    state: str
    url: str
    debug_port: int | None
    debugger: str = ""
    pid: int | None = None
    container: str = ""
    uptime: float | None = None
    restarts: int = 0
    log: str = ""
    detail: str = ""
    has_database: bool = False
    has_cache: bool = False
    migrations: Migrations | None = None
    cache: Cache | None = None
    env_file: str = ""
    env_problems: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


@dataclass
class Event:
    """A change the page saw: a service or part turning crashed, healthy, stopped, ..."""

    at: float
    name: str
    state: str
    detail: str = ""


@dataclass
class Snapshot:
    workspace: str
    backend: str  # the stack's backend
    services_backend: str
    generated_at: float
    parts: list[Part] = field(default_factory=list)
    services: list[ServiceRow] = field(default_factory=list)
    env_problems: list[str] = field(default_factory=list)  # the root .env's
    aws: dict[str, list[dict[str, Any]]] | None = None  # aws.status's listing
    aws_error: str = ""
    probed_at: float | None = None  # when migrations, keys and AWS were last read
    setup: dict[str, Any] | None = None  # the last `inv setup`'s summary
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be read at all
    fixtures: list[str] = field(default_factory=list)  # Stripe fixtures to replay
    mail_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, service in zip(data["services"], self.services):
            if service.migrations is not None:
                row["migrations"]["state"] = service.migrations.state
        return masked(data)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))

    def comparable(self) -> str:
        """The JSON without the moment it was taken and the uptimes (the page counts those on
        by itself): equal when nothing changed."""
        data = self.as_dict()
        data.pop("generated_at", None)
        for row in data["services"]:
            row.pop("uptime", None)
        return json.dumps(data, sort_keys=True)


def masked(value: Any) -> Any:
    """`value` with every string in it masked (keys are the page's own names)."""
    if isinstance(value, str):
        return masking.mask(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def service_row(status: Any, svc: Any) -> ServiceRow:
    """A `ServiceRow` from services.status's `ServiceStatus` and the registry's service."""
    return ServiceRow(
        svc.name,
        svc.alias,
        status.state,
        status.url,
        status.debug_port,
        status.debugger,
        status.pid,
        status.container,
        None if status.uptime is None else round(status.uptime),
        status.restarts,
        status.log,
        status.detail,
        svc.has_database,
        svc.has_cache,
    )


def part_row(status: Any, url: str = "") -> Part:
    """A `Part` from stack.status's `PartStatus`."""
    return Part(
        status.part,
        "infra",
        PART_STATES.get(status.state, status.state),
        status.address,
        url,
        status.pid,
        status.version,
        status.detail,
    )


def events_between(
    before: dict[str, tuple[str, int]],
    after: dict[str, tuple[str, int]],
    details: dict[str, str],
    at: float,
) -> list[Event]:
    """The changes from one look to the next: (state, restarts) per name. A restart count that
    grew while neither look saw the crash (the supervisor restarts within a second) is a crash."""
    out = []
    for name, (state, restarts) in after.items():
        if name not in before:
            continue
        old_state, old_restarts = before[name]
        if restarts > old_restarts and CRASHED not in (old_state, state):
            out.append(Event(at, name, CRASHED, f"crashed and was restarted (restart {restarts})"))
        if state != old_state:
            out.append(Event(at, name, state, details.get(name, "")))
    return out
