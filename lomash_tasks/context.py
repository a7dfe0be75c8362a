"""From an Invoke context to the typed model: the registry, the workspace, the console.

Tasks call these three helpers and then hand plain data to the functions that do the work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from invoke import Config, Context

from lomash_tasks import configguard, console as _console, masking
from lomash_tasks.errors import UserError
from lomash_tasks.registry import CONFIG_FILE, Registry
from lomash_tasks.workspace import Workspace

SUITE_ROOT = Path(__file__).resolve().parents[1]
configguard.install()  # a bad INVOKE_* variable or -f file: a message, not a traceback


def plain(value: Any) -> Any:
    """Invoke's config proxies as plain dicts and lists."""
    if hasattr(value, "items") and callable(value.items):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def project_dir(ctx: Context) -> Path:
    prefix = getattr(ctx.config, "_project_prefix", None)
    return Path(prefix) if prefix else SUITE_ROOT


def registry(ctx: Context) -> Registry:
    source = str(project_dir(ctx) / CONFIG_FILE)
    return Registry.from_mapping(plain(ctx.config), source=source)


def workspace(ctx: Context, root: str | None = None) -> Workspace:
    """The workspace: `root` (a flag) beats `workspace.root` (config or INVOKE_WORKSPACE_ROOT)."""
    reg = registry(ctx)
    configured = root or plain(ctx.config).get("workspace", {}).get("root")
    if not configured:
        raise UserError("No workspace root is configured: set 'workspace.root' in invoke.yaml "
                        "or INVOKE_WORKSPACE_ROOT=/path/to/lomash-wood.")
    ws = Workspace.locate(configured, reg, base=project_dir(ctx))
    register_secrets(ws)
    return ws


def register_secrets(ws: Workspace) -> None:
    """Hide every secret-looking value of the workspace's env files from all output."""
    from lomash_tasks.env.files import read_env

    values = []
    for pair in ws.env_pairs():
        for path in (pair.env, pair.example):
            if not path.is_file():
                continue
            try:
                env = read_env(path)
            except UserError:
                continue  # reported by the task that reads the file for real
            values += [v for k, v in env.as_dict().items() if masking.is_secret_key(k)]
            values += [_url_password(v) for v in env.as_dict().values() if "://" in v]
    _console.get().add_mask(*values)


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


def console(ctx: Context | None = None) -> _console.Console:
    return _console.get()


def load_config(overrides: dict[str, Any] | None = None, env: bool = True) -> Config:
    """The suite's config as `inv` builds it (defaults, invoke.yaml, INVOKE_* variables).

    For scripts and tests that call the plain functions without going through `inv`.
    """
    from lomash_tasks.tasks import namespace  # the composed collection carries every subtree's defaults

    config = Config(project_location=str(SUITE_ROOT), defaults=None)
    config.load_collection(namespace.configuration())
    config.load_project()
    if env:
        config.load_shell_env()
    if overrides:
        config.load_overrides(overrides)
    return config


def environ_flag(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def target(ctx: Context, name: str | None, ws: Workspace):
    """The `--target NAME` (a `remote.targets.Target`), or None for `local` / no flag."""
    if not name or str(name).strip() == "local":
        return None
    from lomash_tasks.remote import targets

    return targets.load(plain(ctx.config), name, ws.registry,
                        source=str(project_dir(ctx) / CONFIG_FILE))
