"""Running, watching and logging the nine services, on either backend.

    get(ws, settings, stack_settings, name=None) -> EmbeddedServices | ComposeServices

embedded (`services/embedded.py` + `services/supervisor.py`): each service's own `dev` script
(hot reload) under a small supervisor of the suite's own; compose (`services/compose.py`): the
workspace's Compose files define the services, started and read through the one Compose helper.
Kept free of imports: the supervisor process imports this package and stays small.
"""

from __future__ import annotations

from typing import Any


def get(ws: Any, settings: Any = None, stack_settings: Any = None, name: str | None = None):
    """The services backend: `name` (a --backend flag) beats service_options.backend, which
    beats stack.backend. `auto` follows what runs: a supervisor in this workspace means embedded."""
    from lomash_tasks.services.embedded import EmbeddedServices
    from lomash_tasks.services.model import Settings
    from lomash_tasks.stack import resolve
    from lomash_tasks.stack.base import Settings as StackSettings

    settings = settings or Settings()
    stack_settings = stack_settings or StackSettings()
    chosen = (
        name
        or (settings.backend if settings.backend != "auto" else "")
        or stack_settings.backend
        or "auto"
    )
    embedded = EmbeddedServices(ws, settings)
    if str(chosen).strip().lower() == "auto" and embedded.running():
        return embedded
    if resolve(chosen, stack_settings, ws) == "compose":
        from lomash_tasks.services.compose import ComposeServices

        return ComposeServices(ws, settings, stack_settings)
    return embedded
