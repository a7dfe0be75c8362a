"""Reading the stack for the page, through the tasks' own functions.

look()      every part (stack.status), every service (services.status), the tools only
            Compose runs, each .env's check (env.check), the last `inv setup`'s summary:
            files, /proc and loopback sockets only, so it runs every second
probe()     migrations (db.status), Redis key counts (cache.stats), AWS resources
            (aws.status) in one short-lived child (`probe.py`)
signature() what changes when something worth a new look happened: a service's state in
            the supervisor's record, the migration folders on disk (a new migration
            shows at once)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lomash_tasks import settings as suite_settings
from lomash_tasks.dashboard.snapshot import (
    COMPOSE_ONLY,
    HEALTHY,
    Cache,
    Migrations,
    Part,
    ServiceRow,
    part_row,
    service_row,
)
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace

CONFIG_FILE = "config.json"  # under <state>/dashboard/: what the probe and the actions read
PROBE_TIMEOUT = 60.0
NEEDS = {"migrations": "postgres", "cache": "redis", "aws": "aws"}  # a read, the part it asks
NOT_RUNNING = {
    "postgres": "PostgreSQL is not running: start the stack (`inv stack.up`)",
    "redis": "Redis is not running: start the stack (`inv stack.up`)",
    "aws": "the AWS endpoint is not running: start the stack (`inv stack.up`)",
}


@dataclass
class Look:
    backend: str
    services_backend: str
    parts: list[Part]
    services: list[ServiceRow]
    env_problems: list[str] = field(default_factory=list)
    setup: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)  # reading the parts
    service_problems: list[str] = field(default_factory=list)  # reading the services


@dataclass
class Probe:
    at: float
    migrations: dict[str, Migrations] = field(default_factory=dict)
    cache: dict[str, Cache] = field(default_factory=dict)
    aws: dict[str, Any] | None = None
    aws_error: str = ""
    problems: list[str] = field(default_factory=list)


def suite_config(data: dict[str, Any], root: Path, backend: str | None = None) -> dict[str, Any]:
    """The suite's own keys of a context's config (plain data), with the workspace's root and
    a --backend flag as config: what the probe and the actions' tasks read."""
    keys = ["services", "infra", "targets"] + [s.NAME for s in suite_settings.SECTIONS]
    out = json.loads(json.dumps({k: data[k] for k in keys if k in data}, default=str))
    out["workspace"] = {**(out.get("workspace") or {}), "root": str(root)}
    if backend:
        out.setdefault("stack", {})["backend"] = backend
        if backend in ("auto", "embedded", "compose"):
            out.setdefault("service_options", {})["backend"] = backend
    return out


class Collector:
    def __init__(self, ws: Workspace, config: dict[str, Any], backend: str | None = None) -> None:
        self.ws = ws
        self.config = config
        self.flag = backend
        self.stack_settings = suite_settings.StackSettings.load(config)
        self.services_settings = suite_settings.ServicesSettings.load(config)
        self.config_file = ws.ensure_state_dir("dashboard") / CONFIG_FILE
        self._write_config()
        self._stack: Any = None
        self._stack_at = 0.0
        from lomash_tasks import services

        self.services = services.get(ws, self.services_settings, self.stack_settings, backend)

    def _write_config(self) -> None:
        from lomash_tasks.env.files import write_atomic

        write_atomic(self.config_file, json.dumps(self.config, indent=1, default=str))

    # -- the stack's backend, followed while `auto` ---------------------------------------------
    def stack(self) -> Any:
        """The stack's backend; with `auto`, chosen again every 10 s (what runs may change)."""
        from lomash_tasks import stack

        if self._stack is None or (
            time.monotonic() - self._stack_at > 10
            and (self.flag or self.stack_settings.backend) == "auto"
        ):
            self._stack = stack.get(self.ws, self.stack_settings, self.flag)
            self._stack_at = time.monotonic()
        return self._stack

    # -- every second ----------------------------------------------------------------------------
    def look(self, previous: Look | None = None) -> Look:
        """One look: what fails to be read is named in its problems, the rest is still shown.

        The parts are read every time. With `previous`, the services (services.status asks
        each one's inspector), the .env checks and the setup summary are taken from it: the
        hub reads those every few seconds and whenever the services' state file changes."""
        reg = self.ws.registry
        problems: list[str] = []
        mail = f"http://{reg.smtp.host}:{reg.smtp.web_port}"
        chosen = _read("stack.status", self.stack, problems)
        parts: list[Part] = []
        if chosen is not None:
            parts = (
                _read(
                    "stack.status",
                    lambda: [
                        part_row(p, mail if p.part == "smtp" else "") for p in chosen.status()
                    ],
                    problems,
                )
                or []
            )
        backend = chosen.name if chosen is not None else "?"
        parts += self.tools(backend)
        if previous is not None:
            return Look(
                backend,
                self.services.name,
                parts,
                previous.services,
                previous.env_problems,
                previous.setup,
                problems,
                previous.service_problems,
            )
        found: list[str] = []
        statuses = {
            s.service: s for s in _read("services.status", self.services.status, found) or []
        }
        services = [service_row(statuses[s.name], s) for s in reg.services if s.name in statuses]
        env_problems = _read("env.check", lambda: self.env_check(services), found) or []
        setup = _read("the last setup's summary", self.setup, found)
        return Look(
            backend, self.services.name, parts, services, env_problems, setup, problems, found
        )

    def tools(self, backend: str) -> list[Part]:
        """pgAdmin, Redis Commander, ...: running only where Compose runs them."""
        from lomash_tasks.stack import ports

        out = []
        for tool in self.ws.registry.tools:
            up = backend == "compose" and ports.answers("127.0.0.1", tool.port)
            out.append(
                Part(
                    tool.name,
                    "tool",
                    HEALTHY if up else COMPOSE_ONLY,
                    f"localhost:{tool.port}",
                    tool.url,
                    detail="" if up else "with --backend compose",
                )
            )
        return out

    def env_check(self, services: list[ServiceRow]) -> list[str]:
        """env.check's problems, each on its service's row; the root .env's returned."""
        from lomash_tasks.env import ops

        found = ops.check_env(self.ws)
        by_file: dict[str, list[str]] = {}
        for problem in found:
            by_file.setdefault(problem.file, []).append(problem.line())
        for row in services:
            pair = self.ws.env_pair(self.ws.registry.service(row.name))
            row.env_file = self.ws.relative(pair.env)
            row.env_problems = by_file.pop(row.env_file, []) + by_file.pop(
                self.ws.relative(pair.example), []
            )
        return [line for lines in by_file.values() for line in lines]

    def setup(self) -> dict[str, Any] | None:
        from lomash_tasks.setup import pipeline

        return pipeline.last_record(self.ws.state_dir / pipeline.SUMMARY_FILE)

    # -- what needs a client library: in a child ------------------------------------------------
    def probe(self, running: set[str], aws: bool = True, previous: Probe | None = None) -> Probe:
        """Migrations and keys (and AWS resources when `aws`, else the previous reading) of
        the parts in `running`; a part that is not running is said so without asking it."""
        from lomash_tasks import commands

        began = time.time()
        wanted = {read for read, part in NEEDS.items() if part in running}
        if not aws:
            wanted.discard("aws")
        data: dict[str, Any] = {
            f"{read}_error": NOT_RUNNING[part]
            for read, part in NEEDS.items()
            if part not in running
        }
        if wanted:
            argv = [
                sys.executable,
                "-m",
                "lomash_tasks.dashboard.probe",
                str(self.config_file),
                *sorted(wanted),
            ]
            try:
                done = commands.run(argv, cwd=self.ws.root, timeout=PROBE_TIMEOUT, check=False)
                if done.code != 0:
                    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                    raise ValueError(f"exit {done.code}: {' / '.join(tail)}")
                data.update(json.loads(done.stdout))
            except (UserError, ValueError) as err:
                text = err.text if isinstance(err, UserError) else str(err)
                return Probe(began, problems=[f"reading migrations, keys and AWS failed: {text}"])
        if not aws and "aws" in running and previous is not None:
            data["aws"], data["aws_error"] = previous.aws, previous.aws_error
        return self.parse_probe(data, began)

    def parse_probe(self, data: dict[str, Any], at: float) -> Probe:
        """The probe's JSON as each service's `Migrations` and `Cache`."""
        reg = self.ws.registry
        out = Probe(at, aws=data.get("aws"), aws_error=data.get("aws_error") or "")
        if data.get("migrations") is not None:
            out.migrations = {
                row["service"]: Migrations.from_state(row) for row in data["migrations"]
            }
        else:
            out.migrations = {
                s.name: Migrations(error=data.get("migrations_error") or "")
                for s in reg.with_database
            }
        if data.get("cache") is not None:
            rows = {row["service"]: row for row in data["cache"] if row.get("service")}
            out.cache = {
                s.name: Cache(
                    s.redis_db or 0,
                    rows.get(s.name, {}).get("keys", 0),
                    rows.get(s.name, {}).get("foreign", []),
                )
                for s in reg.with_cache
            }
        else:
            out.cache = {
                s.name: Cache(s.redis_db or 0, error=data.get("cache_error") or "")
                for s in reg.with_cache
            }
        return out

    # -- the services' logs (services.logs's source) -----------------------------------------------
    def logs(self, stop: Callable[[], bool]) -> Iterator[tuple[str, str]]:
        """Every service's log lines, then new ones as they are written, until `stop()`."""
        if self.services.name == "embedded":
            from lomash_tasks.services import logs as service_logs

            # the page keeps the last lines only: each log is read from its end
            yield from service_logs.follow(self.services.log_files(), stop=stop, tail=1000)
        else:
            yield from self.services.logs(None, follow=True)

    # -- what to watch between two looks -----------------------------------------------------------
    def signature(self) -> tuple[Any, ...]:
        """(what the supervisor says of each service, the migration folders): cheap reads,
        taken every 0.2 s. The supervisor rewrites its state file every second or so; only
        a service's state, process group, restart count or launch token count as a change."""
        states = getattr(self.services, "states", None)  # the embedded backend's record
        records = states() if states is not None else {}
        watched = tuple(
            sorted(
                (name, rec.get("state"), rec.get("pgid"), rec.get("restarts"), rec.get("token"))
                for name, rec in records.items()
            )
        )
        return watched, self.migrations_signature()

    def migrations_signature(self) -> tuple[Any, ...]:
        out: list[Any] = []
        for svc in self.ws.registry.with_database:
            folder = self.ws.migrations_dir(svc)
            out.append(_stamp(folder))
            try:
                out += [(e.name, _stamp(Path(e.path))) for e in os.scandir(folder) if e.is_dir()]
            except OSError:
                continue
        return tuple(out)


def _read(what: str, read: Callable[[], Any], problems: list[str]) -> Any:
    """`read()`, or None with what went wrong added to `problems` (the page says it)."""
    try:
        return read()
    except UserError as err:
        problems.append(f"{what}: {err.text}")
    except Exception as err:
        problems.append(f"{what}: {type(err).__name__}: {err}")
    return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
