"""Finding the monorepo root and the files in it that the tasks read and write."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry, Service

if TYPE_CHECKING:
    from lomash_tasks import monorepo

STATE_DIR = ".lomash"
COMPOSE_DIR = "infra/docker"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.override.yml")
INIT_SQL = "infra/docker/postgres/init.sql"
MARKERS = ("pnpm-workspace.yaml", "package.json")
WORKSPACE_MARKER = "pnpm-workspace.yaml"
ENV_FILE = ".env"


def find_root(start: str | os.PathLike[str]) -> Path | None:
    """The nearest folder at or above `start` holding pnpm-workspace.yaml (the monorepo's root)."""
    path = Path(start).resolve()
    for folder in (path, *path.parents):
        if (folder / WORKSPACE_MARKER).is_file():
            return folder
    return None


HINT = (
    "Run the task inside the monorepo (the suite finds the folder holding "
    "pnpm-workspace.yaml), or point it there: `lomash --root /path/to/repo ...`, "
    "INVOKE_WORKSPACE_ROOT=/path/to/repo, or the 'workspace.root' key of invoke.yaml."
)


@dataclass(frozen=True)
class EnvPair:
    """One `.env` and the `.env.example` it is made from."""

    label: str  # "root" or a service's full name
    example: Path
    env: Path
    service: Service | None = None


@dataclass(frozen=True)
class Workspace:
    root: Path
    registry: Registry
    # Acting on a target (`--target NAME`): its name, and each service's DATABASE_URL (by full
    # name, from the target's secrets; the registry's postgres then points at the tunnel).
    target: str = "local"
    database_urls: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # An environment other than development (`--env test`): its name, and the file each
    # service's variables live in (`.env.test`); the registry's databases are then its own
    # (`lomash_auth_test`, see `db.environments`). The root `.env` stays the stack's.
    environment: str = "development"
    env_file: str = ENV_FILE
    # What each service's own files say (monorepo.read), read once per workspace object.
    _facts: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @classmethod
    def locate(
        cls,
        root: str | os.PathLike[str],
        registry: Registry,
        base: str | os.PathLike[str] | None = None,
    ) -> Workspace:
        """The workspace at `root` (relative to `base`); a folder that is not one is an error."""
        path = Path(root).expanduser()
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        path = path.resolve()
        hint = HINT
        if not path.is_dir():
            raise UserError(f"Workspace root {path} does not exist or is not a folder. {hint}")
        missing = [m for m in MARKERS if not (path / m).is_file()]
        if missing:
            raise UserError(
                f"{path} is not a Lomash Wood workspace: it has no {' or '.join(missing)}. {hint}"
            )
        return cls(path, registry)

    # -- places ----------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        """Where the suite keeps its own state (servers' data, pids, logs); ignored by git."""
        return self.root / STATE_DIR

    def ensure_state_dir(self, *parts: str) -> Path:
        """Create (owner-only) and return a folder under the state dir."""
        from lomash_tasks import gitexclude

        path = self.state_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        gitexclude.hide_state(self.root)  # out of `git status`, whatever the repo ignores
        return path

    def service_dir(self, service: Service) -> Path:
        return self.root / service.path

    def facts(self, service: Service) -> monorepo.ServiceFacts:
        """What the service's own files say: installer, scripts, Prisma layout, seed."""
        from lomash_tasks import monorepo

        if service.name not in self._facts:
            if "" not in self._facts:
                self._facts[""] = monorepo.read_root(self.root)
            self._facts[service.name] = monorepo.read(self.root, service, self._facts[""])
        return self._facts[service.name]

    def migrations_dir(self, service: Service) -> Path:
        """The service's migrations folder, where its Prisma config (or the convention) puts it."""
        return self.facts(service).prisma.migrations

    def seed_file(self, service: Service) -> Path:
        return self.service_dir(service) / "prisma" / "seed.sql"

    @property
    def compose_dir(self) -> Path:
        return self.root / COMPOSE_DIR

    @property
    def compose_files(self) -> list[Path]:
        return [self.compose_dir / name for name in COMPOSE_FILES]

    @property
    def init_sql(self) -> Path:
        return self.root / INIT_SQL

    def relative(self, path: Path) -> str:
        """A path as the user knows it: relative to the workspace root when inside it."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    # -- env files -------------------------------------------------------------------------
    def env_pair(self, service: Service | None) -> EnvPair:
        """A service's env file and its example: `.env` and `.env.example`; in another
        environment its own file (`.env.test`) made from `.env.test.example` where the
        service has one, else from `.env.example`. The root pair is always `.env`: the stack's."""
        folder = self.root if service is None else self.service_dir(service)
        name = ENV_FILE if service is None else self.env_file
        example = folder / f"{name}.example"
        if name != ENV_FILE and not example.is_file():
            example = folder / f"{ENV_FILE}.example"
        return EnvPair("root" if service is None else service.name, example, folder / name, service)

    def base_env(self, service: Service | None) -> Path:
        """The development `.env` of a service (or the root), whatever the environment."""
        return (self.root if service is None else self.service_dir(service)) / ENV_FILE

    def env_pairs(self, services: Iterable[Service] | None = None) -> list[EnvPair]:
        """The root pair and each service's; only the named services' (no root) when given,
        or in another environment than development (whose files are the services' only)."""
        chosen = list(services) if services else None
        if chosen:
            return [self.env_pair(s) for s in chosen]
        if self.env_file != ENV_FILE:
            return [self.env_pair(s) for s in self.registry.services]
        return [self.env_pair(None)] + [self.env_pair(s) for s in self.registry.services]
