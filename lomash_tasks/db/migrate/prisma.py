"""The Prisma runner: each service's own Prisma CLI (`node_modules/.bin/prisma`), as developers
run it.

The CLI runs from the service's folder (its prisma.config.ts sets the Wasm engine and the driver
adapter, so nothing is downloaded), with a host-reachable DATABASE_URL in its environment (never
on the command line: it would show in `ps`), stdin closed and a deadline. Its exit code decides;
its output is classified into one line per service. What was applied is read from
`_prisma_migrations` before and after, so the counts do not depend on Prisma's wording.

New migrations (`db.migrate --mode dev --name NAME`) are created with `prisma migrate diff` from
the migration folders to the schema, written as `prisma/migrations/<UTC timestamp>_<name>/`:
`prisma migrate dev --create-only` exits 1 after writing in 6.19.3 (a known defect).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.db.migrate import native
from lomash_tasks.db.migrate.problems import classify, first_line
from lomash_tasks.db.migrate.runner import MigrateResult
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace


def cli_path(ws: Workspace, svc: Service) -> Path:
    """The `prisma` executable Node's resolution finds for the service (its node_modules/.bin)."""
    cli_dir = ws.facts(svc).prisma.cli_dir
    if cli_dir is not None:
        return cli_dir.parent / ".bin" / "prisma"
    return ws.service_dir(svc) / "node_modules" / ".bin" / "prisma"


def available(ws: Workspace, svc: Service) -> bool:
    """True when the service's own Prisma CLI can run here (see `why`)."""
    return ws.facts(svc).prisma.runnable()[0] and cli_path(ws, svc).exists()


def why(ws: Workspace, svc: Service) -> str:
    """Why the Prisma CLI can, or cannot, run for this service (one clause)."""
    ok, reason = ws.facts(svc).prisma.runnable()
    if ok and not cli_path(ws, svc).exists():
        return f"{ws.relative(cli_path(ws, svc))} is missing"
    return reason


def missing_reason(ws: Workspace, svc: Service) -> str:
    facts = ws.facts(svc)
    if facts.prisma.cli_version is None:
        install = " ".join([facts.installer.manager, *facts.installer.frozen_command])
        return (
            f"its Prisma CLI is not installed: run `{install}` in "
            f"{ws.relative(facts.installer.folder) or '.'} (or `inv setup --only deps`), "
            f"or use --runner native"
        )
    return f"{why(ws, svc)}; use --runner native"


@dataclass
class CliRun:
    code: int | None  # None: timed out
    output: str  # stdout and stderr
    seconds: float
    stdout: str = ""


def run_cli(
    ws: Workspace,
    svc: Service,
    args: list[str],
    timeout: float,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> CliRun:
    """`prisma ARGS` in the service's folder with DATABASE_URL in the environment."""
    env = dict(os.environ)
    env.update(extra_env or {})
    # application_name marks the CLI's sessions on the server: a stopped run ends them there
    env["DATABASE_URL"] = _with_app_name(database_url or connections.database_url(ws, svc))
    # Prisma 7 reads the url from the variable its prisma.config.ts names (`env("DIRECT_URL")`)
    url_env = ws.facts(svc).prisma.url_env
    if url_env:
        env[url_env] = env["DATABASE_URL"]
    env.setdefault("PRISMA_HIDE_UPDATE_MESSAGE", "1")
    env["CHECKPOINT_DISABLE"] = "1"  # no telemetry call (unreachable here anyway)
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    began = time.monotonic()
    try:
        # The command layer runs it in its own process group: bin/prisma is a shell shim
        # around node, and a deadline ends both.
        done = commands.run(
            [cli_path(ws, svc), *args],
            cwd=ws.service_dir(svc),
            env=env,
            replace_env=True,
            timeout=timeout,
            check=False,
        )
    except commands.CommandTimeout as err:
        return CliRun(None, f"{err.stdout}\n{err.stderr}", time.monotonic() - began, err.stdout)
    except commands.CommandNotFound as err:
        return CliRun(127, err.text, time.monotonic() - began)
    return CliRun(done.code, f"{done.stdout}\n{done.stderr}", time.monotonic() - began, done.stdout)


def _with_app_name(url: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    from lomash_tasks.db.migrate.sessions import PRISMA_APP

    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "application_name"
    ]
    query.append(("application_name", PRISMA_APP))
    return parts._replace(query=urlencode(query)).geturl()


def explain(output: str, svc: Service, address: str) -> str:
    """One line for a failed Prisma command."""
    known = classify(output, svc, address)
    if known:
        return known
    if "P3009" in output:
        found = re.search(r"The `([^`]+)` migration started at .* failed", output)
        name = found.group(1) if found else "a migration"
        return (
            f"migration {name} failed earlier; nothing more is applied until it is resolved "
            f"(P3009): {native.failed_hint(svc, found.group(1) if found else None)}"
        )
    if "P3018" in output or "external connector error" in output or "Migration name:" in output:
        name = re.search(r'migration_name="([^"]+)"', output) or re.search(
            r"Migration name: (\S+)", output
        )
        lines = [s.strip() for s in output.splitlines() if s.strip()]
        cause = ""
        for i, line in enumerate(lines):
            if line.startswith("Error: external connector error") and i + 1 < len(lines):
                cause = lines[i + 1]
                break
            if line.startswith("Database error:") and i + 1 < len(lines):
                cause = lines[i + 1]
                break
        which = name.group(1) if name else "a migration"
        return (
            f"migration {which} failed: {cause or 'see prisma output'}; "
            f"{native.failed_hint(svc, name.group(1) if name else None)}"
        )
    if "P3015" in output:
        return (
            "a migration folder has no migration.sql (P3015): restore the file, or delete "
            "the folder if it is not a migration"
        )
    if "P1002" in output and "advisory lock" in output:
        return (
            f"another migration holds the lock of {svc.database} (pg_advisory_lock "
            f"{native.LOCK_ID}); Prisma gave up after 10 s. Wait for it to finish and run "
            f"again"
        )
    if "permission denied" in output.lower():
        line = next((s for s in output.splitlines() if "permission denied" in s.lower()), "")
        return f"permission denied: {line.strip()}"
    errors = [s.strip() for s in output.splitlines() if s.strip().startswith("Error")]
    return errors[0] if errors else first_line(output[-2000:]) or "prisma failed"


def deploy(
    ws: Workspace, svc: Service, timeout: float = 300.0, retry: bool = False
) -> MigrateResult:
    """`prisma migrate deploy` for one service; applied / already applied from the table."""
    began = time.monotonic()
    result = MigrateResult(svc.name, runner="prisma")
    address = ws.registry.postgres.address
    before = native.status(ws, svc, timeout=min(timeout, 10.0))
    if before.error:
        result.error = before.error
        result.seconds = time.monotonic() - began
        return result
    if retry and before.failed:
        marked = native.retry_failed(ws, svc)
        result.warnings.append(
            f"marked failed migration(s) {', '.join(marked)} as rolled back, applying again"
        )
        before = native.status(ws, svc, timeout=min(timeout, 10.0))
    result.warnings += before.warnings()
    result.already = len(before.applied)
    if not before.pending and not before.failed:
        # Nothing for Prisma to do (its deploy would say "No pending migrations to apply."):
        # skip the ~1 s Node start-up per service.
        result.seconds = time.monotonic() - began
        return result
    from lomash_tasks.db.migrate.runner import STOP
    from lomash_tasks.db.migrate.sessions import stop_prisma_sessions

    run = run_cli(ws, svc, ["migrate", "deploy"], timeout)
    stopped = ""
    if run.code is None or STOP.is_set():  # the CLI was stopped: so is its work on the server
        why = "interrupted" if STOP.is_set() else f"the run's deadline of {timeout:.0f} s"
        pending = [m.name for m in before.pending]
        blockers, marked = stop_prisma_sessions(ws, svc, pending, why)
        waited = f"; it was waiting for {blockers}" if blockers else ""
        undone = (
            f"; {', '.join(marked)} was stopped on the server and rolled back (recorded "
            f"as rolled back: still pending)"
            if marked
            else ""
        )
        stopped = f"{waited}{undone}"
    after = native.status(ws, svc, timeout=min(timeout, 10.0))
    done_before = set(before.applied)
    # What this run applied: new rows that its own CLI says it applied (another run waiting
    # for the same lock may have applied the rest meanwhile: not ours to count).
    # 6.19.3 lists them as a tree ("└─ 20260101000000_init/"), others as "Applying `X`".
    printed = {
        n
        for n in after.applied
        if re.search(rf"(?:`{re.escape(n)}`|\b{re.escape(n)}/)", run.output)
    }
    result.applied = [n for n in after.applied if n not in done_before and n in printed]
    others = [n for n in after.applied if n not in done_before and n not in printed]
    if others and run.code == 0:
        result.already += len(others)
        result.warnings.append(f"{', '.join(others)} applied meanwhile by another run")
    if STOP.is_set():
        result.error = f"interrupted{stopped}; run again to apply what is pending"
    elif run.code is None:
        result.error = (
            f"prisma migrate deploy did not finish within {timeout:.0f} s"
            f"{stopped or ' (last output: ' + (first_line(run.output[-300:]) or 'none') + ')'}"
            f"; end the session it waited for (or raise db.timeout / --timeout) and "
            f"run again"
        )
    elif run.code != 0:
        result.error = explain(run.output, svc, address)
    result.seconds = time.monotonic() - began
    return result


# -- new migrations (--mode dev) -----------------------------------------------------------------
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,200}$")
EXTENSION_RE = re.compile(r'CREATE EXTENSION IF NOT EXISTS "([^"]+)"[^;]*;', re.I)


@dataclass
class NewMigration:
    service: str
    name: str
    path: Path | None  # None: nothing to write (the schema matches the migrations)
    sql: str


def create_migration(
    ws: Workspace, svc: Service, name: str, timeout: float = 120.0, now: datetime | None = None
) -> NewMigration:
    """Write prisma/migrations/<UTC timestamp>_<name>/migration.sql from the schema's changes.

    Prisma computes the SQL (`migrate diff --from-migrations ... --to-schema-datamodel ...`,
    replaying the migrations in a temporary shadow database that the adapter creates and
    drops); an empty difference writes nothing and raises a UserError.
    """
    if not NAME_RE.match(name or ""):
        raise UserError(
            f"Migration name {name!r} is not usable: use letters, digits and "
            f"underscores, e.g. --name add_wishlist_notes."
        )
    if not available(ws, svc):
        raise UserError(
            f"Creating a migration needs the Prisma CLI of {svc.name}: {missing_reason(ws, svc)}."
        )
    mig_dir = ws.migrations_dir(svc)
    layout = ws.facts(svc).prisma
    schema = layout.schema
    if schema is None or not schema.exists():
        where = ws.relative(schema) if schema else "prisma/schema.prisma"
        raise UserError(
            f"{svc.name} has no Prisma schema ({where} does not exist, and its "
            f"config names none): nothing to create a migration from."
        )
    folder = ws.service_dir(svc)
    args = [
        "migrate",
        "diff",
        "--from-migrations",
        os.path.relpath(mig_dir, folder),
        "--to-schema-datamodel",
        os.path.relpath(schema, folder),
        "--script",
    ]
    run = run_cli(ws, svc, args, timeout)
    if run.code != 0:
        why = (
            "timed out"
            if run.code is None
            else explain(run.output, svc, ws.registry.postgres.address)
        )
        raise UserError(f"prisma migrate diff failed for {svc.name}: {why}")
    cleaned = without_known_extensions(run.stdout, mig_dir)
    if not has_statements(cleaned):
        raise UserError(
            f"{svc.name}: the schema ({ws.relative(schema)}) already matches its "
            f"migrations: no migration written. Edit the schema first."
        )
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    folder = mig_dir / f"{stamp}_{name}"
    if folder.exists():
        raise UserError(
            f"{ws.relative(folder)} already exists: wait a second or pick another name."
        )
    folder.mkdir(parents=True)
    path = folder / native.MIGRATION_FILE
    path.write_text(cleaned.strip() + "\n", encoding="utf-8")
    return NewMigration(svc.name, folder.name, path, cleaned)


def without_known_extensions(sql: str, migrations: Path) -> str:
    """A diff's SQL without the CREATE EXTENSION lines the migrations already have: Prisma
    repeats CREATE EXTENSION IF NOT EXISTS for every extension of the datasource in every diff
    (no-ops)."""
    known: set[str] = set()
    for m in native.local_migrations(migrations):
        known.update(x.lower() for x in EXTENSION_RE.findall(m.sql()))
    cleaned = EXTENSION_RE.sub(lambda m: "" if m.group(1).lower() in known else m.group(0), sql)
    return re.sub(r"-- CreateExtension\s*(?=(--|\Z))", "", cleaned)


def has_statements(sql: str) -> bool:
    for line in sql.splitlines():
        text = line.strip()
        if text and not text.startswith("--"):
            return True
    return False
