"""The work behind `debug.ports` and `debug.vscode`: the port map and VS Code attach configs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lomash_tasks.debug import jsonc
from lomash_tasks.env import files as envfiles
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Registry
from lomash_tasks.stack import ports
from lomash_tasks.workspace import Workspace


# -- the stack's backend ------------------------------------------------------------------------
# -- ports --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PortEntry:
    group: str  # service | debug | infra | tool
    name: str
    port: int
    host: str
    listening: bool
    holder: str = ""  # the process listening, when it could be found

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def port_map(reg: Registry, host: str = "127.0.0.1", timeout: float = 0.2) -> list[PortEntry]:
    """Every port of the seed's map, with whether something listens and which process it is."""
    wanted: list[tuple[str, str, str, int]] = []
    for svc in reg.services:
        wanted.append(("service", svc.name, host, svc.port))
    for svc in reg.services:
        wanted.append(("debug", f"{svc.name} (inspector)", host, svc.debug_port))
    for ep in reg.infra:
        wanted.append(("infra", ep.name, ep.host, ep.port))
    wanted.append(("infra", "smtp web", reg.smtp.host, reg.smtp.web_port))
    for tool in reg.tools:
        wanted.append(("tool", tool.name, host, tool.port))
    out = []
    for group, name, where, port in wanted:
        up = ports.answers(where, port, timeout=timeout)
        held = ""
        if up:
            found = ports.holder(port)
            held = found.describe() if found else "another process"
        out.append(PortEntry(group, name, port, where, up, held))
    return out


# -- VS Code launch.json ------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchResult:
    path: Path
    status: str  # created | updated | unchanged
    added: list[str]
    changed: list[str]
    kept: int  # the developer's own configurations, untouched
    backup: Path | None = None


def attach_configs(reg: Registry) -> list[dict[str, Any]]:
    """Two attach configurations per service: "Docker: X" as the seed's README shows it (the
    Compose backend: sources under /app), "Local: X" for the services `inv services.up` runs
    on this machine (the same files, inspector on 127.0.0.1). `"restart": true` follows the
    hot reloads, which keep the debug port."""
    docker = [
        {
            "type": "node",
            "request": "attach",
            "name": f"Docker: {svc.name}",
            "port": svc.debug_port,
            "restart": True,
            "localRoot": f"${{workspaceFolder}}/{svc.path}",
            "remoteRoot": f"/app/{svc.path}",
        }
        for svc in reg.services
    ]
    local = [
        {
            "type": "node",
            "request": "attach",
            "name": f"Local: {svc.name}",
            "address": "127.0.0.1",
            "port": svc.debug_port,
            "restart": True,
            "cwd": f"${{workspaceFolder}}/{svc.path}",
            "skipFiles": ["<node_internals>/**"],
        }
        for svc in reg.services
    ]
    return docker + local


def launch_path(ws: Workspace) -> Path:
    return ws.root / ".vscode" / "launch.json"


def read_launch(path: Path, rel: str) -> dict[str, Any] | None:
    """The parsed launch.json (comments and trailing commas allowed), None when absent."""
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(
            f"{Path(rel).parent} is a file, but VS Code keeps launch.json in a "
            f"folder of that name; it was left as it is. Move that file away and "
            f"run again."
        )
    if path.is_dir():
        raise UserError(
            f"{rel} is a folder, not a file; it was left as it is. Move it away and run again."
        )
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(
            f"{rel} is not UTF-8 text; it was left as it is. Save it as UTF-8 and run again."
        ) from None
    try:
        data = jsonc.loads(text)
    except jsonc.JsoncError as err:
        raise UserError(
            f"{rel} is malformed at line {err.line}, column {err.column} "
            f"({err.message}); it was left as it is. Fix it there (VS Code shows "
            f"the same spot) and run again."
        ) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise UserError(
            f"{rel} holds a JSON {type(data).__name__}, not an object with "
            f'"configurations"; it was left as it is. Fix it and run again.'
        )
    configs = data.get("configurations", [])
    if not isinstance(configs, list):
        raise UserError(
            f'{rel}: "configurations" is not a list; it was left as it is. Fix it and run again.'
        )
    return data


def write_launch(ws: Workspace) -> LaunchResult:
    """Write or merge `.vscode/launch.json`: ours added or updated by name, yours kept."""
    path = launch_path(ws)
    rel = ws.relative(path)
    current = read_launch(path, rel)
    ours = attach_configs(ws.registry)
    by_name = {c["name"]: c for c in ours}
    if current is None:
        data: dict[str, Any] = {"version": "0.2.0", "configurations": ours}
        added, changed, kept = [c["name"] for c in ours], list[str](), 0
    else:
        data = dict(current)
        data.setdefault("version", "0.2.0")
        merged, seen, changed, kept = [], set(), list[str](), 0
        for entry in data.get("configurations", []):
            name = entry.get("name") if isinstance(entry, dict) else None
            if name is not None and name in by_name and name not in seen:
                updated = {**entry, **by_name[name]}
                if updated != entry:
                    changed.append(name)
                merged.append(updated)
                seen.add(name)
            else:
                merged.append(entry)
                kept += 1
        added = [c["name"] for c in ours if c["name"] not in seen]
        merged += [by_name[n] for n in added]
        data["configurations"] = merged
        if not added and not changed:
            return LaunchResult(path, "unchanged", [], [], kept)
    saved = None
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if current is not None:
        original = path.read_text(encoding="utf-8")
        if jsonc.strip(original) != original:
            saved = envfiles.backup(path)  # comments cannot survive a rewrite: keep the original
    path.parent.mkdir(parents=True, exist_ok=True)
    envfiles.write_atomic(path, text, mode=None if path.exists() else 0o644)
    return LaunchResult(
        path, "created" if current is None else "updated", added, changed, kept, saved
    )
