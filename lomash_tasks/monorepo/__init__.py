"""What the monorepo's own files say about each service, read once, never assumed.

The registry is the map of the stack (ports, databases, roles, Redis indexes); everything else
about a service comes from its folder:

    facts = monorepo.read(root, svc)      # (Workspace.facts(svc) caches it per workspace)
    facts.installer     how its Node dependencies install (pnpm workspace member, or its own
                        npm / pnpm / yarn project), from where, following which lockfile
    facts.scripts       package.json scripts (the dev command is chosen from them)
    facts.prisma        config file, schema, migrations folder, the datasource url's variable,
                        the installed CLI's version and whether it can run here
    facts.seed          how it seeds: prisma/seed.sql, Prisma's seed command
                        (migrations.seed / package.json prisma.seed), or a db:seed script
    facts.findings      where its files disagree with the stack or cannot be read (file, key)

Reading is plain file access (no program runs), a few milliseconds per service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks.monorepo.packages import (
    Finding,
    Installer,
    Root,
    installer_for,
    read_json,
    read_root,
    workspace_protocol_deps,
)
from lomash_tasks.monorepo.prismaconf import PrismaLayout, read_layout
from lomash_tasks.registry import Service

__all__ = [
    "Finding",
    "Installer",
    "PrismaLayout",
    "Seed",
    "ServiceFacts",
    "read",
    "read_root",
    "SEED_SCRIPTS",
    "Root",
    "sql_seed",
]

SEED_SCRIPTS = ("db:seed", "prisma:seed", "seed")  # package.json scripts that seed, in order
SQL_SEED = "seed.sql"


@dataclass(frozen=True)
class Seed:
    """How a service seeds its database."""

    kind: str  # "sql" (a file the suite runs), "command" (Prisma's seed
    # command line), "script" (a package.json script)
    command: str  # the SQL file's path, the command line, or the script's name
    source: str  # where it was found, for messages ("package.json prisma.seed")
    files: tuple[Path, ...] = ()  # the files it runs (for "did it change" checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "command": self.command,
            "source": self.source,
            "files": [str(p) for p in self.files],
        }


@dataclass(frozen=True)
class ServiceFacts:
    service: Service
    folder: Path
    relative: str  # the folder relative to the workspace root
    exists: bool
    package: Mapping[str, Any] | None
    installer: Installer
    prisma: PrismaLayout
    seed: Seed | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def scripts(self) -> dict[str, str]:
        raw = (self.package or {}).get("scripts")
        return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}

    @property
    def node_modules(self) -> Path:
        return self.folder / "node_modules"

    def installed(self) -> bool:
        """Its dependencies are installed where Node will look for them."""
        if not self.node_modules.is_dir():
            return False
        if self.installer.member:
            return (self.installer.folder / "node_modules").is_dir()
        if self.installer.manager == "npm":
            # npm writes this file at the end of every install; a half-made tree lacks it
            return (
                self.node_modules / ".package-lock.json"
            ).is_file() or self.installer.lockfile is None
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service.name,
            "folder": self.relative,
            "exists": self.exists,
            "installer": self.installer.as_dict(),
            "scripts": self.scripts,
            "prisma": self.prisma.as_dict(),
            "seed": self.seed.as_dict() if self.seed else None,
            "installed": self.installed(),
            "findings": [f.as_dict() for f in self.findings],
        }


def _command_files(folder: Path, command: str) -> tuple[Path, ...]:
    """The files of the service a command line names (`ts-node prisma/seed.ts` -> seed.ts)."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    found = []
    for word in words[1:]:
        path = folder / word
        if not word.startswith("-") and path.is_file():
            found.append(path)
    return tuple(found)


def sql_seed(
    folder: Path, relative: str, prisma: PrismaLayout, name: str = SQL_SEED
) -> Seed | None:
    """A plain SQL seed called `name` (`seed.sql`, a profile's `seed.demo.sql`) in prisma/ or
    beside the schema, if there is one."""
    places = [folder / "prisma" / name]
    if prisma.schema is not None:
        beside = (prisma.schema if prisma.schema.is_dir() else prisma.schema.parent) / name
        if beside not in places:
            places.append(beside)
    for path in places:
        if path.is_file():
            rel = path.relative_to(folder).as_posix()
            return Seed("sql", str(path), f"{relative}/{rel}", (path,))
    return None


def find_seed(
    folder: Path, relative: str, prisma: PrismaLayout, scripts: Mapping[str, str]
) -> Seed | None:
    """The seed, by the conventions in order: prisma/seed.sql (run by the suite), Prisma's seed
    command (the config's migrations.seed, then package.json prisma.seed), a seed script."""
    found = sql_seed(folder, relative, prisma)
    if found is not None:
        return found
    if prisma.config_seed:
        name = prisma.config.name if prisma.config else "prisma.config.ts"
        return Seed(
            "command",
            prisma.config_seed,
            f"{relative}/{name} migrations.seed",
            _command_files(folder, prisma.config_seed),
        )
    if prisma.package_seed:
        return Seed(
            "command",
            prisma.package_seed,
            f"{relative}/package.json prisma.seed",
            _command_files(folder, prisma.package_seed),
        )
    for name in SEED_SCRIPTS:
        if name in scripts:
            return Seed(
                "script",
                name,
                f"{relative}/package.json scripts.{name}",
                _command_files(folder, scripts[name]),
            )
    return None


def read(root: Path, svc: Service, root_facts: Root | None = None) -> ServiceFacts:
    """Everything the service's folder says about it (see the module's docstring)."""
    root = Path(root)
    folder = root / svc.path
    relative = Path(svc.path).as_posix()
    root_facts = root_facts or read_root(root)
    findings: list[Finding] = []
    exists = folder.is_dir()
    package, why = read_json(folder / "package.json")
    if not exists:
        findings.append(
            Finding(
                relative,
                "",
                f"does not exist (the registry places {svc.name} there: services.{svc.name}.path)",
                blocking=True,
            )
        )
    elif why:
        findings.append(Finding(f"{relative}/package.json", "", why, blocking=True))
    elif package is None:
        findings.append(Finding(f"{relative}/package.json", "", "is missing", blocking=True))
    installer = installer_for(root_facts, folder, package, relative)
    if installer.member and installer.conflicts:
        names = ", ".join(p.name for p in installer.conflicts)
        findings.append(
            Finding(
                f"{relative}/{installer.conflicts[0].name}",
                "",
                f"is not used: {svc.name} is a member of the pnpm workspace "
                f"(pnpm-workspace.yaml), installed from the root's lockfile "
                f"({names} ignored)",
            )
        )
    elif installer.problem:
        findings.append(Finding(relative, "lockfiles", installer.problem, blocking=True))
    elif installer.conflicts:
        findings.append(
            Finding(
                relative,
                "lockfiles",
                f"{', '.join(p.name for p in installer.conflicts)} ignored: "
                f"packageManager says {installer.manager}",
            )
        )
    stray = workspace_protocol_deps(package)
    if stray and not installer.member:
        findings.append(
            Finding(
                f"{relative}/package.json",
                "dependencies",
                f"{', '.join(stray)} use the workspace: protocol, but "
                f"{svc.name} is not a member of the pnpm workspace "
                f"(pnpm-workspace.yaml does not list {relative}): "
                f"{installer.manager} cannot install them",
                blocking=True,
            )
        )
    prisma = read_layout(folder, relative, package, root)
    findings += prisma.findings
    scripts = (package or {}).get("scripts")
    seed = (
        find_seed(folder, relative, prisma, scripts if isinstance(scripts, dict) else {})
        if svc.has_database
        else None
    )
    if seed is not None and seed.kind != "sql":
        line = seed.command if seed.kind == "command" else str((scripts or {}).get(seed.command))
        for word in line.split()[1:]:
            if (
                re.fullmatch(r"[\w./-]+\.(?:ts|js|mjs|cjs|mts|cts)", word)
                and not (folder / word).exists()
            ):
                findings.append(
                    Finding(
                        seed.source.split(" ")[0],
                        seed.source.split(" ")[-1],
                        f"runs {word}, which does not exist",
                        blocking=True,
                    )
                )
    return ServiceFacts(
        svc, folder, relative, exists, package, installer, prisma, seed, tuple(findings)
    )
