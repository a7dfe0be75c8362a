"""`inv clean`: what the suite and the services leave in the workspace that can be made again.

    plan(ws, everything=False) -> CleanPlan     what would go (and what stays, and why)
    remove(plan) -> list[Removal]               remove it (refused while the stack runs)

What goes:
- the suite's own state that is no data: install logs (`.lomash/deps/`), the services'
  supervisor state and logs (`.lomash/services/`), the dashboard's and the last setup's files,
  the Compose classic-builder file;
- each package's build output and caches **as the monorepo declares them**: turbo.json's
  `outputs` (turbo's `.turbo/` caches too), tsconfig.json's `outDir` and `tsBuildInfoFile`, the
  paths a package.json `clean` script removes (`rm -rf dist coverage`, `rimraf ...`), and
  `node_modules/.cache`; nothing the monorepo does not name.
- with `everything` (`--all`): also every `node_modules` the packages install into and the
  `.env.bak-*` backups the suite made.

What always stays: the stack's data (`.lomash/postgres`, `redis`, `aws`, `smtp`: `inv teardown
--volumes` is the way to remove it), the audit log of targets, backups (`.lomash/backups/`),
the `.env` files, and anything outside the workspace. Paths are checked to lie inside their
package (a symlink is removed as a link, never followed).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace

SUITE_STATE = ("deps", "services", "dashboard", "setup-summary.json", "compose-classic-builder.yml")
KEPT_STATE = {
    "postgres": "the embedded PostgreSQL's data (`inv teardown --volumes` removes it)",
    "redis": "the embedded Redis's data (`inv teardown --volumes`)",
    "aws": "the embedded AWS endpoint's data (`inv teardown --volumes`)",
    "smtp": "the mail trap's messages (`inv teardown --volumes`)",
    "postgres.location": "where the embedded PostgreSQL's data lives",
    "seeded.json": "which seeds ran on the stack's data",
    "aws-bootstrap.json": "what `inv aws.bootstrap` made on the stack's AWS endpoint",
    "backups": "database backups taken before migrations on targets: delete them by hand",
    "remote-audit.log": "the audit log of actions on targets",
}
CACHE_DIRS = ("node_modules/.cache", ".turbo")
REMOVERS = ("rm", "rimraf", "del", "del-cli", "shx")


@dataclass(frozen=True)
class Item:
    path: Path
    why: str  # "turbo.json outputs", "tsconfig.json outDir", "the suite's install logs"
    bytes: int = 0


@dataclass
class CleanPlan:
    ws: Workspace
    remove: list[Item] = field(default_factory=list)
    keep: list[Item] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # what runs in this workspace now

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.remove)


@dataclass
class Removal:
    item: Item
    error: str = ""


# -- what the packages declare ------------------------------------------------------------------
def packages(ws: Workspace) -> list[Path]:
    """The root and every package of the registry (the gateway and the services)."""
    found = [ws.root]
    for svc in ws.registry.services:
        folder = ws.service_dir(svc)
        if folder.is_dir() and folder not in found:
            found.append(folder)
    return found


def _top(pattern: str) -> str | None:
    """The folder or file a glob's fixed start names (`dist/**` -> dist), or None."""
    parts = []
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    for part in text.split("/"):
        if not part or any(ch in part for ch in "*?[{"):
            break
        parts.append(part)
    return "/".join(parts) or None


def _turbo_outputs(root: Path) -> list[str]:
    import json

    path = root / "turbo.json"
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    tasks = data.get("tasks") or data.get("pipeline") or {}
    out: list[str] = []
    for spec in tasks.values() if isinstance(tasks, dict) else []:
        for pattern in (spec or {}).get("outputs") or [] if isinstance(spec, dict) else []:
            if isinstance(pattern, str) and not pattern.startswith("!"):
                top = _top(pattern)
                if top and top not in out:
                    out.append(top)
    return out


def _tsconfig_outputs(folder: Path) -> list[tuple[str, str]]:
    from lomash_tasks.debug import jsonc

    path = folder / "tsconfig.json"
    if not path.is_file():
        return []
    try:
        data = jsonc.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    options = data.get("compilerOptions") or {} if isinstance(data, dict) else {}
    found = []
    for key in ("outDir", "tsBuildInfoFile", "declarationDir"):
        value = options.get(key)
        if isinstance(value, str) and value.strip():
            found.append((value.strip(), f"tsconfig.json {key}"))
    return found


def _clean_script(folder: Path) -> list[str]:
    """The paths a package.json `clean` script removes (`rm -rf dist coverage`, `rimraf x`)."""
    from lomash_tasks.monorepo.packages import read_json

    package, _ = read_json(folder / "package.json")
    script = ((package or {}).get("scripts") or {}).get("clean") if package else None
    if not isinstance(script, str):
        return []
    out: list[str] = []
    for command in re.split(r"&&|;|\|\|", script):
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        while words and ("=" in words[0] or words[0] in ("npx", "pnpm", "exec")):
            words = words[1:]
        if not words or Path(words[0]).name not in REMOVERS:
            continue
        out += [w for w in words[1:] if not w.startswith("-") and not any(c in w for c in "*?$`")]
    return out


def _inside(path: Path, folder: Path) -> bool:
    """`path` (not followed if it is a link) lies inside `folder`, and is not the folder."""
    try:
        parent = path.parent.resolve()
        target = parent / path.name
        return target != folder.resolve() and target.is_relative_to(folder.resolve())
    except OSError:
        return False


def declared(ws: Workspace) -> list[Item]:
    """Every build output and cache the monorepo's packages declare that exists now."""
    found: dict[Path, Item] = {}
    turbo = _turbo_outputs(ws.root)

    def add(folder: Path, relative: str, why: str) -> None:
        if relative.startswith("/") or ".." in Path(relative).parts:
            return
        path = folder / relative
        if "node_modules" in Path(relative).parts and relative not in CACHE_DIRS:
            return  # dependencies (and a generated client) go with --all only
        if (path.exists() or path.is_symlink()) and _inside(path, folder) and path not in found:
            found[path] = Item(path, why)

    for folder in packages(ws):
        for relative in turbo:
            add(folder, relative, "turbo.json outputs")
        for relative, why in _tsconfig_outputs(folder):
            add(folder, relative, why)
        for relative in _clean_script(folder):
            add(folder, relative, "its package.json clean script")
        for relative in CACHE_DIRS:
            add(folder, relative, "a cache" if relative != ".turbo" else "turbo's cache")
    return list(found.values())


def _dependencies(ws: Workspace) -> list[Item]:
    found: dict[Path, Item] = {}
    for folder in packages(ws):
        path = folder / "node_modules"
        if path.exists() or path.is_symlink():
            found.setdefault(
                path, Item(path, "dependencies (`inv setup --only deps` installs them again)")
            )
    return list(found.values())


def _env_backups(ws: Workspace) -> list[Item]:
    out = []
    for folder in packages(ws):
        for path in sorted(folder.glob(".env*.bak-*")):
            out.append(Item(path, "a backup of an env file the suite made"))
    return out


# -- the plan -----------------------------------------------------------------------------------
def running(ws: Workspace) -> list[str]:
    """What the suite runs in this workspace now (the embedded stack's servers, the services'
    supervisor)."""
    from lomash_tasks.services.embedded import EmbeddedServices
    from lomash_tasks.stack import PARTS
    from lomash_tasks.stack.base import Settings
    from lomash_tasks.stack.embedded import EmbeddedBackend

    if not ws.state_dir.is_dir():
        return []
    found = []
    backend = EmbeddedBackend(ws, Settings())
    for part in PARTS:
        pid = backend.part(part).pid()
        if pid is not None:
            found.append(f"{part} (pid {pid})")
    supervisor = EmbeddedServices(ws).supervisor_pid()
    if supervisor is not None:
        found.append(f"the services' supervisor (pid {supervisor})")
    return found


def plan(ws: Workspace, everything: bool = False) -> CleanPlan:
    out = CleanPlan(ws, running=running(ws))
    state = ws.state_dir
    if state.is_dir():
        for name in SUITE_STATE:
            path = state / name
            if path.exists():
                out.remove.append(Item(path, "the suite's own state (logs, last results)"))
        for name, why in KEPT_STATE.items():
            path = state / name
            if path.exists():
                out.keep.append(Item(path, why))
    out.remove += declared(ws)
    if everything:
        out.remove += _dependencies(ws) + _env_backups(ws)
    out.remove = [replace_size(i) for i in out.remove]
    return out


def replace_size(item: Item) -> Item:
    return Item(item.path, item.why, size(item.path))


def size(path: Path) -> int:
    """Bytes under `path`, links not followed (a link counts as itself)."""
    try:
        if path.is_symlink() or not path.is_dir():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def remove(cleaning: CleanPlan) -> list[Removal]:
    """Remove what the plan lists; refused (nothing removed) while the stack runs here."""
    if cleaning.running:
        raise UserError(
            f"The stack runs in this workspace ({', '.join(cleaning.running)}): "
            f"`inv clean` removes nothing while it does (its state and the "
            f"services' files are in use). Stop it first (`inv teardown`; its data "
            f"is kept), or `inv clean --dry` to see what would go."
        )
    done = []
    for item in cleaning.remove:
        try:
            if item.path.is_symlink() or not item.path.is_dir():
                item.path.unlink(missing_ok=True)
            else:
                shutil.rmtree(item.path)
            done.append(Removal(item))
        except OSError as exc:
            done.append(Removal(item, f"{exc.strerror or exc}"))
    return done


def human(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def rows(cleaning: CleanPlan) -> list[list[Any]]:
    ws = cleaning.ws
    return [
        [
            ws.relative(i.path) + ("/" if i.path.is_dir() and not i.path.is_symlink() else ""),
            human(i.bytes),
            i.why,
        ]
        for i in cleaning.remove
    ]


def kept_rows(cleaning: CleanPlan) -> Iterable[list[Any]]:
    ws = cleaning.ws
    return [[ws.relative(i.path), i.why] for i in cleaning.keep]
