"""What every backend offers, and the data it answers with.

A backend brings up the stack's four parts (postgres, redis, aws, smtp) and publishes each on
the registry's `infra.<part>` host:port. Tasks above this layer never care which one runs.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lomash_tasks.errors import UserError, suggest
from lomash_tasks.settings import STACK_PARTS as PARTS
from lomash_tasks.settings import StackSettings as Settings

if TYPE_CHECKING:  # annotations only: keeps `inv --list` from importing the registry
    from lomash_tasks.registry import Endpoint
    from lomash_tasks.workspace import Workspace

# The registry key (and its INVOKE_* variable) that sets each part's port.
PORT_KEYS = {
    "postgres": "INVOKE_INFRA_POSTGRES_PORT",
    "redis": "INVOKE_INFRA_REDIS_PORT",
    "aws": "INVOKE_INFRA_AWS_PORT",
    "smtp": "INVOKE_INFRA_SMTP_PORT",
    "smtp_web": "INVOKE_INFRA_SMTP_WEB_PORT",
}

STARTED, ALREADY_RUNNING = "started", "already running"
RUNNING, STOPPED, STALE, UNHEALTHY = "running", "stopped", "stale", "unhealthy"


@dataclass
class PartResult:
    """What `up` did for one part: usable by a later `inv setup` summary."""

    part: str
    state: str  # "started" | "already running"
    address: str
    elapsed: float  # seconds, including the wait for readiness
    backend: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PartStatus:
    part: str
    backend: str
    address: str
    state: str  # "running" | "stopped" | "stale" | "unhealthy"
    version: str = ""
    pid: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint(ws: Workspace, part: str) -> Endpoint:
    """The registry's endpoint of a stack part; an unknown part lists the valid ones."""
    reg = ws.registry
    found = {"postgres": reg.postgres, "redis": reg.redis, "aws": reg.aws, "smtp": reg.smtp}
    if part not in found:
        raise UserError(f"Unknown stack part '{part}'. Valid parts: {', '.join(PARTS)}.")
    return found[part]


def select_parts(names: Iterable[str] | None) -> list[str]:
    """The named parts in stack order, without repeats; all of them when none named."""
    names = [str(n).strip() for n in (names or []) if n is not None and str(n).strip()]
    for name in names:
        if name not in PARTS:
            raise UserError(
                f"Unknown stack part '{name}'.{suggest(name, PARTS)} "
                f"Valid parts: {', '.join(PARTS)}."
            )
    return [p for p in PARTS if not names or p in names]


class Backend(abc.ABC):
    """Where the infrastructure comes from."""

    name: str = "?"

    def __init__(self, ws: Workspace, settings: Settings | None = None) -> None:
        self.ws = ws
        self.settings = settings or Settings()

    @abc.abstractmethod
    def up(
        self, parts: Iterable[str] | None = None, timeout: float | None = None, log: Any = None
    ) -> list[PartResult]:
        """Start the parts (all when None) and return once each is ready."""

    @abc.abstractmethod
    def down(self, volumes: bool = False, log: Any = None) -> list[str]:
        """Stop what the suite started; with `volumes` also remove its data. Returns the parts
        stopped (and "<part> data" for each removed data folder)."""

    @abc.abstractmethod
    def status(self) -> list[PartStatus]:
        """Each part: backend, address, state, version, pid."""

    @abc.abstractmethod
    def logs(self, part: str, follow: bool = False) -> Iterator[str]:
        """The part's log lines (and, with `follow`, new ones as they come)."""
