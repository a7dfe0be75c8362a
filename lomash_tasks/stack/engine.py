"""Where the Docker engine is, found as the `docker` CLI finds it, and the SDK client for it.

    locate()           -> Engine(host, context, source, tls): no engine is contacted
    client(timeout)    -> docker.DockerClient for that engine (raises when the SDK or the
                          context is missing)
    ping(timeout)      -> (True, version) when it answers; (False, why) otherwise

The CLI's order (cli/command: resolveContextName): DOCKER_HOST wins (the "default" context with
that host); then DOCKER_CONTEXT; then the config's current context (`docker context use`:
`currentContext` in $DOCKER_CONFIG/config.json, e.g. Docker Desktop's `desktop-linux` or
colima's `colima` on macOS); then the default socket. Contexts are read through the Docker
SDK's context API (`docker.context.ContextAPI`). `docker compose`, run by the suite with the
same environment, resolves the same context itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.errors import UserError

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"


@dataclass(frozen=True)
class Engine:
    host: str  # unix:///..., tcp://..., ssh://...
    context: str  # the context's name ("default" for DOCKER_HOST or the socket)
    source: str  # what chose it: DOCKER_HOST, DOCKER_CONTEXT, the current context, ...
    tls: Any = None  # the context's docker.tls.TLSConfig, when it has one

    def describe(self) -> str:
        if self.context == "default":
            return f"{self.host} ({self.source})"
        return f"{self.host} (Docker context '{self.context}', {self.source})"


def _config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def maybe_present() -> tuple[bool, str]:
    """A check that imports nothing: False (with why) when no engine can be configured at all
    (no DOCKER_HOST, no DOCKER_CONTEXT, no context ever created, no default socket)."""
    if os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT"):
        return True, ""
    if (_config_dir() / "contexts" / "meta").is_dir():
        return True, ""
    if os.path.exists(DEFAULT_SOCKET):
        return True, ""
    return False, (
        f"DOCKER_HOST and DOCKER_CONTEXT are not set, no Docker context exists and "
        f"{DEFAULT_SOCKET} does not exist"
    )


def locate() -> Engine:
    """The engine the `docker` CLI would talk to in this environment."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return Engine(host, "default", "DOCKER_HOST")
    name = os.environ.get("DOCKER_CONTEXT") or ""
    source = "DOCKER_CONTEXT"
    try:
        from docker.context import ContextAPI
        from docker.context.config import get_current_context_name
    except ImportError:
        raise UserError("The docker Python SDK is not installed (`pip install -e .`).") from None
    if not name:
        name = get_current_context_name() or "default"
        source = "the current context" if name != "default" else "the default socket"
    if name == "default":
        return Engine(DEFAULT_HOST, "default", source)
    try:
        ctx = ContextAPI.get_context(name)
    except Exception:
        ctx = None
    if ctx is None or not ctx.Host:
        where = (
            f"DOCKER_CONTEXT={name}"
            if source == "DOCKER_CONTEXT"
            else f"currentContext in {_config_dir() / 'config.json'}"
        )
        raise UserError(
            f"The Docker context '{name}' ({where}) does not exist or names no "
            f"engine. `docker context ls` lists the contexts; `docker context use "
            f"default` (or another) picks one."
        )
    return Engine(ctx.Host, name, source, ctx.TLSConfig)


def client(timeout: float = 10.0, engine: Engine | None = None) -> Any:
    """A docker.DockerClient for the engine (not pinged)."""
    import docker

    engine = engine or locate()
    return docker.DockerClient(base_url=engine.host, tls=engine.tls or False, timeout=timeout)


def ping(timeout: float = 1.0) -> tuple[bool, str]:
    """(True, version) when the engine answers a ping; (False, why) otherwise."""
    present, why = maybe_present()
    if not present:
        return False, why
    try:
        engine = locate()
    except UserError as err:
        return False, err.text
    sdk = None
    try:
        sdk = client(timeout, engine)
        sdk.ping()
        return True, str(sdk.version().get("Version", "?"))
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return False, f"{engine.describe()}: {why}"
    finally:
        if sdk is not None:
            try:
                sdk.close()
            except Exception:
                pass
