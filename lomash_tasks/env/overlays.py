"""Overlays (`overlay_files/<name>.yaml`): where the stack's parts are reached from one place code runs.

`apply` rewrites only connection values (hosts and ports) of `.env` text, line by line, and keeps
every other byte: comments, order, credentials, database names, Redis indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lomash_tasks.errors import UserError, suggest
from lomash_tasks.registry import Registry

OVERLAY_DIR = Path(__file__).resolve().parent / "overlay_files"  # shipped in the package
PARTS = ("postgres", "redis", "smtp", "aws")


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
        raise UserError(f"Unknown overlay '{name}'.{suggest(name, names)} "
                        f"Overlays in {folder}: {', '.join(names) or 'none'}.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from None
    hosts = {}
    defaults = {"postgres": registry.postgres, "redis": registry.redis,
                "smtp": registry.smtp, "aws": registry.aws}
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


_LINE = re.compile(r"^(?P<head>\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*)"
                   r"(?P<quote>[\"']?)(?P<value>[^\"'\n#]*?)(?P=quote)(?P<tail>\s*(?:#.*)?)$")


def apply(text: str, overlay: Overlay) -> str:
    """`.env` text with the overlay's hosts and ports; other lines are kept byte for byte."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = _LINE.match(body)
        if match:
            value = _rewrite(match.group("key"), match.group("value"), overlay)
            if value != match.group("value"):
                q = match.group("quote")
                body = f"{match.group('head')}{q}{value}{q}{match.group('tail')}"
                line = body + line[len(line.rstrip("\r\n")):]
        out.append(line)
    return "".join(out)


def _rewrite(key: str, value: str, overlay: Overlay) -> str:
    upper = key.upper()
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme in ("postgres", "postgresql"):
        return _netloc(value, *overlay.hosts["postgres"])
    if scheme in ("redis", "rediss"):
        return _netloc(value, *overlay.hosts["redis"])
    if scheme in ("http", "https") and "ENDPOINT" in upper and "AWS" in upper:
        return _netloc(value, *overlay.hosts["aws"])
    for part, prefix in (("postgres", "POSTGRES"), ("redis", "REDIS"), ("smtp", "SMTP")):
        if upper == f"{prefix}_HOST" and value:
            return overlay.host(part)
        if upper == f"{prefix}_PORT" and value:
            return str(overlay.port(part))
    return value


def _netloc(url: str, host: str, port: int) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
