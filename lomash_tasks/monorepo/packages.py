"""A service's Node package as its monorepo declares it: package.json, scripts, lockfiles, and
which package manager installs it from where.

pnpm decides membership from the root's `pnpm-workspace.yaml` (`packages:` globs, `!` to
exclude); a member is installed by the workspace's pnpm at the root, whatever lockfile lies in
its own folder. Any other service is its own project: its lockfile names its package manager
(`package-lock.json` / `npm-shrinkwrap.json`: npm, `pnpm-lock.yaml`: pnpm, `yarn.lock`: yarn),
its `packageManager` field breaks a tie, and without either it is an npm project with no
lockfile. Nothing here runs a program: it reads files.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCKFILES = (
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
)
MANAGERS = ("pnpm", "npm", "yarn")


@dataclass(frozen=True)
class Finding:
    """Something a monorepo file says that the suite acts on: which file and key, what it says."""

    file: str  # relative to the workspace root
    key: str
    message: str
    blocking: bool = False  # it stops something from working (not only a note)

    def line(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "file": self.file,
            "key": self.key,
            "message": self.message,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Installer:
    """How a service's Node dependencies get installed."""

    manager: str  # pnpm | npm | yarn | bun
    folder: Path  # where the install runs (the root for pnpm members)
    lockfile: Path | None  # the lockfile that install follows (None: there is none)
    member: bool = False  # a member of the root's pnpm workspace
    version: str | None = None  # the version a `packageManager` field names
    declared_by: str = ""  # which file said so ("pnpm-workspace.yaml", a lockfile, ...)
    conflicts: tuple[Path, ...] = ()  # other lockfiles found beside (or ignored for) this one
    problem: str | None = None  # why the suite cannot tell how to install it

    @property
    def frozen_command(self) -> list[str]:
        """The install that follows the lockfile exactly (without the executable's path)."""
        if self.manager == "npm":
            return ["ci"] if self.lockfile else ["install", "--no-package-lock"]
        if self.manager == "pnpm":
            return ["install", "--frozen-lockfile"] if self.lockfile else ["install"]
        if self.manager == "yarn":
            return ["install", "--frozen-lockfile"] if self.lockfile else ["install"]
        return ["install"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "folder": str(self.folder),
            "lockfile": str(self.lockfile) if self.lockfile else None,
            "member": self.member,
            "version": self.version,
            "declared_by": self.declared_by,
            "conflicts": [str(p) for p in self.conflicts],
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Root:
    """What the monorepo's root says about packages: workspace globs, packageManager."""

    path: Path
    package: Mapping[str, Any] | None
    globs: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def package_manager(self) -> tuple[str, str | None] | None:
        return parse_package_manager((self.package or {}).get("packageManager"))

    def is_member(self, folder: Path) -> bool:
        """True when pnpm-workspace.yaml's globs take in `folder` (a path under the root)."""
        try:
            rel = folder.resolve().relative_to(self.path.resolve()).as_posix()
        except ValueError:
            return False
        included = False
        for glob in self.globs:
            negated = glob.startswith("!")
            pattern = glob[1:] if negated else glob
            if _glob_match(rel, pattern):
                included = not negated
        return included


def _glob_match(rel: str, pattern: str) -> bool:
    """pnpm's package globs: `*` is one path segment, `**` any number of them."""
    pattern = pattern.strip().strip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    parts, pats = rel.split("/"), pattern.split("/")

    def match(i: int, j: int) -> bool:
        if j == len(pats):
            return i == len(parts)
        if pats[j] == "**":
            return any(match(k, j + 1) for k in range(i, len(parts) + 1))
        return i < len(parts) and fnmatch.fnmatchcase(parts[i], pats[j]) and match(i + 1, j + 1)

    return match(0, 0)


def parse_package_manager(value: Any) -> tuple[str, str | None] | None:
    """`"pnpm@9.1.4+sha512.abc"` -> ("pnpm", "9.1.4"); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    name, _, raw = value.strip().partition("@")
    return name, raw.split("+", 1)[0] or None


def read_json(path: Path) -> tuple[Mapping[str, Any] | None, str | None]:
    """(data, None), or (None, why) for a file that is missing or not a JSON object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot be read ({exc})"
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"is not valid JSON (line {getattr(exc, 'lineno', '?')}: {exc})"
    if not isinstance(data, dict):
        return None, "is not a JSON object"
    return data, None


def read_root(root: Path) -> Root:
    import yaml

    findings: list[Finding] = []
    package, why = read_json(root / "package.json")
    if why:
        findings.append(Finding("package.json", "", why))
    globs: tuple[str, ...] = ()
    ws_file = root / "pnpm-workspace.yaml"
    if ws_file.is_file():
        try:
            data = yaml.safe_load(ws_file.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("pnpm-workspace.yaml", "", f"cannot be read ({exc})"))
            data = {}
        raw = data.get("packages") if isinstance(data, dict) else None
        if isinstance(raw, list):
            globs = tuple(str(g) for g in raw if isinstance(g, (str, int)))
    return Root(root, package, globs, tuple(findings))


def installer_for(
    root: Root, folder: Path, package: Mapping[str, Any] | None, relative: str
) -> Installer:
    """How the service in `folder` (relative path `relative`) is installed."""
    own = [(folder / name, manager) for name, manager in LOCKFILES if (folder / name).is_file()]
    root_pm = root.package_manager
    if root.is_member(folder):
        lock = root.path / "pnpm-lock.yaml"
        version = root_pm[1] if root_pm and root_pm[0] == "pnpm" else None
        return Installer(
            "pnpm",
            root.path,
            lock if lock.is_file() else None,
            member=True,
            version=version,
            declared_by="pnpm-workspace.yaml",
            conflicts=tuple(p for p, _ in own),
        )
    declared = parse_package_manager((package or {}).get("packageManager"))
    if len(own) == 1:
        path, manager = own[0]
        version = declared[1] if declared and declared[0] == manager else None
        return Installer(
            manager, folder, path, version=version, declared_by=f"{relative}/{path.name}"
        )
    if len(own) > 1:
        names = ", ".join(p.name for p, _ in own)
        if declared is not None:
            chosen = [(p, m) for p, m in own if m == declared[0]]
            if chosen:
                path, manager = chosen[0]
                return Installer(
                    manager,
                    folder,
                    path,
                    version=declared[1],
                    declared_by=f"{relative}/package.json packageManager",
                    conflicts=tuple(p for p, _ in own if p != path),
                )
        return Installer(
            own[0][1],
            folder,
            own[0][0],
            conflicts=tuple(p for p, _ in own[1:]),
            problem=(
                f"{relative} has the lockfiles of more than one package "
                f"manager ({names}) and no packageManager field to choose: "
                f"delete the one the team does not use, or add "
                f'"packageManager" to {relative}/package.json'
            ),
        )
    if declared is not None and declared[0] in MANAGERS:
        return Installer(
            declared[0],
            folder,
            None,
            version=declared[1],
            declared_by=f"{relative}/package.json packageManager",
        )
    return Installer("npm", folder, None, declared_by="no lockfile (npm, the Node default)")


def dependency_range(package: Mapping[str, Any] | None, name: str) -> str | None:
    for key in ("dependencies", "devDependencies", "optionalDependencies"):
        deps = (package or {}).get(key)
        if isinstance(deps, dict) and isinstance(deps.get(name), str):
            return deps[name]
    return None


def workspace_protocol_deps(package: Mapping[str, Any] | None) -> list[str]:
    """Dependencies written `workspace:...` (only a pnpm/yarn workspace can resolve them)."""
    out = []
    for key in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        deps = (package or {}).get(key)
        if isinstance(deps, dict):
            out += [n for n, v in deps.items() if isinstance(v, str) and v.startswith("workspace:")]
    return out


def installed_version(start: Path, stop: Path, name: str) -> tuple[str | None, Path | None]:
    """The version of package `name` that Node resolves from `start` (walking up to `stop`)."""
    folder = start.resolve()
    stop = stop.resolve()
    while True:
        manifest = folder / "node_modules" / name / "package.json"
        if manifest.is_file():
            data, _ = read_json(manifest)
            version = (data or {}).get("version")
            return (str(version) if version else None), manifest.parent
        if folder == stop or folder.parent == folder:
            return None, None
        folder = folder.parent
