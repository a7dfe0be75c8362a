"""The services' typed data: settings, what `up` did, what `status` shows, how one is launched.

A service is launched by its dev command (`dev_command`): `services.<name>.command` from config,
else the first of its package.json's scripts `service_options.dev_scripts` names (dev,
start:dev, develop, serve:dev), run through the service's own package manager (`pnpm run dev`,
`npm run start:dev`); a plain `node ...` script, or one that only names a program of its
node_modules/.bin (`nodemon`, `ts-node-dev src/main.ts`), runs as it is: the package manager
would only start first (0.2-0.4 CPU-seconds each) and keep another ~50 MB process alive, and
the npm_package_* / npm_lifecycle_* variables it sets are set here. The inspector is
not put on the command line, where it would bind whichever Node process comes first (pnpm,
nodemon, ts-node-dev, tsx watch all are one): the suite's preload (`node_preload.cjs`, through
NODE_OPTIONS, which reaches every Node process below) opens it in the service's own process
only, on the service's debug port, again after each reload. A script that opens its own
inspector (`--inspect` in it, or in NODE_OPTIONS) keeps it: the suite adds none and reports its
port. The environment is the service's `.env` (the host overlay's values), then what the
registry says: PORT, HOST=127.0.0.1, DEBUG_PORT, SERVICE_NAME, and for the gateway each
upstream's URL.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.services import shared
from lomash_tasks.settings import ServicesSettings
from lomash_tasks.workspace import Workspace

GATEWAY = "api-gateway"
HOST = "127.0.0.1"

# A service's states, defined in shared.py (the supervisor reads them without this module).
STARTING, HEALTHY, UNHEALTHY, CRASHED, RESTARTING, STOPPED = shared.STATES
STARTED, ALREADY, FAILED = "started", "already running", "failed"

# What a service takes from the environment of the `inv` that starts it: the rest comes from
# its .env and the registry, so a service runs the same whichever shell started it (and a
# second `services.up` from another shell sees the same launch: nothing to restart).
PASSED_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
SHELL_WORDS = ("&&", "||", "|", ";", ">", "<", "$(", "`")


Settings = ServicesSettings  # `service_options.*`, typed (lomash_tasks.settings)


@dataclass
class UpResult:
    service: str
    state: str  # started | already running | failed
    url: str
    debug_port: int | None
    seconds: float
    detail: str = ""  # a failure: what happened, what /health said, the log's tail
    cause: str = ""  # a failure in one line
    shown: bool = False  # its detail was printed when it happened (`up` went on with the rest)

    @classmethod
    def since(
        cls, svc: Service, state: str, began: float, detail: str = "", cause: str = ""
    ) -> UpResult:
        """`svc`'s result, timed from `began` (a `time.monotonic()` reading)."""
        return cls(
            svc.name, state, url(svc), svc.debug_port, time.monotonic() - began, detail, cause
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def failures_text(results: list[UpResult]) -> str:
    """The closing message of an `up` where some services failed: each failure's detail (one
    line for those already printed in full when they happened) and the count."""
    failed = [r for r in results if r.state == FAILED]
    parts = [
        f"{r.service}: {r.cause} (its log's tail is above)" if r.shown and r.cause else r.detail
        for r in failed
    ]
    return (
        "\n\n".join(parts) + f"\n\n{len(failed)} of {len(results)} services did not become "
        f"healthy (the others keep running)."
    )


@dataclass
class ServiceStatus:
    service: str
    backend: str
    state: str  # STARTING | HEALTHY | UNHEALTHY | CRASHED | RESTARTING | STOPPED
    url: str
    debug_port: int | None
    debugger: str = ""  # attached | not attached | no inspector | "" (not visible)
    pid: int | None = None
    container: str = ""
    uptime: float | None = None  # seconds
    restarts: int = 0
    log: str = ""
    detail: str = ""
    command: str = ""  # what runs it, e.g. "pnpm run dev (nodemon)"
    inspector: str = ""  # where its inspector is, verified; or why there is none

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Launch:
    """How the supervisor starts one service (written into its desired-state file)."""

    name: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    port: int
    debug_port: int | None
    log: str
    events: str  # where the preload reports the service's own process
    command: str = ""  # for people: "pnpm run dev (nodemon)"
    own_inspector: bool = False  # the script opens its inspector itself (on debug_port)
    token: int = 0  # bumped by `services.restart`
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def same_process(self, other: Mapping[str, Any]) -> bool:
        """True when `other` (a stored launch) would run the same program the same way."""
        keys = ("argv", "cwd", "env", "port", "debug_port", "events")
        return all(other.get(k) == getattr(self, k) for k in keys)


def service_names(value: str | Iterable[str] | None) -> list[str]:
    """A repeatable --service as a list: None, "auth", "auth,order" or ["auth", ...]."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out += [part.strip() for part in str(item).split(",")]  # "" is refused by select()
    return out


def url(svc: Service, host: str = "localhost") -> str:
    return f"http://{host}:{svc.port}"


def port_key(svc: Service, which: str = "port") -> str:
    """The variable that moves a service's port, e.g. INVOKE_SERVICES_AUTH_SERVICE_PORT."""
    return f"INVOKE_SERVICES_{svc.name.upper().replace('-', '_')}_{which.upper()}"


def state_dir(ws: Workspace) -> Path:
    return ws.state_dir / "services"


def log_path(ws: Workspace, svc: Service) -> Path:
    return state_dir(ws) / f"{svc.name}.log"


def check_node_modules(ws: Workspace, services: Iterable[Service]) -> None:
    """Each service's Node dependencies must be installed (by its own package manager) before
    it can start: every one that lacks them is named, with the command that installs it."""
    from lomash_tasks.services.packages import missing_installs

    lines = missing_installs(ws, services)
    if lines:
        first = (
            "Fix what the failed installs say, then run `inv setup --only deps`"
            if any("its last install failed" in line for line in lines)
            else "Run `inv setup --only deps` (it installs each with its own package manager)"
        )
        raise UserError(
            "The services cannot start without their Node dependencies:\n  "
            + "\n  ".join(lines)
            + f"\n{first}, then run this again."
        )


PRELOAD = Path(__file__).resolve().parent / "node_preload.cjs"
INSPECT_FLAGS = ("--inspect", "--inspect-brk", "--inspect-wait")
DEFAULT_INSPECT_PORT = 9229


@dataclass(frozen=True)
class DevCommand:
    """How a service runs in development: a command from config, or one of its scripts."""

    text: str  # the command line (the script's text)
    source: str  # where it was found, for messages
    script: str = ""  # the package.json script's name ('' for a configured command)


def events_path(ws: Workspace, svc: Service) -> Path:
    return state_dir(ws) / f"{svc.name}.events"


def dev_command(ws: Workspace, svc: Service, order: Iterable[str]) -> DevCommand:
    """`services.<name>.command`, else the first of the scripts `order` names that the service's
    package.json has."""
    if svc.command:
        return DevCommand(svc.command, f"services.{svc.name}.command")
    facts = ws.facts(svc)
    pkg = f"{facts.relative}/package.json"
    if facts.package is None:
        raise UserError(
            f"{pkg} cannot be read, so {svc.name} has no dev command: "
            f"{'; '.join(f.message for f in facts.findings if f.blocking) or 'missing'}."
            f" Fix it, or set services.{svc.name}.command in invoke.yaml."
        )
    order = list(order)
    for name in order:
        text = facts.scripts.get(name)
        if text:
            return DevCommand(text, f"{pkg} scripts.{name}", name)
    has = ", ".join(facts.scripts) or "none"
    raise UserError(
        f"{pkg} has none of the scripts {', '.join(order)} (its scripts: {has}), so "
        f'{svc.name} has no dev command. Add one (e.g. "dev": "node --watch '
        f'src/index.js"), name yours in service_options.dev_scripts, or set '
        f"services.{svc.name}.command in invoke.yaml."
    )


def own_inspector(*texts: str) -> int | None:
    """The port of an inspector a command line or NODE_OPTIONS asks for itself, else None."""
    for text in texts:
        try:
            words = shlex.split(text or "")
        except ValueError:
            words = (text or "").split()
        for word in words:
            flag, _, value = word.partition("=")
            if flag in INSPECT_FLAGS:
                port = value.rpartition(":")[2]
                return int(port) if port.isdigit() else DEFAULT_INSPECT_PORT
    return None


def dev_argv(ws: Workspace, svc: Service, dev: DevCommand) -> tuple[list[str], str]:
    """(argv, the command for people) of the service's dev command. A configured command runs
    as written (as npm runs a script: words, or `sh -c` for shell syntax); a script through the
    service's package manager, except a plain `node ...` script or one naming a program of
    node_modules/.bin (without shell syntax or pre/post scripts of its own), which runs as it
    is (the package manager would only start first and keep another ~50 MB process alive)."""
    from lomash_tasks import commands
    from lomash_tasks.services.packages import display, manager_argv

    if not dev.script:
        return commands.script_argv(dev.text), dev.text
    words = shlex.split(dev.text)
    plain = bool(words) and not any(w in dev.text for w in SHELL_WORDS)
    if plain and words[0] == "node":
        node = commands.which("node")
        if node is None:
            raise UserError("node was not found on PATH: install Node 20 to run the services.")
        return [node, *words[1:]], dev.text
    hooks = {f"pre{dev.script}", f"post{dev.script}"} & set(ws.facts(svc).scripts)
    found = local_bin(ws, svc, words[0]) if plain and not hooks else None
    prefix, _ = manager_argv(ws.facts(svc).installer)
    shown = display([*prefix, "run", dev.script])
    if found is not None:  # `nodemon`, `ts-node-dev ...`: the program npm/pnpm would run
        manager = ws.facts(svc).installer.manager
        return ([str(found), *words[1:]], f"{shown} ({dev.text}; run without {manager} in front)")
    return [*prefix, "run", dev.script], f"{shown} ({dev.text})"


def local_bin(ws: Workspace, svc: Service, name: str) -> Path | None:
    """The program a package.json script names, where `npm run` / `pnpm run` find it: the
    service's node_modules/.bin, then each folder's up to the workspace root's."""
    if not name or "/" in name or "=" in name:
        return None
    folder = ws.service_dir(svc)
    while True:
        candidate = folder / "node_modules" / ".bin" / name
        if os.access(candidate, os.X_OK) and candidate.is_file():
            return candidate
        if folder == ws.root or folder.parent == folder or ws.root not in folder.parents:
            return None
        folder = folder.parent


def node_options(current: str, preload: Path = PRELOAD) -> str:
    """NODE_OPTIONS with the suite's preload added (quoted when its path has a space)."""
    path = str(preload)
    if " " in path or '"' in path:
        path = '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ours = f"--require {path}"
    return f"{current} {ours}".strip() if ours not in (current or "") else current


def launch(ws: Workspace, svc: Service, settings: ServicesSettings | None = None) -> Launch:
    """The launch of one service: its dev command, its .env, the registry's ports, the preload
    that finds its own process and opens its inspector there."""
    from lomash_tasks.env.files import not_a_file, not_a_file_error, read_env

    settings = settings or ServicesSettings()
    pair = ws.env_pair(svc)
    if not_a_file(pair.env):
        raise not_a_file_error(pair.env, ws.relative(pair.env))
    if not pair.env.is_file():
        raise UserError(
            f"{ws.relative(pair.env)} does not exist: the service reads its settings "
            f"from it. Run `inv env.copy` (or `inv setup`), then run this again."
        )
    dev = dev_command(ws, svc, settings.dev_script_list)
    argv, command = dev_argv(ws, svc, dev)
    env = {k: v for k, v in os.environ.items() if k in PASSED_ENV or k.startswith("LC_")}
    env.update(read_env(pair.env).as_dict())
    bins = [ws.service_dir(svc) / "node_modules" / ".bin", ws.root / "node_modules" / ".bin"]
    env["PATH"] = os.pathsep.join([*map(str, bins), os.environ.get("PATH", "")])
    direct = Path(argv[0]).name not in ("npm", "pnpm", "yarn", "corepack", "npx")
    if dev.script and direct:  # run without its package manager: what `npm run`
        package = ws.facts(svc).package or {}  # would have told the script
        env.update(
            npm_lifecycle_event=dev.script,
            npm_lifecycle_script=dev.text,
            npm_package_name=str(package.get("name") or svc.name),
            npm_package_version=str(package.get("version") or ""),
            npm_package_json=str(ws.service_dir(svc) / "package.json"),
            npm_command="run-script",
            INIT_CWD=str(ws.service_dir(svc)),
        )
    env.update(PORT=str(svc.port), HOST=HOST, DEBUG_PORT=str(svc.debug_port), SERVICE_NAME=svc.name)
    if svc.name == GATEWAY:
        for other in ws.registry.services:
            if other.name != GATEWAY:
                env[f"{other.name.upper().replace('-', '_')}_URL"] = url(other, HOST)
    notes = []
    own = own_inspector(dev.text, env.get("NODE_OPTIONS", ""))
    events = events_path(ws, svc)
    env["NODE_OPTIONS"] = node_options(env.get("NODE_OPTIONS", ""))
    env["LOMASH_SERVICE_EVENTS"] = str(events)
    env["LOMASH_INSPECT"] = "" if own else f"{HOST}:{svc.debug_port}"
    if settings.wrapper_list:
        env["LOMASH_WRAPPERS"] = ",".join(settings.wrapper_list)
    debug = svc.debug_port
    if own:
        debug = own
        notes.append(
            f"its dev command opens its own inspector (--inspect: port {own}); the "
            f"suite adds none (the registry's debug port is {svc.debug_port})"
        )
    return Launch(
        svc.name,
        argv,
        str(ws.service_dir(svc)),
        env,
        svc.port,
        debug,
        str(log_path(ws, svc)),
        str(events),
        command,
        own is not None,
        notes=notes,
    )


def rotate(path: Path, keep: int = 3) -> None:
    """name.log -> name.log.1 -> ... (the oldest dropped): a fresh log at each start."""
    from lomash_tasks.services.logfile import rotate as rotate_file

    rotate_file(path, keep)


def tail_count(value: object, default: int) -> int | None:
    """--tail as a number of lines per service: N, or 0 / 'all' for the whole log (None);
    the configured default when not given."""
    from lomash_tasks.values import number

    if value is None or str(value).strip() == "":
        value = default
    if str(value).strip().lower() == "all":
        return None
    return number(value, "--tail", int) or None


def since_cutoff(value: str | None, now: float | None = None) -> float | None:
    """--since as an epoch time: 30s, 10m, 2h, 1d, or an ISO date/time; None when not given."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    now = time.time() if now is None else now
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * units[text[-1]]
    if text.replace(".", "", 1).isdigit():
        return now - float(text)
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since must be a duration (30s, 10m, 2h, 1d) or a date/time "
            f"(2026-12-01T15:00:00), not {value!r}."
        ) from None
    return moment.timestamp()
