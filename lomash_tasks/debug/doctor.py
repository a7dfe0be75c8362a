"""`debug.doctor`: the seed's Troubleshooting section as checks, each with its fix.

Every check is bounded by a short timeout and never raises: it returns a `Check` saying what
was seen and, when it failed, what to do. Checks run side by side, reported in a fixed order.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from lomash_tasks import commands, connections
from lomash_tasks.env import files as envfiles
from lomash_tasks.stack import ports, probes
from lomash_tasks.stack.compose_cli import COMPOSE_MIN
from lomash_tasks.workspace import Workspace

NODE_MAJOR = 20
PNPM_VERSION = "9.1.0"
DOCKER_MIN = (25, 0)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped (does not apply here)
    detail: str
    fix: str = ""

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "-"}[self.ok]

    def line(self) -> str:
        text = f"{self.mark} {self.name}: {self.detail}"
        if self.ok is False and self.fix:
            text += f" -> fix: {self.fix}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(
    ws: Workspace, backend: str | None = None, timeout: float = 3.0, runner: str = "auto"
) -> list[Check]:
    """Every check, in order; each bounded by `timeout` seconds (plus a small margin)."""
    plan: list[tuple[str, Callable[[], Check]]] = []
    compose = backend == "compose"
    plan.append(
        (
            "Docker",
            lambda: (
                _docker(timeout)
                if compose
                else Check("Docker", None, f"not needed (stack backend: {backend or 'embedded'})")
            ),
        )
    )
    plan.append(
        (
            "Docker Compose",
            lambda: (
                _compose(timeout)
                if compose
                else Check(
                    "Docker Compose", None, f"not needed (stack backend: {backend or 'embedded'})"
                )
            ),
        )
    )
    plan.append(("Node", lambda: _node(timeout)))
    plan.append(("pnpm", lambda: _pnpm(ws, timeout)))
    plan.append(("npm", lambda: _npm(ws, timeout)))
    plan.append(("monorepo files", lambda: _monorepo(ws)))
    plan.append(("dependencies", lambda: _dependencies(ws)))
    plan.append(("Prisma CLI", lambda: _prisma(ws, runner)))
    plan.append(("env files", lambda: _env(ws)))
    plan.append(("Redis URLs", lambda: _redis_urls(ws)))
    plan.append(("Redis password", lambda: _redis_password(ws)))
    for part in probes.PARTS:
        plan.append((part, functools.partial(_reachable, ws, part, backend, timeout)))
    plan.append(("CREATEDB", lambda: _createdb(ws, timeout)))  # after the parts, by design
    plan.append(("S3 buckets", lambda: _buckets(ws, timeout)))
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [(name, pool.submit(_guard, name, fn)) for name, fn in plan]
        results = []
        for name, future in futures:
            try:
                results.append(future.result(timeout=timeout + 5.0))
            except FutureTimeout:
                results.append(
                    Check(
                        name,
                        False,
                        f"no answer within {timeout + 5.0:g} s",
                        "see what hangs with `inv debug.ports`",
                    )
                )
    return results


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as exc:  # a check reports, it never stops the others
        return Check(name, False, f"check failed: {type(exc).__name__}: {exc}")


# -- tools --------------------------------------------------------------------------------------
def _version_of(argv: list[str], timeout: float) -> str | None:
    try:
        done = commands.run(argv, timeout=timeout, check=False)
    except commands.CommandError:
        return None
    if done.code != 0:
        return None
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", done.stdout + done.stderr)
    return match.group(0) if match else None


def _tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _docker(timeout: float) -> Check:
    """The CLI and, above all, the engine it talks to (DOCKER_HOST, DOCKER_CONTEXT or the current
    context, as the CLI picks it): an engine older than the seed's minimum is said plainly, not
    failed (the suite works where its API allows)."""
    import os

    if not shutil.which("docker"):
        return Check(
            "Docker",
            False,
            "not found",
            "install Docker 25 or later "
            "(https://docs.docker.com/get-docker/), or start a local engine with the "
            "suite's `scripts/docker-engine.sh up`",
        )
    from lomash_tasks.stack import engine as engines

    client = _version_of(["docker", "--version"], timeout) or "?"
    where = os.environ.get("DOCKER_HOST") or engines.DEFAULT_HOST
    try:
        located = engines.locate()
        where = located.describe()
        sdk = engines.client(timeout, located)
        try:
            info = sdk.version()
        finally:
            sdk.close()
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Check(
            "Docker",
            False,
            f"client {client}; no engine answers at {where} ({why})",
            "start the engine (Docker Desktop, `sudo systemctl start docker`, or "
            "`scripts/docker-engine.sh up` and its export lines), or use "
            "`--backend embedded`",
        )
    engine, api = str(info.get("Version") or "?"), str(info.get("ApiVersion") or "?")
    found = re.search(r"(\d+)\.(\d+)", engine)
    if found and (int(found.group(1)), int(found.group(2))) < DOCKER_MIN:
        return Check(
            "Docker",
            True,
            f"engine {engine} is older than {DOCKER_MIN[0]} (the "
            f"seed's minimum): the suite works where its API {api} allows "
            f"(client {client}, {where})",
        )
    return Check("Docker", True, f"engine {engine} (API {api}), client {client}")


def _compose(timeout: float) -> Check:
    version = None
    if shutil.which("docker"):
        version = _version_of(["docker", "compose", "version", "--short"], timeout)
    if version is None and shutil.which("docker-compose"):
        version = _version_of(["docker-compose", "version", "--short"], timeout)
    if version is None:
        return Check(
            "Docker Compose",
            False,
            "not found (`docker compose version` failed)",
            f"install the Compose plugin {COMPOSE_MIN[0]}.{COMPOSE_MIN[1]} or later (bundled "
            f"with Docker Desktop)",
        )
    if _tuple(version)[:2] < COMPOSE_MIN:
        return Check(
            "Docker Compose",
            False,
            f"{version} ({COMPOSE_MIN[0]}.{COMPOSE_MIN[1]} or later needed)",
            "upgrade Docker Compose",
        )
    return Check("Docker Compose", True, version)


def _node(timeout: float) -> Check:
    if not shutil.which("node"):
        return Check(
            "Node",
            False,
            "not found",
            f"install Node {NODE_MAJOR} LTS (https://nodejs.org/ or `nvm install {NODE_MAJOR}`)",
        )
    version = _version_of(["node", "--version"], timeout)
    if not version:
        return Check("Node", False, "`node --version` failed", f"reinstall Node {NODE_MAJOR}")
    if _tuple(version)[0] != NODE_MAJOR:
        return Check(
            "Node",
            False,
            f"{version} (the services target Node {NODE_MAJOR} LTS)",
            f"switch to Node {NODE_MAJOR} (`nvm use {NODE_MAJOR}`)",
        )
    return Check("Node", True, version)


def _pnpm(ws: Workspace, timeout: float) -> Check:
    """The pnpm the workspace's `packageManager` names (the suite's pinned one otherwise), for
    the services that are members of the pnpm workspace."""
    members = [s.name for s in ws.registry.services if ws.facts(s).installer.member]
    pinned = ws.facts(ws.registry.services[0]).installer.version if members else None
    wanted = pinned or PNPM_VERSION
    source = "package.json packageManager" if pinned else "the suite's pin"
    exe = commands.pnpm_path()
    fix = (
        f"`corepack enable && corepack prepare pnpm@{wanted} --activate` (Node's own "
        f"corepack installs the version packageManager names), or `npm i -g pnpm@{wanted}`"
    )
    if not exe:
        if not members:
            return Check(
                "pnpm",
                None,
                "not found, and not needed (no service is a member of the pnpm workspace)",
            )
        return Check("pnpm", False, "not found", fix)
    version = _version_of([exe, "--version"], timeout + 2.0)
    if not members:
        return Check(
            "pnpm",
            None,
            f"{version or '?'} ({exe}); not needed: no service is a member of the pnpm workspace",
        )
    if version == wanted:
        return Check("pnpm", True, f"{version} ({exe}), as {source} asks")
    if version and wanted and version.split(".")[0] == wanted.split(".")[0]:
        return Check(
            "pnpm",
            True,
            f"{version} at {exe}; {source} pins {wanted} (same major "
            f"version: same lockfile format)",
        )
    return Check(
        "pnpm", False, f"{version or 'unknown version'} at {exe} ({source} pins {wanted})", fix
    )


def _npm(ws: Workspace, timeout: float) -> Check:
    users = [s.alias for s in ws.registry.services if ws.facts(s).installer.manager == "npm"]
    if not users:
        return Check("npm", None, "not needed (no service installs with npm)")
    if not shutil.which("npm"):
        return Check(
            "npm",
            False,
            f"not found ({', '.join(users)} install with npm)",
            "install Node 20 with its npm",
        )
    version = _version_of(["npm", "--version"], timeout + 2.0)
    return Check("npm", True, f"{version or '?'} (for {', '.join(users)})")


def _monorepo(ws: Workspace) -> Check:
    findings = [f for s in ws.registry.services for f in ws.facts(s).findings]
    blocking = [f for f in findings if f.blocking]
    if blocking:
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        return Check(
            "monorepo files",
            False,
            f"{blocking[0].line()}{more}",
            "`inv debug.monorepo` lists what each service's files say; fix the files it names",
        )
    note = f"; {len(findings)} note(s): `inv debug.monorepo`" if findings else ""
    return Check("monorepo files", True, f"{len(ws.registry.services)} services read{note}")


def _dependencies(ws: Workspace) -> Check:
    missing = []
    for svc in ws.registry.services:
        facts = ws.facts(svc)
        if facts.exists and not facts.installed():
            command = " ".join([facts.installer.manager, *facts.installer.frozen_command])
            missing.append(
                f"{svc.alias} (`{command}` in {ws.relative(facts.installer.folder) or '.'})"
            )
    if missing:
        return Check(
            "dependencies",
            False,
            f"not installed: {', '.join(missing)}",
            "`inv setup --only deps` installs them",
        )
    return Check(
        "dependencies", True, f"all {len(ws.registry.services)} services have their node_modules"
    )


def _prisma(ws: Workspace, runner: str) -> Check:
    cannot: dict[str, list[str]] = {}
    can = []
    for svc in ws.registry.with_database:
        ok, why = ws.facts(svc).prisma.runnable()
        if ok:
            can.append(svc.alias)
        else:
            cannot.setdefault(why, []).append(svc.alias)
    if not cannot:
        return Check("Prisma CLI", True, f"runs for all {len(can)} services")
    detail = "; ".join(f"{', '.join(names)}: {why}" for why, names in cannot.items())
    if runner == "prisma":
        return Check(
            "Prisma CLI",
            False,
            detail,
            "install the services' dependencies "
            "(`inv setup --only deps`), or use the native runner (db.runner: native)",
        )
    return Check("Prisma CLI", True, f"{detail} (the native runner migrates those)")


# -- env files ----------------------------------------------------------------------------------
def _env(ws: Workspace) -> Check:
    from lomash_tasks.env.ops import check_env
    from lomash_tasks.errors import UserError

    try:
        problems = check_env(ws)
    except UserError as err:
        return Check("env files", False, err.text, "fix that file")
    if problems:
        first = problems[0].line()
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check(
            "env files",
            False,
            f"{len(problems)} problem(s): {first}{more}",
            "`inv env.check` lists them; `inv env.copy` adds missing files and keys",
        )
    return Check("env files", True, f"{len(ws.env_pairs())} files match their examples")


def _redis_urls(ws: Workspace) -> Check:
    bad, seen = [], 0
    for svc in ws.registry.with_cache:
        pair = ws.env_pair(svc)
        path = pair.env if pair.env.is_file() else pair.example
        if not path.is_file():
            continue
        url = envfiles.read_env(path).get("REDIS_URL")
        if not url:
            continue
        seen += 1
        netloc = urlsplit(url).netloc
        userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
        if userinfo and ":" not in userinfo:
            bad.append(ws.relative(path))
    if bad:
        return Check(
            "Redis URLs",
            False,
            f"no ':' before the password in {', '.join(bad)} "
            f"(ioredis takes it for a user name and AUTH fails)",
            "write REDIS_URL=redis://:PASSWORD@HOST:6379/INDEX",
        )
    return Check("Redis URLs", True, f"{seen} REDIS_URL values use redis://:PASSWORD@... ")


def _redis_password(ws: Workspace) -> Check:
    """Every service's Redis password (REDIS_URL or REDIS_PASSWORD) is the stack's."""
    from urllib.parse import unquote

    wanted = connections.redis_password(ws)
    if not wanted:
        return Check(
            "Redis password",
            False,
            "the stack's Redis password is empty",
            "set REDIS_PASSWORD in the root .env",
        )
    wrong = []
    for svc in ws.registry.with_cache:
        path = ws.env_pair(svc).env
        if not path.is_file():
            continue
        env = envfiles.read_env(path)
        url = env.get("REDIS_URL")
        given = None
        if url:
            try:
                given = unquote(urlsplit(url).password or "")
            except ValueError:
                given = ""
        elif "REDIS_PASSWORD" in env.keys:
            given = env.get("REDIS_PASSWORD") or ""
        if given is not None and given != wanted:
            wrong.append(ws.relative(path))
    if wrong:
        return Check(
            "Redis password",
            False,
            f"not the stack's in {', '.join(wrong)}",
            "`inv env.copy --align` writes the stack's values (a backup is kept)",
        )
    return Check("Redis password", True, "every service uses the stack's")


# -- the stack ----------------------------------------------------------------------------------
def _reachable(ws: Workspace, part: str, backend: str | None, timeout: float) -> Check:
    name = {"postgres": "PostgreSQL", "redis": "Redis", "aws": "AWS endpoint", "smtp": "SMTP"}[part]
    result = probes.check(ws, part, backend=backend, timeout=timeout)
    if result.ready:
        return Check(name, True, f"{result.address}: {result.detail}")
    port = int(result.address.rsplit(":", 1)[1])
    held = ports.holder(port) if ports.answers(result.address.rsplit(":", 1)[0], port) else None
    who = f" (port held by {held.describe()})" if held else ""
    fix = "start the stack with `inv stack.up`"
    if held:
        fix = (
            f"that port is taken by another program: stop it, or move the stack with "
            f"INVOKE_INFRA_{part.upper()}_PORT=<port>"
        )
    return Check(name, False, f"{result.address}: {result.error}{who}", fix)


def _createdb(ws: Workspace, timeout: float) -> Check:
    roles = [s.db_role for s in ws.registry.with_database]
    try:
        with connections.pg_connect(ws, superuser=True, timeout=timeout, autocommit=True) as conn:
            rows = dict(
                conn.execute(
                    "SELECT rolname, rolcreatedb FROM pg_roles WHERE rolname = ANY(%s)", (roles,)
                ).fetchall()
            )
    except Exception as exc:  # psycopg.Error, OSError: not reachable or refused
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check(
            "CREATEDB",
            False,
            f"cannot ask PostgreSQL: {first}",
            "start the stack (`inv stack.up`), then run again",
        )
    missing = [r for r in roles if r not in rows]
    lacking = [r for r in roles if r in rows and not rows[r]]
    if missing or lacking:
        parts = []
        if missing:
            parts.append(f"missing roles: {', '.join(missing)}")
        if lacking:
            parts.append(f"without CREATEDB: {', '.join(lacking)}")
        return Check(
            "CREATEDB",
            False,
            "; ".join(parts) + " (Prisma's shadow database needs it)",
            "as lomash_master: `ALTER ROLE <role> CREATEDB;` for each (or "
            "CREATEDB in init.sql's CREATE ROLE, for new clusters)",
        )
    return Check("CREATEDB", True, f"all {len(roles)} service roles may create databases")


def _buckets(ws: Workspace, timeout: float) -> Check:
    aws = ws.registry.aws
    if not ports.answers(aws.host, aws.port, timeout=0.5):
        return Check(
            "S3 buckets",
            False,
            f"nothing listens on {aws.address}",
            "start the stack (`inv stack.up`), then `inv aws.buckets`",
        )
    from lomash_tasks.aws import missing_buckets

    try:
        missing = missing_buckets(ws, timeout=timeout)
    except Exception as exc:
        return Check(
            "S3 buckets",
            False,
            f"cannot list buckets: {exc}",
            "check the AWS endpoint (`inv aws.wait`)",
        )
    if missing:
        return Check("S3 buckets", False, f"missing: {', '.join(missing)}", "`inv aws.buckets`")
    return Check("S3 buckets", True, ", ".join(aws.buckets))
