"""Overlays (`overlay_files/<name>.yaml`): where the stack's parts are reached from one place
code runs.

An overlay is data: each part's host and port. `env.align` writes them into the `.env` files
it aligns (URLs, `*_HOST` / `*_PORT` keys, AWS endpoints), with the rest of what the stack serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lomash_tasks.errors import UserError, suggest
from lomash_tasks.registry import Registry
from lomash_tasks.settings import STACK_PARTS as PARTS

OVERLAY_DIR = Path(__file__).resolve().parent / "overlay_files"  # shipped in the package


@dataclass(frozen=True)
class Overlay:
    name: str
    hosts: dict[str, tuple[str, int]]  # part -> (host, port)

    def host(self, part: str) -> str:
        return self.hosts[part][0]

    def port(self, part: str) -> int:
        return self.hosts[part][1]


def available(folder: Path = OVERLAY_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load(name: str, registry: Registry, folder: Path = OVERLAY_DIR) -> Overlay:
    import yaml

    path = folder / f"{name}.yaml"
    names = available(folder)
    if not path.is_file():
        raise UserError(
            f"Unknown overlay '{name}'.{suggest(name, names)} "
            f"Overlays in {folder}: {', '.join(names) or 'none'}."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from None
    hosts = {}
    defaults = {
        "postgres": registry.postgres,
        "redis": registry.redis,
        "smtp": registry.smtp,
        "aws": registry.aws,
    }
    for part in PARTS:
        spec = data.get(part) or {}
        if not isinstance(spec, dict):
            raise UserError(f"{path}: '{part}' must be a mapping with 'host' and optional 'port'.")
        host = str(spec.get("host") or defaults[part].host)
        port = spec.get("port", defaults[part].port)
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise UserError(f"{path}: '{part}.port' must be a port number, not {port!r}.")
        hosts[part] = (host, port)
    return Overlay(name, hosts)
