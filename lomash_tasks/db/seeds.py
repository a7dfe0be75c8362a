"""Seeding a service's database the way its monorepo does it.

    seed_one(ws, svc, timeout) -> SeedResult

Where the seed comes from is `ws.facts(svc).seed` (see `lomash_tasks.monorepo`), in the
conventions' order:

- `prisma/seed.sql`: plain, idempotent SQL that the suite runs itself, as the service's role, in
  one transaction (rows inserted counted by the server).
- Prisma's seed command (`migrations.seed` in prisma.config.ts, `prisma.seed` in package.json),
  e.g. `ts-node prisma/seed.ts`: run in the service's folder with its `node_modules/.bin` on
  PATH, its `.env` values in the environment and DATABASE_URL (and the variable its Prisma
  config reads) pointing at the stack, with a deadline.
- A `db:seed` (or `prisma:seed`, `seed`) script: `npm run db:seed` (its package manager).

A seed that cannot run (no dependencies installed, its Prisma client never generated, its
command missing) is reported as not seeded, with the reason: an error, never "present". For the
command seeds the rows inserted are counted from the tables before and after.

Profiles (`db.seed --profile demo`, the `seed_profile` of an environment): a service's
`prisma/seed.<profile>.sql` (or beside its schema) is its seed where it exists; otherwise its
usual seed runs, and a command seed finds the profile in `SEED_PROFILE` (as the monorepo's own
`seed.sh` modes standard, minimal, demo, test would).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.db.migrate.runner import ServiceResult
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

PROFILE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
PROFILE_ENV = "SEED_PROFILE"
PRISMA_CLIENT_IMPORT = re.compile(r"""(?:from\s+|require\(\s*)['"]@prisma/client['"]""")
ROW_COUNT_LIMIT_BYTES = 256 * 1024 * 1024  # count rows exactly only below this database size


@dataclass
class SeedResult(ServiceResult):
    service: str
    inserted: int = 0  # rows inserted by this run (0 on a re-run: the seeds are idempotent)
    seconds: float = 0.0
    error: str | None = None
    skipped: str | None = None
    source: str = ""  # where the seed came from ("services/auth-service/package.json prisma.seed")
    output: str = ""  # a command seed's last lines of output
    profile: str = ""  # the profile asked for ("" = the default seed)

    @property
    def changed(self) -> bool:
        return bool(self.inserted)

    @property
    def result_text(self) -> str:
        if self.error is not None:
            return self.error
        if self.skipped is not None:
            return self.skipped
        return "inserted" if self.inserted else "already seeded (no new rows)"


def check_profile(profile: str | None) -> str:
    """A profile name as given (lower case letters, digits, '-' and '_'), or a UserError."""
    value = (profile or "").strip()
    if value and not PROFILE_RE.fullmatch(value):
        raise UserError(
            f"Seed profile {profile!r} is not usable: use lower-case letters, digits, "
            f"'-' and '_' (e.g. demo, minimal, test); it names prisma/seed.<profile>.sql "
            f"and is passed to seed commands as {PROFILE_ENV}."
        )
    return value


def seed_for(ws: Workspace, svc: Service, profile: str = ""):
    """The seed to run: the profile's `seed.<profile>.sql` where the service has one, else its
    usual seed (`ws.facts(svc).seed`)."""
    from lomash_tasks import monorepo

    facts = ws.facts(svc)
    if profile:
        found = monorepo.sql_seed(facts.folder, facts.relative, facts.prisma, f"seed.{profile}.sql")
        if found is not None:
            return found
    return facts.seed


def seed_one(ws: Workspace, svc: Service, timeout: float = 60.0, profile: str = "") -> SeedResult:
    """Seed one service's database by its monorepo's convention (see the module docstring)."""
    began = time.monotonic()
    profile = check_profile(profile)
    seed = seed_for(ws, svc, profile)
    if seed is None:
        return SeedResult(
            svc.name,
            skipped="no seed (no prisma/seed.sql, no Prisma seed command, no db:seed script)",
            profile=profile,
        )
    if seed.kind == "sql":
        result = _sql_seed(ws, svc, Path(seed.command), timeout)
    else:
        result = _command_seed(ws, svc, timeout, profile)
    result.source = seed.source
    result.profile = profile
    result.seconds = time.monotonic() - began
    return result


# -- prisma/seed.sql ----------------------------------------------------------------------------
def _sql_seed(ws: Workspace, svc: Service, path: Path, timeout: float) -> SeedResult:
    import psycopg

    from lomash_tasks.db.migrate import native
    from lomash_tasks.db.migrate.problems import classify, first_line

    result = SeedResult(svc.name)
    raw = path.read_bytes()
    try:
        script = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        result.error = (
            f"{ws.relative(path)} is not UTF-8 (byte 0x{raw[exc.start]:02x} on line "
            f"{line}); save it as UTF-8 and run again"
        )
        return result
    try:
        conn = connections.pg_connect(ws, svc, timeout=min(timeout, 10.0), autocommit=True)
    except psycopg.Error as exc:
        address = ws.registry.postgres.address
        result.error = classify(str(exc), svc, address) or first_line(str(exc))
        return result
    try:
        with conn:
            conn.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            with conn.transaction():
                conn.execute(script, prepare=False)
                # Tuples this transaction inserted, over every table (ON CONFLICT DO NOTHING
                # skips count as none).
                row = conn.execute(
                    "SELECT coalesce(sum(n_tup_ins), 0)::bigint FROM pg_stat_xact_user_tables"
                ).fetchone()
                result.inserted = int(row[0])
    except psycopg.Error as exc:
        text = native.describe_sql_error(exc, script)
        hint = ""
        if getattr(exc, "sqlstate", None) == "42P01":
            hint = f"; are its migrations applied? (`inv db.migrate --service {svc.alias}`)"
        result.error = f"{ws.relative(path)} failed and was rolled back: {text}{hint}"
    return result


# -- Prisma's seed command and seed scripts -------------------------------------------------------
def _bin_dirs(ws: Workspace, svc: Service) -> list[Path]:
    facts = ws.facts(svc)
    dirs = [facts.node_modules / ".bin"]
    if facts.installer.folder != facts.folder:
        dirs.append(facts.installer.folder / "node_modules" / ".bin")
    return [d for d in dirs if d.is_dir()]


def seed_argv(ws: Workspace, svc: Service) -> tuple[list[str], str]:
    """(argv, how it reads) of a command seed, or a UserError saying why it cannot run."""
    facts = ws.facts(svc)
    seed = facts.seed
    assert seed is not None and seed.kind != "sql"
    path = os.pathsep.join([*(str(d) for d in _bin_dirs(ws, svc)), os.environ.get("PATH", "")])
    if seed.kind == "script":
        manager = facts.installer.manager
        exe = commands.pnpm_path() if manager == "pnpm" else commands.which(manager)
        if exe is None:
            raise UserError(f"{manager} is not installed (it runs {seed.source})")
        return [exe, "run", seed.command], f"{manager} run {seed.command}"
    words = commands.script_argv(seed.command)
    if words[0] == "sh":
        return words, seed.command
    exe = commands.which(words[0], path=path)
    if exe is None:
        raise UserError(
            f"`{words[0]}` (from {seed.source}) is not installed in "
            f"{ws.relative(facts.node_modules / '.bin')} nor on PATH"
        )
    return [exe, *words[1:]], seed.command


def seed_line(ws: Workspace, svc: Service) -> str:
    """The command line a command seed runs (a script: its body), for messages."""
    facts = ws.facts(svc)
    seed = facts.seed
    assert seed is not None and seed.kind != "sql"
    if seed.kind == "script":
        scripts = (facts.package or {}).get("scripts")
        body = scripts.get(seed.command) if isinstance(scripts, dict) else None
        return body if isinstance(body, str) else seed.command
    return seed.command


def _missing_files(ws: Workspace, svc: Service) -> list[str]:
    """The script files (`prisma/seed.ts`) the seed's command line names that do not exist."""
    folder = ws.service_dir(svc)
    words = commands.script_argv(seed_line(ws, svc))
    return [
        w
        for w in words[1:]
        if re.fullmatch(r"[\w./-]+\.(?:[cm]?[jt]s)", w) and not (folder / w).exists()
    ]


def _not_seedable(ws: Workspace, svc: Service) -> str | None:
    """Why the command seed cannot run here (checked before running it), or None."""
    facts = ws.facts(svc)
    seed = facts.seed
    assert seed is not None
    missing = _missing_files(ws, svc)
    if missing:  # the monorepo's own mistake: no install fixes it
        return (
            f"it runs {', '.join(missing)}, which does not exist in {facts.relative}: "
            f"write that seed or point {seed.source.split(' ')[-1]} at the right file"
        )
    if not facts.node_modules.is_dir():
        install = " ".join([facts.installer.manager, *facts.installer.frozen_command])
        return (
            f"its Node dependencies are not installed ({facts.relative}/node_modules is "
            f"missing): `inv setup --only deps` (or `{install}` in "
            f"{ws.relative(facts.installer.folder) or '.'})"
        )
    for path in seed.files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if PRISMA_CLIENT_IMPORT.search(text) and not _client_generated(ws, svc):
            version = facts.prisma.cli_version
            extra = ""
            if version and int(version.split(".")[0]) >= 7 and not facts.prisma.engines_present():
                extra = f" (Prisma {version} downloads its engines to generate: it needs network)"
            return (
                f"{ws.relative(path)} imports @prisma/client, whose client was never "
                f"generated: run `npx prisma generate` in {facts.relative}{extra}"
            )
    return None


def _client_generated(ws: Workspace, svc: Service) -> bool:
    """A generated Prisma client is where @prisma/client looks for it (node_modules/.prisma)."""
    from lomash_tasks.monorepo.packages import installed_version

    _, client = installed_version(ws.service_dir(svc), ws.root, "@prisma/client")
    if client is None:
        return False
    generated = client.resolve().parent.parent / ".prisma" / "client"
    return (generated / "index.js").is_file() or (generated / "default.js").is_file()


def _environment(ws: Workspace, svc: Service, profile: str = "") -> dict[str, str]:
    """The service's own .env values, then the stack's DATABASE_URL, then PATH with its bins
    (and SEED_PROFILE when a profile was asked for)."""
    from lomash_tasks.env import files as envfiles

    env: dict[str, str] = {}
    pair = ws.env_pair(svc)
    if pair.env.is_file():
        env.update(envfiles.read_env(pair.env).as_dict())
    env.update({k: v for k, v in os.environ.items()})  # the caller's environment wins, as in Node
    url = connections.database_url(ws, svc)
    env["DATABASE_URL"] = url
    url_env = ws.facts(svc).prisma.url_env
    if url_env:
        env[url_env] = url
    env["PATH"] = os.pathsep.join([*(str(d) for d in _bin_dirs(ws, svc)), env.get("PATH", "")])
    env.setdefault("NODE_ENV", "development")
    env["CI"] = "true"  # nothing prompts
    if profile:
        env[PROFILE_ENV] = profile
    return env


def row_counts(ws: Workspace, svc: Service) -> dict[str, int] | None:
    """Exact row counts of the service's tables (None for a database too large to count)."""
    sql = """
        SELECT format('%I.%I', n.nspname, c.relname),
               (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I',
                       n.nspname, c.relname), false, true, '')))[1]::text::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%' AND c.relname <> '_prisma_migrations'
    """
    with connections.pg_connect(ws, svc, timeout=10.0, autocommit=True) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        if size > ROW_COUNT_LIMIT_BYTES:
            return None
        return {name: int(count) for name, count in conn.execute(sql).fetchall()}


def _command_seed(ws: Workspace, svc: Service, timeout: float, profile: str = "") -> SeedResult:
    import psycopg

    from lomash_tasks.db.migrate.problems import classify, first_line

    result = SeedResult(svc.name)
    seed = ws.facts(svc).seed
    assert seed is not None
    reason = _not_seedable(ws, svc)
    if reason is None:
        try:
            argv, shown = seed_argv(ws, svc)
        except UserError as err:
            reason = err.text
    if reason is not None:
        result.error = f"not seeded ({seed.source}: `{seed_line(ws, svc)}`): {reason}"
        return result
    try:
        before = row_counts(ws, svc)
    except psycopg.Error as exc:
        address = ws.registry.postgres.address
        result.error = f"not seeded: {classify(str(exc), svc, address) or first_line(str(exc))}"
        return result
    try:
        done = commands.run(
            argv,
            cwd=ws.service_dir(svc),
            env=_environment(ws, svc, profile),
            replace_env=True,
            timeout=timeout,
            check=False,
            effect=True,
        )
    except commands.CommandTimeout:
        result.error = (
            f"`{shown}` ({seed.source}) did not finish within {timeout:g} s and was "
            f"stopped (db.seed_timeout)"
        )
        return result
    except commands.CommandError as err:
        result.error = f"`{shown}` ({seed.source}) could not start: {err.text}"
        return result
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
    result.output = tail
    if done.code != 0:
        result.error = f"`{shown}` ({seed.source}) failed (exit {done.code}):\n{tail}"
        return result
    after = row_counts(ws, svc)
    if before is not None and after is not None:
        result.inserted = sum(max(0, n - before.get(t, 0)) for t, n in after.items())
    return result
