"""From an Invoke context to the typed model: settings, the registry, the workspace, the console.

Tasks call these helpers once and hand plain data to the functions that do the work. Every
helper falls back to the packaged defaults for what the context's config lacks, so a task run
as a pre-call of a monorepo's own collection sees the same settings, validated the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from invoke import Config, Context

from lomash_tasks import commands, configguard, masking, settings
from lomash_tasks import console as _console
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry
from lomash_tasks.settings import plain
from lomash_tasks.workspace import HINT, Workspace, find_root

configguard.install()  # a bad INVOKE_* variable or -f file: a message, not a traceback
commands.terminate_as_interrupt()  # `kill <inv>` cleans up as Ctrl-C does

S = TypeVar("S", bound=settings.Section)


def project_dir(ctx: Context) -> Path:
    """The folder of the project's invoke.yaml (relative config paths are taken from it)."""
    prefix = getattr(ctx.config, "_project_prefix", None)
    return Path(prefix) if prefix else Path.cwd()


# Invoke's own top-level keys, and the suite's besides its sections (validated elsewhere).
INVOKE_KEYS = ("tasks", "run", "runners", "sudo", "timeouts")
OTHER_KEYS = ("targets",)
LOW_LAYERS = ("_defaults", "_collection", "_system", "_user")
HIGH_LAYERS = ("_project", "_env", "_runtime", "_overrides", "_modifications")


def data(ctx: Context) -> dict[str, Any]:
    """The context's config as plain data over the packaged defaults.

    The order, weakest first: the suite's packaged defaults, the workspace's own invoke.yaml
    (when `inv` runs with another project's invoke.yaml, e.g. one whose `workspace.root`
    names it), the project's invoke.yaml, INVOKE_* variables, an `-f` file, flags. A key the
    suite does not know but nearly does (`servcies`, `INVOKE_INFRA_POSTGRES_PROT`) is refused:
    a typo must not be silently ignored.

    Merged and validated once per config object: the result (and every section read from it)
    is kept on the config and used again while the config holds the same data, the same
    INVOKE_* variables are set and the workspace's own invoke.yaml is unchanged. Read it, never
    change it.
    """
    return _merged(ctx).full


class _Merged:
    """One config's merged data and its sections, with what it was computed from."""

    __slots__ = ("full", "key", "sections")

    def __init__(self, key: tuple[Any, ...], full: dict[str, Any]) -> None:
        self.key = key
        self.full = full
        self.sections: dict[type[settings.Section], settings.Section] = {}


CACHE_ATTR = "_lomash_merged"  # on the Config object itself: it goes when the config goes


def _merged(ctx: Context) -> _Merged:
    cfg = ctx.config
    raw = plain(cfg)
    own_path = _workspace_file_path(ctx, raw)
    key = (raw, own_path, sorted((k, v) for k, v in os.environ.items() if k.startswith("INVOKE_")))
    cached = getattr(cfg, "__dict__", {}).get(CACHE_ATTR)
    if isinstance(cached, _Merged) and cached.key == key:
        return cached
    full = settings.merged(settings.all_defaults(), raw)
    own = _workspace_file(own_path)
    if own is not None:
        full = settings.all_defaults()
        for name in LOW_LAYERS:
            full = settings.merged(full, plain(getattr(cfg, name, None) or {}))
        full = settings.merged(full, own)
        for name in HIGH_LAYERS:
            full = settings.merged(full, plain(getattr(cfg, name, None) or {}))
    _refuse_near_misses(full)
    result = _Merged(key, full)
    for section in settings.SECTIONS:  # every setting checked, whichever task runs
        result.sections[section] = section.load(full)
    try:
        object.__setattr__(cfg, CACHE_ATTR, result)  # not a config key: Invoke's proxy skipped
    except (AttributeError, TypeError):
        pass  # a config that takes no attribute: merged again next time
    return result


_OWN_FILES: dict[tuple[str, float], dict[str, Any]] = {}


def _workspace_file_path(ctx: Context, raw: dict[str, Any]) -> tuple[str, float] | None:
    """The workspace's own invoke.yaml (path, mtime), when it is not the project file Invoke
    already read."""
    workspace = raw.get("workspace")
    root = str((workspace.get("root") if isinstance(workspace, dict) else "") or "")
    if root:
        folder = Path(root).expanduser()
        if not folder.is_absolute():
            folder = project_dir(ctx) / folder
    else:
        found = find_root(Path.cwd())
        if found is None:
            return None
        folder = found
    path = folder / "invoke.yaml"
    project = project_dir(ctx) / "invoke.yaml"
    try:
        if not path.is_file() or (project.exists() and path.samefile(project)):
            return None
        return (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        return None


def _workspace_file(key: tuple[str, float] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    if key not in _OWN_FILES:
        loaded = configguard.load_yaml(Path(key[0])) or {}
        loaded.pop("workspace", None)  # the workspace file cannot move the workspace
        _OWN_FILES[key] = loaded
    return _OWN_FILES[key]


def _refuse_near_misses(full: dict[str, Any]) -> None:
    from lomash_tasks.errors import suggest

    known = set(settings.all_defaults()) | set(INVOKE_KEYS) | set(OTHER_KEYS)
    for key in full:
        if key not in known and suggest(str(key), known):
            raise UserError(
                f"Unknown config key '{key}'.{suggest(str(key), known)} A "
                f"misspelt key is not applied: fix it in invoke.yaml (or the -f "
                f"file) and run again."
            )
    sections = [k for k in settings.all_defaults()]
    names = set()

    def walk(value: Any, path: tuple[str, ...]) -> None:
        names.add(configguard.env_name("INVOKE_", path))
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, str(k)))

    for section in sections:
        walk(full.get(section), (section,))
    prefixes = tuple(configguard.env_name("INVOKE_", (section,)) + "_" for section in sections)
    for var in os.environ:
        if var.startswith(prefixes) and var not in names:
            near = suggest(var, sorted(names))
            if near or not var.startswith(("INVOKE_SERVICES_",)):
                raise UserError(
                    f"The environment variable {var} names no config key of the "
                    f"suite, so it would be ignored.{near} Fix or unset it "
                    f"(`unset {var}`) and run again."
                )


def section(ctx: Context, cls: type[S]) -> S:
    """One namespace's settings, typed and validated (a bad value names its key)."""
    merged = _merged(ctx)
    if cls not in merged.sections:
        merged.sections[cls] = cls.load(merged.full)
    return merged.sections[cls]  # type: ignore[return-value]


def registry(ctx: Context, config: dict[str, Any] | None = None) -> Registry:
    source = str(project_dir(ctx) / "invoke.yaml")
    return Registry.from_mapping(config if config is not None else data(ctx), source=source)


def workspace(
    ctx: Context, root: str | None = None, config: dict[str, Any] | None = None
) -> Workspace:
    """The workspace: `root` (a flag) beats `workspace.root` (--root, INVOKE_WORKSPACE_ROOT,
    invoke.yaml), which beats the nearest folder up from here holding pnpm-workspace.yaml.
    `config`: `data(ctx)` when the caller has read it already."""
    config = config if config is not None else data(ctx)  # once: registry and workspace
    reg = registry(ctx, config)
    configured = root or settings.WorkspaceSettings.load(config).root
    if configured:
        ws = Workspace.locate(configured, reg, base=project_dir(ctx))
    else:
        found = find_root(Path.cwd())
        if found is None:
            raise UserError(
                f"No Lomash Wood workspace was found at or above {Path.cwd()} (no "
                f"pnpm-workspace.yaml). {HINT}"
            )
        ws = Workspace.locate(found, reg)
    register_secrets(ws)
    return ws


def stack_backend(ctx: Context, flag: str | None = None) -> str:
    """The concrete stack backend for a --backend flag, else config `stack.backend`."""
    from lomash_tasks import stack as backends

    return backends.resolve(flag, section(ctx, settings.StackSettings))


def wait_for_part(ctx: Context, part: str, timeout: Any, default: float) -> Any:
    """A `*.wait` task's work: probe one part until ready (`--timeout`, else `default`)."""
    from lomash_tasks.stack import probes
    from lomash_tasks.values import timeout_flag

    ws = workspace(ctx)
    limit = timeout_flag(timeout, default)
    return probes.wait_for(ws, part, timeout=limit, backend=stack_backend(ctx))


def apply_run_options(ctx: Context) -> None:
    """Invoke's --echo / --dry reach the one command layer: done once per task call, by the
    task wrapper (`lomash_tasks.tasks.base.task`)."""
    run = getattr(ctx.config, "run", None)
    if run is not None:
        commands.configure(echo=bool(run.get("echo")), dry=bool(run.get("dry")))


def register_secrets(ws: Workspace) -> None:
    """Hide every secret-looking value of the workspace's env files from all output."""
    from lomash_tasks.env.files import read_env

    values = []
    for pair in ws.env_pairs():
        # another environment's files too (`.env.test`: their own secrets, if edited)
        others = [
            p
            for p in pair.env.parent.glob(".env.*")
            if pair.service is not None
            and not p.name.endswith(".example")
            and ".bak-" not in p.name
        ]
        for path in (pair.env, pair.example, *others):
            if not path.is_file():
                continue
            try:
                env = read_env(path)
            except UserError:
                continue  # reported by the task that reads the file for real
            values += [v for k, v in env.as_dict().items() if masking.is_secret_key(k)]
            values += [_url_password(v) or "" for v in env.as_dict().values() if "://" in v]
    _console.get().add_mask(*values)


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


def console(ctx: Context | None = None) -> _console.Console:
    """The one console (`ctx`: accepted for the callers that pass it; it changes nothing)."""
    return _console.get()


def load_config(
    overrides: dict[str, Any] | None = None,
    env: bool = True,
    project: str | os.PathLike[str] | None = None,
) -> Config:
    """The suite's config as `inv` builds it (packaged defaults, the project's invoke.yaml,
    INVOKE_* variables, then `overrides`), for scripts and tests that call the plain functions
    without going through `inv`. `project`: the folder of invoke.yaml (default: here)."""
    config = Config(project_location=Path(project or Path.cwd()), defaults=None)
    config.load_collection(settings.all_defaults())
    config.load_project()
    if env:
        config.load_shell_env()
    if overrides:
        config.load_overrides(overrides)
    return config


def target(ctx: Context, name: str | None, ws: Workspace):
    """The `--target NAME` (a `remote.targets.Target`), or None for `local` / no flag."""
    if not name or str(name).strip() == "local":
        return None
    from lomash_tasks.remote import targets

    return targets.load(data(ctx), name, ws.registry, source=str(project_dir(ctx) / "invoke.yaml"))


def environment(ctx: Context, name: str | None):
    """The `--env NAME` (a `db.environments.Environment`); development without the flag."""
    from lomash_tasks.db import environments

    return environments.load(data(ctx), name, source=str(project_dir(ctx) / "invoke.yaml"))
