"""Where the stack's infrastructure comes from: Docker Compose, servers the suite embeds, or
servers someone else runs (`external`: checked, never started or stopped).

    get(ws, settings, name=None) -> Backend     `name` (a --backend flag) beats stack.backend

`auto` (the default) follows a stack that already runs: the embedded backend when servers it
started in this workspace are alive; otherwise Compose when a Docker engine answers a ping
within a short timeout (the engine the `docker` CLI would use: DOCKER_HOST, DOCKER_CONTEXT, the
current context; `stack/engine.py`), and the embedded backend when none does (`resolve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lomash_tasks.errors import UserError, suggest

if TYPE_CHECKING:
    from lomash_tasks.workspace import Workspace

from lomash_tasks.stack.base import (
    ALREADY_RUNNING,
    PARTS,
    PORT_KEYS,
    STARTED,
    Backend,
    PartResult,
    PartStatus,
    Settings,
    select_parts,
)

BACKENDS = ("auto", "embedded", "compose", "external")
PING_TIMEOUT = 1.0

__all__ = [
    "ALREADY_RUNNING",
    "BACKENDS",
    "PARTS",
    "PORT_KEYS",
    "STARTED",
    "Backend",
    "PartResult",
    "PartStatus",
    "Settings",
    "docker_engine",
    "embedded_running",
    "get",
    "resolve",
    "select_parts",
]


def docker_engine(timeout: float = PING_TIMEOUT) -> tuple[bool, str]:
    """(True, version) when a Docker engine answers a ping; (False, why) otherwise. The engine
    is the one the `docker` CLI would use (DOCKER_HOST, DOCKER_CONTEXT, the current context:
    `lomash_tasks.stack.engine`); nothing is imported when none can be configured."""
    from lomash_tasks.stack import engine

    return engine.ping(timeout)


def resolve(name: str | None, settings: Settings, ws: Workspace | None = None) -> str:
    """The concrete backend for a flag/config value: 'embedded', 'compose' or 'external'.

    `auto` follows a stack that already runs: with `ws`, servers the embedded backend started
    in that workspace win (so `inv stack.down` stops what `inv setup --backend embedded`
    started, even where a Docker engine answers); otherwise Compose when an engine answers.
    """
    chosen = (name or settings.backend or "auto").strip().lower()
    if chosen not in BACKENDS:
        raise UserError(
            f"Unknown backend '{chosen}'.{suggest(chosen, BACKENDS)} Valid backends: "
            f"{', '.join(BACKENDS)} (flag --backend or config stack.backend / "
            f"INVOKE_STACK_BACKEND)."
        )
    if chosen == "auto":
        if ws is not None and embedded_running(ws, settings):
            return "embedded"
        return "compose" if docker_engine()[0] else "embedded"
    return chosen


def embedded_running(ws: Workspace, settings: Settings) -> bool:
    """True when a server the embedded backend started in `ws` is alive: by its pid file (the
    process alive and still that server), else by what it is (its state folder removed)."""
    from lomash_tasks.stack.embedded import EmbeddedBackend, strays

    if ws.state_dir.is_dir():
        backend = EmbeddedBackend(ws, settings)
        if any(backend.part(part).pid() is not None for part in PARTS):
            return True
    return bool(strays.find(ws))


def get(ws: Workspace, settings: Settings | None = None, name: str | None = None) -> Backend:
    settings = settings or Settings()
    chosen = resolve(name, settings, ws)
    if chosen == "external":
        from lomash_tasks.stack.external import ExternalBackend

        return ExternalBackend(ws, settings)
    if chosen == "compose":
        from lomash_tasks.stack.compose import ComposeBackend

        return ComposeBackend(ws, settings)
    from lomash_tasks.stack.embedded import EmbeddedBackend

    return EmbeddedBackend(ws, settings)
