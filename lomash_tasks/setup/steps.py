"""The steps of `inv setup`, from a fresh clone to a working stack.

    env -> stack -> wait -> db.init -> deps -> db.migrate -> db.seed -> aws -> services

Each step calls the same plain functions as its namespace's tasks and says whether it changed
anything. Checks come first where they are cheap, so a second run on a ready stack does no
work: it reads `_prisma_migrations` instead of starting eight Prisma processes, and compares
init.sql with the server instead of re-running it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks import connections, settings
from lomash_tasks.console import Console
from lomash_tasks.env import files as envfiles
from lomash_tasks.errors import UserError
from lomash_tasks.setup import verified
from lomash_tasks.setup.pipeline import ALREADY, DONE, SKIPPED, Outcome, Step, StepResult
from lomash_tasks.setup.summary import Link, SetupSummary
from lomash_tasks.workspace import Workspace


@dataclass
class SetupState:
    """What the steps share: the workspace, the options, what earlier steps learnt."""

    ws: Workspace
    config: dict[str, Any]
    out: Console
    backend: str | None = None  # flag value; None = stack.backend
    runner: str | None = None  # flag value; None = db.runner
    started: list[str] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)  # steps left out (--skip / --only)
    only: set[str] = field(default_factory=set)  # steps named with --only
    pg: Any = None  # PostgreSQL's fingerprint facts, taken once until a step changes something

    @property
    def ledger(self) -> verified.Ledger:
        """What earlier runs verified (`.lomash/setup-verified.json`)."""
        if not hasattr(self, "_ledger"):
            self._ledger = verified.Ledger(self.ws)
        return self._ledger

    def pg_facts(self, databases: bool = True) -> dict[str, Any] | None:
        """The server's run and catalog and (`databases`) each database as its service logs
        in (see `verified`); None when any of it cannot be asked."""
        if self.pg is None:
            cluster = verified.cluster(self.ws)
            self.pg = {"cluster": cluster} if cluster is not None else False
        if self.pg and databases and "databases" not in self.pg:
            dbs = verified.databases(self.ws)
            self.pg = {**self.pg, "databases": dbs} if dbs is not None else False
        return self.pg or None

    # -- settings, flag beats config ------------------------------------------------------
    def fork(self) -> tuple[SetupState, tuple[Any, Any]]:
        """A copy for a step that runs beside others (pipeline's Step.early): the same
        workspace, settings and record of what was verified, a console that keeps its lines
        (stdout's and stderr's) until the step's turn."""
        import copy
        import io

        self.ledger  # noqa: B018 - made once, shared (it locks its own writes)
        kept = (io.StringIO(), io.StringIO())
        twin = copy.copy(self)
        twin.out = Console(out=kept[0], err=kept[1])
        return twin, kept

    def section(self, cls: Any) -> Any:
        """One namespace's settings (`cls.load`), read once per run."""
        cache = self.__dict__.setdefault("_sections", {})
        if cls not in cache:
            cache[cls] = cls.load(self.config)
        return cache[cls]

    @property
    def stack_settings(self) -> settings.StackSettings:
        return self.section(settings.StackSettings)

    @property
    def db(self) -> settings.DbSettings:
        return self.section(settings.DbSettings)

    @property
    def backend_name(self) -> str:
        from lomash_tasks.stack import resolve

        if not hasattr(self, "_backend_name"):
            self._backend_name = resolve(self.backend, self.stack_settings, self.ws)
        return self._backend_name

    @property
    def runner_name(self) -> str:
        return (self.runner or self.db.runner).strip()


# -- env ----------------------------------------------------------------------------------------
def _env_print(state: SetupState) -> dict[str, Any]:
    """What the comparison depends on: every .env file and example, and the config (the
    registry, the overlay; the stack's passwords come from the root .env)."""
    return {"env": verified.env_files(state.ws), "config": verified.digest(state.config)}


def _env(state: SetupState) -> Outcome:
    before = _env_print(state)
    if state.ledger.same("env", before):
        return Outcome(
            ALREADY,
            f"{len(before['env']) // 2} env files in place (as verified "
            f"before: no .env file, example or setting changed)",
        )
    state.ledger.forget("env")
    outcome, drift = _env_full(state)
    if not drift:  # a disagreement is said on every run, so never kept
        state.ledger.keep("env", _env_print(state))
    return outcome


def _env_full(state: SetupState) -> tuple[Outcome, bool]:
    from lomash_tasks.env import ops as environment
    from lomash_tasks.env import overlays

    overlay = overlays.load(state.section(settings.EnvSettings).overlay, state.ws.registry)
    facts = connections.stack_facts(state.ws, overlay)
    results = environment.copy_env(state.ws, facts=facts)
    for r in results:
        if r.alignment is not None:
            state.out.add_mask(*r.alignment.secrets)
    changed = [r for r in results if r.status != "unchanged"]
    for r in changed:
        state.out.info(f"  {r.file}: {r.summary}")
        for change in r.changes:
            state.out.info(f"    {change.describe()}")
    drift = [r for r in results if r.drift]
    for r in drift:  # a developer's file is never rewritten unasked: said, and left
        state.out.warn(
            f"{r.file}: {len(r.drift)} values disagree with "
            f"the stack ({', '.join(c.key for c in r.drift[:6])}"
            f"{', ...' if len(r.drift) > 6 else ''}): `inv env.check` lists them, "
            f"`inv env.copy --align` sets them (with a backup)"
        )
    if not changed:
        return Outcome(ALREADY, f"{len(results)} env files in place"), bool(drift)
    created = sum(r.status == "created" for r in changed)
    return Outcome(DONE, f"{created} created, {len(changed) - created} updated"), bool(drift)


def _env_plan(state: SetupState) -> str:
    missing = [p for p in state.ws.env_pairs() if not p.env.exists()]
    return (
        f"create {len(missing)} missing .env files from their examples"
        if missing
        else "check the .env files for keys new in the examples"
    )


# -- stack --------------------------------------------------------------------------------------
def _stack(state: SetupState) -> Outcome:
    from lomash_tasks import stack as backends

    chosen = backends.get(state.ws, state.stack_settings, state.backend_name)
    results = chosen.up(log=state.out.info)
    state.started = [r.part for r in results if r.state == backends.STARTED]
    if state.started:
        return Outcome(DONE, f"{chosen.name}: started {', '.join(state.started)}")
    return Outcome(ALREADY, f"{chosen.name}: every part already running")


def _stack_plan(state: SetupState) -> str:
    return (
        f"start postgres, redis, aws, smtp with the {state.backend_name} backend (if not running)"
    )


# -- wait ---------------------------------------------------------------------------------------
def _wait(state: SetupState) -> Outcome:
    from concurrent.futures import ThreadPoolExecutor

    from lomash_tasks.stack import PARTS, probes

    timeout = float(state.stack_settings.wait_timeout)
    # PostgreSQL answering is enough when db.init follows: it creates a missing role or
    # database (one dropped by hand) and says so
    objects = None if "db.init" in state.skipped else False
    with ThreadPoolExecutor(max_workers=len(PARTS)) as pool:  # one deadline, probed side by side
        results = list(
            pool.map(
                lambda part: probes.wait_for(
                    state.ws, part, timeout, backend=state.backend_name, objects=objects
                ),
                PARTS,
            )
        )
    slowest = max(results, key=lambda r: r.elapsed)
    detail = f"{len(results)} parts ready (slowest: {slowest.part}, {slowest.elapsed:.2f}s)"
    return Outcome(DONE if state.started else ALREADY, detail)


# -- db.init ------------------------------------------------------------------------------------
def _db_init_print(state: SetupState) -> dict[str, Any] | None:
    """What db.init's comparison depends on: init.sql, the .env files (role passwords), the
    server's run, databases, roles, ALTER SYSTEM settings and each database's extensions."""
    pg = state.pg_facts()
    if pg is None:
        return None
    cluster = pg["cluster"]
    return {
        "backend": state.backend_name,
        "init_sql": verified.stat(state.ws.init_sql),
        "env": verified.env_files(state.ws),
        "started": cluster["started"],
        "databases": cluster["databases"],
        "roles": cluster["roles"],
        "auto_conf": cluster["auto_conf"],
        "extensions": {n: d["extensions"] for n, d in pg["databases"].items()},
        "missing_locale": state.stack_settings.missing_locale,
        "registry": [[s.role, s.database] for s in state.ws.registry.with_database],
    }


def _db_init(state: SetupState) -> Outcome:
    before = _db_init_print(state)
    if state.ledger.same("db.init", before):
        return Outcome(
            ALREADY,
            "every role, database and extension of init.sql exists "
            "(as verified before: nothing it depends on changed)",
        )
    from lomash_tasks.stack import initsql as dbinit

    state.ledger.forget("db.init")
    outcome = dbinit.apply(state.ws, missing_locale=state.stack_settings.missing_locale)
    for note in outcome.notes + [f"not applied: {s}" for s in outcome.skipped]:
        state.out.warn(f"  {note}")
    if outcome.changed:  # something was created: what the next run compares with is new
        state.pg = None
    state.ledger.keep("db.init", _db_init_print(state) if outcome.changed else before)
    if not outcome.changed:
        return Outcome(ALREADY, "every role, database and extension of init.sql exists")
    return Outcome(DONE, outcome.summary())


# -- deps ---------------------------------------------------------------------------------------
def _deps_needed(state: SetupState) -> list[str]:
    if state.runner_name != "prisma":  # auto and native: the native runner, no Node
        return []
    from lomash_tasks.db.migrate import prisma

    return [s.name for s in state.ws.registry.with_database if not prisma.available(state.ws, s)]


def _services_here(state: SetupState) -> bool:
    """The services run on this machine (`--only deps` prepares them for a later
    `inv services.up`; `--skip services` leaves them out)."""
    from lomash_tasks.services.model import Settings

    left_out = "services" in state.skipped and "deps" not in state.only
    return not left_out and state.backend_name == "embedded" and state.section(Settings).in_setup


def _services_need_deps(state: SetupState) -> list[str]:
    """Services the `services` step will start on this machine without their dependencies."""
    if not _services_here(state):
        return []
    ws = state.ws
    return [s.name for s in ws.registry.services if not ws.facts(s).installed()]


def _deps_services(state: SetupState) -> list[Any]:
    """The services whose Node dependencies this run installs: those the Prisma runner needs
    and those the `services` step starts, lacking them."""
    names = set(_deps_needed(state)) | set(_services_need_deps(state))
    return [
        s
        for s in state.ws.registry.services
        if s.name in names and not state.ws.facts(s).installed()
    ]


def _deps(state: SetupState) -> Outcome:
    from lomash_tasks.services import packages
    from lomash_tasks.services.model import Settings

    if state.runner_name != "prisma" and not _services_here(state):
        return Outcome(
            SKIPPED,
            "migrations need no Node dependencies (the native runner; "
            "`--runner prisma` uses each service's own CLI)",
        )
    chosen = _deps_services(state)
    if not chosen:
        return Outcome(ALREADY, "every service's Node dependencies are installed")
    if shutil.which("node") is None:
        raise UserError(
            "The services' Node dependencies are missing and node was not found: "
            "install Node 20 (or `--skip services` and --runner native)."
        )
    settings = state.section(Settings)
    began = time.monotonic()
    plan = packages.install_plan(state.ws, chosen)
    results = packages.install(
        state.ws, plan, settings.install_jobs, settings.install_timeout, state.out
    )
    failed = [r for r in results if not r.ok]
    if failed:
        names = sum((r.install.services for r in failed), [])
        raise UserError(
            "\n\n".join(r.detail for r in failed) + f"\n\nThe Node dependencies "
            f"of {', '.join(names)} could not be installed ({len(failed)} of "
            f"{len(results)} installs failed; the others are in place). Fix the "
            f"above and run `inv setup` again."
        )
    installs = ", ".join(
        f"{r.install.command} in {state.ws.relative(r.install.folder) or '.'}" for r in results[:3]
    ) + (" ..." if len(results) > 3 else "")
    return Outcome(
        DONE,
        f"{len(chosen)} services installed by {len(results)} installs in "
        f"{time.monotonic() - began:.1f}s ({installs})",
    )


def _deps_plan(state: SetupState) -> str:
    from lomash_tasks.services import packages

    chosen = _deps_services(state)
    if chosen:
        by_command: dict[str, list[str]] = {}
        for i in packages.install_plan(state.ws, chosen):
            what = f"cannot install: {i.problem}" if i.problem else f"`{i.command}`"
            by_command.setdefault(what, []).extend(i.services)
        return "; ".join(f"{what} ({', '.join(names)})" for what, names in by_command.items())
    if state.runner_name != "prisma" and not _services_here(state):
        return "nothing: migrations need no Node dependencies"
    return "nothing: every service's Node dependencies are installed"


# -- db.migrate ---------------------------------------------------------------------------------
def _pending(state: SetupState) -> list[str]:
    """Services with a pending or failed migration, or whose state cannot be read."""
    from lomash_tasks.db import migrate

    return [st.service for st in migrate.status(state.ws) if st.error or st.pending or st.failed]


def _db_migrate_print(state: SetupState) -> dict[str, Any] | None:
    """What the preflight and the migration state depend on: the .env files (each URL), the
    migrations folders, the server's run, databases and roles, and each database's
    `_prisma_migrations` read after logging in with the service's own credentials."""
    pg = state.pg_facts()
    if pg is None:
        return None
    cluster = pg["cluster"]
    return {
        "overlay": state.section(settings.EnvSettings).overlay,
        "env": verified.env_files(state.ws),
        "migrations": verified.migration_files(state.ws),
        "started": cluster["started"],
        "databases": cluster["databases"],
        "roles": cluster["roles"],
        "tables": {n: d["migrations"] for n, d in pg["databases"].items()},
    }


def _db_migrate(state: SetupState) -> Outcome:
    before = _db_migrate_print(state)
    if state.ledger.same("db.migrate", before):
        return Outcome(
            ALREADY,
            "every service's migrations are applied (as verified before: "
            "no migration, .env file or database changed)",
        )
    from lomash_tasks.db import migrate, preflight

    state.ledger.forget("db.migrate")
    preflight.require(state.ws, overlay=state.section(settings.EnvSettings).overlay)
    pending = _pending(state)
    if not pending:
        state.ledger.keep("db.migrate", before)
        return Outcome(ALREADY, "every service's migrations are applied")
    try:
        report = migrate.migrate(
            state.ws,
            pending,
            runner=state.runner_name,
            jobs=state.db.jobs,
            timeout=state.db.timeout,
            out=state.out,
        )
    except migrate.Interrupted as stop:  # say what each service got to, then stop the run
        stop.report.print(state.out, title="db.migrate (interrupted)")
        raise
    finally:
        state.pg = None
    report.print(state.out, title="db.migrate")
    if not report.ok:
        failed = ", ".join(r.service for r in report.failed)
        raise UserError(
            f"Migrations failed for {failed} (see above). Fix them, then run "
            f"`inv setup` again (or `inv db.migrate --service NAME`)."
        )
    state.ledger.keep("db.migrate", _db_migrate_print(state))
    return Outcome(DONE, f"{report.applied_count} migrations applied to {len(pending)} databases")


# -- db.seed ------------------------------------------------------------------------------------
SEEDED_FILE = "seeded.json"


def _seed_marks(state: SetupState) -> dict[str, dict[str, Any]] | None:
    """Per service: the database's OID and the seed file's hash, as they are now (None when
    the server cannot be asked: every seed is then due)."""
    import hashlib

    pg = state.pg_facts(databases=False)
    if pg is None:
        return None
    cluster = pg["cluster"]
    # rows deleted since the seed ran (by hand, or by a test) make it due again (the server's
    # tup_deleted count of the database). A cluster copied from a template repeats OIDs: the
    # server's start time tells a fresh copy (or any restart) from the server that was seeded.
    started = cluster["started"]
    marks = {}
    for svc in state.ws.registry.with_database:
        seed = state.ws.facts(svc).seed
        digest = None
        if seed is not None:  # the seed's command and the files it runs
            h = hashlib.sha256(f"{seed.kind}\0{seed.command}\0".encode())
            for path in seed.files:
                h.update(path.read_bytes() if path.is_file() else b"")
            digest = h.hexdigest()
        oid = cluster["databases"].get(svc.database)
        deleted = cluster["rows_deleted"].get(svc.database)
        marks[svc.name] = {
            "database_oid": int(oid) if oid else None,
            "server_started": started,
            "seed_sha256": digest,
            "rows_deleted": int(deleted) if deleted is not None else None,
        }
    return marks


def _db_seed(state: SetupState) -> Outcome:
    """Seed each database once per (database, server run, seed file); `inv db.seed` always
    re-runs.

    A database dropped and re-created has a new OID, a restarted or re-created server a new
    start time, an edited seed a new hash, rows deleted since (the server's tup_deleted count
    of the database) a new count: each is seeded again (the seeds are idempotent).
    """
    import json

    record = state.ws.state_dir / SEEDED_FILE
    try:
        seen = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    found = _seed_marks(state)
    marks: dict[str, dict[str, Any] | None] = (
        dict(found)
        if found is not None  # else not asked: every seed is due, none recorded until it can be
        else {s.name: None for s in state.ws.registry.with_database}
    )
    due = [name for name, mark in marks.items() if mark is None or seen.get(name) != mark]
    if not due:
        return Outcome(
            ALREADY,
            "every database was seeded from its current seed file "
            "(`inv db.seed` re-runs the seeds)",
        )
    from lomash_tasks.db import ops as database

    results = database.seed(state.ws, due, timeout=state.db.seed_timeout)
    state.pg = None
    failed = [r for r in results if not r.ok]
    ok = {r.service for r in results if r.ok}
    after = _seed_marks(state) or {}  # the seed's own deletes are not a reason to seed again
    seen.update({name: after[name] for name in due if name in ok and after.get(name)})
    state.ws.ensure_state_dir()
    envfiles.write_atomic(record, json.dumps(seen, indent=2) + "\n")
    if failed:
        raise UserError("Seeding failed:\n" + "\n".join(f"{r.service}: {r.error}" for r in failed))
    inserted = sum(r.inserted for r in results)
    ran = [r for r in results if r.skipped is None]
    if inserted:
        return Outcome(DONE, f"{inserted} rows inserted into {len(due)} databases")
    if not ran:
        return Outcome(SKIPPED, "no service has a seed")
    return Outcome(ALREADY, f"{len(ran)} seeds ran, every seed row was present")


# -- aws ----------------------------------------------------------------------------------------
def _aws_print(state: SetupState, prefix: str) -> dict[str, Any] | None:
    """What the bootstrap's comparison depends on: the .env files (the secrets' values), the
    registry's resources and what the endpoint holds now (`verified.aws_resources`)."""
    held = verified.aws_resources(state.ws)
    if held is None:
        return None
    aws = state.ws.registry.aws
    return {
        "prefix": prefix,
        "env": verified.env_files(state.ws),
        "held": held,
        "registry": [aws.url, aws.region, list(aws.buckets), aws.sender, list(aws.queues)],
    }


def _aws(state: SetupState) -> Outcome:
    from lomash_tasks import aws as aws_ops

    prefix = state.section(settings.AwsSettings).secret_prefix
    before = _aws_print(state, prefix)
    if state.ledger.same("aws", before):
        return Outcome(
            ALREADY,
            "every bucket, queue, secret and the SES sender exist and match "
            "(as verified before: the endpoint holds the same resources)",
        )
    state.ledger.forget("aws")
    report = aws_ops.bootstrap(state.ws, prefix=prefix)
    state.ledger.keep("aws", before if not report.changed else _aws_print(state, prefix))
    return Outcome(DONE if report.changed else ALREADY, report.summary)


# -- services -----------------------------------------------------------------------------------
def services_backend(state: SetupState) -> Any:
    """The services' backend this run starts them with (service_options, the stack's)."""
    from lomash_tasks import services
    from lomash_tasks.services.model import Settings

    return services.get(state.ws, state.section(Settings), state.stack_settings, state.backend_name)


def _services(state: SetupState) -> Outcome:
    from lomash_tasks.services.model import FAILED, STARTED, Settings, failures_text

    if not state.section(Settings).in_setup:
        return Outcome(SKIPPED, "service_options.in_setup is off: `inv services.up` starts them")
    chosen = services_backend(state)
    results = chosen.up(log=state.out.info)
    failed = [r for r in results if r.state == FAILED]
    if failed:
        raise UserError(failures_text(results))
    started = [r.service for r in results if r.state == STARTED]
    slowest = max(results, key=lambda r: r.seconds)
    if started:
        return Outcome(
            DONE,
            f"{chosen.name}: {len(started)} started, all {len(results)} healthy "
            f"(slowest: {slowest.service}, {slowest.seconds:.2f}s)",
        )
    return Outcome(ALREADY, f"{chosen.name}: all {len(results)} services already healthy")


# `services` starts in the background once `deps` is done: its Node processes boot on the other
# core while the database steps and `aws` run (measured: 0.3-0.4 s off a cold run on 2 cores).
# `aws` does not: boto3's clients are Python work that would hold the interpreter's lock
# against the steps beside it (a cold run measured 0.3 s slower with it in the background).
STEPS = [
    Step("env", "create missing .env files from their examples", _env, _env_plan),
    Step(
        "stack", "start PostgreSQL, Redis, the AWS endpoint and the SMTP trap", _stack, _stack_plan
    ),
    Step(
        "wait",
        "wait until every part answers a real protocol check",
        _wait,
        lambda s: "probe postgres, redis, aws and smtp until ready",
    ),
    Step(
        "db.init",
        "create what init.sql creates and is missing",
        _db_init,
        lambda s: (
            "run the parts of infra/docker/postgres/init.sql that create a missing role, "
            "database or extension"
        ),
    ),
    Step(
        "deps",
        "install the services' Node dependencies, each with its own package manager",
        _deps,
        _deps_plan,
    ),
    Step(
        "db.migrate",
        "apply every service's pending migrations",
        _db_migrate,
        lambda s: f"apply pending migrations of the 8 databases ({s.runner_name} runner)",
    ),
    Step(
        "db.seed",
        "run every service's idempotent seed",
        _db_seed,
        lambda s: (
            "run each database service's seed (prisma/seed.sql, its Prisma seed "
            "command or db:seed script)"
        ),
    ),
    Step(
        "aws",
        "create buckets, queues, secrets and the SES sender",
        _aws,
        lambda s: "create missing buckets, queues (+DLQ), secrets, SES sender",
    ),
    Step(
        "services",
        "start the gateway and the eight services (hot reload, inspectors)",
        _services,
        lambda s: (
            f"start the nine services with the {s.backend_name} backend and "
            f"wait until each answers GET /health"
        ),
        early="deps",
    ),
]


def summary(state: SetupState, results: list[StepResult], dry: bool = False) -> SetupSummary:
    """The run's summary; after a real run, with where things are."""
    return SetupSummary(results, str(state.ws.root), [] if dry else where_things_are(state), dry)


def where_things_are(state: SetupState) -> list[Link]:
    """What answers now, asking the run's services backend (the ports alone when it cannot be
    had)."""
    try:
        backend = state.backend_name
        return urls(state.ws, services_backend(state), backend)
    except UserError:
        return urls(state.ws)


def urls(ws: Workspace, services: Any = None, backend: str = "embedded") -> list[Link]:
    """What answers now, with its state. The tools only Compose runs are marked so (and shown
    as running only when they answer)."""
    from lomash_tasks.services.model import STOPPED
    from lomash_tasks.stack import ports

    reg = ws.registry
    rows: list[Link] = []
    statuses = {}
    if services is not None:
        try:
            statuses = {st.service: st for st in services.status(inspectors=False)}
        except UserError:
            statuses = {}
    for s in reg.services:
        st = statuses.get(s.name)
        state = st.state if st else ("answering" if ports.answers("127.0.0.1", s.port) else "")
        if state and state != STOPPED:
            rows.append(Link(s.name, f"http://localhost:{s.port}", state, f"debug {s.debug_port}"))
    infra = [
        (
            "postgres",
            reg.postgres,
            f"postgresql://{reg.postgres.superuser}:****@{reg.postgres.address}",
            "superuser",
        ),
        ("redis", reg.redis, f"redis://:****@{reg.redis.address}", "indexes 0-7"),
        (
            "mail (SMTP)",
            reg.smtp,
            f"smtp://{reg.smtp.address}",
            f"web http://{reg.smtp.host}:{reg.smtp.web_port}",
        ),
        ("aws endpoint", reg.aws, reg.aws.url, f"region {reg.aws.region}"),
    ]
    for name, ep, address, note in infra:
        if ports.answers(ep.host, ep.port):
            rows.append(Link(name, address, "running", note))
    for t in reg.tools:
        login = t.login.split(" / ")[0] + " / ****" if t.login else ""
        if backend == "compose" and ports.answers("127.0.0.1", t.port):
            rows.append(Link(t.name, t.url, "running", login))
        else:
            note = "runs with `--backend compose`" if backend != "compose" else login
            rows.append(Link(t.name, t.url, "Compose only", note))
    return rows
