"""Environments: the development databases again, under other names, for one purpose (`--env test`).

    env = load(config, "test")         # an Environment from config `environments` (a UserError
                                       # listing the known ones for a name it does not know)
    ews = view(ws, env)                # the Workspace as the environment sees it: each service's
                                       # database is `<database><suffix>` (lomash_auth_test) and
                                       # its env file `.env.test`; every db function works on it
    ensure(ws, env, services)          # create the missing databases, as init.sql makes the real
                                       # ones (same role, owner, extensions, grants)
    reset(ws, env, svc, ...)           # drop one and clone it from the service's template

The template (`<database>_test_template`) is the test database made by init.sql and migrated
once; a reset is then `CREATE DATABASE ... TEMPLATE` (a file copy on the server), the grants
init.sql gives the database, and the environment's seed. The template is made again whenever
init.sql or a migration of the service changes (its key, a hash of both, is the template's
comment). Environments are local: the suite makes and drops their databases as the superuser.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lomash_tasks import connections
from lomash_tasks.errors import UserError, suggest
from lomash_tasks.registry import CONFIG_FILE, ConfigReader, Service
from lomash_tasks.workspace import ENV_FILE, Workspace

DEFAULT = "development"
KEYS = ("database_suffix", "env_file", "seed_profile", "variables", "description")
MAX_NAME = 63  # PostgreSQL's identifier length
TEMPLATE_SUFFIX = "_template"
TEMPLATE_MARK = "lomash-tasks template"


@dataclass(frozen=True)
class Environment:
    name: str
    database_suffix: str = ""
    env_file: str = ENV_FILE
    seed_profile: str = ""
    variables: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    def database(self, name: str) -> str:
        return f"{name}{self.database_suffix}"


DEVELOPMENT = Environment(DEFAULT)


# -- config -------------------------------------------------------------------------------------
def names(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("environments") or {}
    return (
        [DEFAULT] + sorted(str(n) for n in raw if str(n) != DEFAULT)
        if isinstance(raw, Mapping)
        else [DEFAULT]
    )


def load(config: Mapping[str, Any], name: str | None, source: str = CONFIG_FILE) -> Environment:
    """The environment called `name` (development for None); every one configured is checked."""
    wanted = (name or DEFAULT).strip()
    raw = config.get("environments") or {}
    reader = ConfigReader(source)
    if not isinstance(raw, Mapping):
        reader.fail("environments", "must be a mapping of environment name to its settings")
    loaded = {str(n): _environment(reader, str(n), raw[n]) for n in raw if str(n) != DEFAULT}
    if wanted == DEFAULT:
        return DEVELOPMENT
    if wanted not in loaded:
        known = [DEFAULT] + sorted(loaded)
        raise UserError(
            f"Unknown environment '{wanted}' (--env).{suggest(wanted, known)} Known "
            f"environments: {', '.join(known)} (development is the stack's own "
            f"databases and .env files; the others are configured under "
            f"'environments' in {source} or shipped with the suite)."
        )
    return loaded[wanted]


def _environment(reader: ConfigReader, name: str, raw: Any) -> Environment:
    from lomash_tasks.db.seeds import PROFILE_RE

    at = f"environments.{name}"
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", name):
        reader.fail(at, "is not a usable environment name (lower-case letters, digits, '-', '_')")
    if not isinstance(raw, Mapping):
        reader.fail(at, "must be a mapping (database_suffix, env_file, seed_profile, variables)")
    reader.known(raw, at, KEYS)
    suffix = str(raw.get("database_suffix") or "").strip()
    if not re.fullmatch(r"_[a-z0-9_]{1,20}", suffix):
        reader.fail(
            f"{at}.database_suffix",
            f"must start with '_' and hold only lower-case "
            f"letters, digits and '_' (e.g. _test), not "
            f"{suffix!r}: an empty suffix would be the "
            f"development databases themselves",
        )
    env_file = reader.text(raw, "env_file", at, required=False) or f"{ENV_FILE}.{name}"
    if not re.fullmatch(r"\.env\.[A-Za-z0-9_.-]+", env_file) or env_file.endswith(".example"):
        reader.fail(
            f"{at}.env_file",
            f"must be a file name like .env.{name} (in each service's folder), not {env_file!r}",
        )
    profile = reader.text(raw, "seed_profile", at, required=False) or ""
    if profile and not PROFILE_RE.fullmatch(profile):
        reader.fail(
            f"{at}.seed_profile",
            f"is not a seed profile name (lower-case letters, digits, '-', '_'), not {profile!r}",
        )
    variables = raw.get("variables") or {}
    if not isinstance(variables, Mapping):
        reader.fail(f"{at}.variables", "must be a mapping of variable name to value")
    for key, value in variables.items():
        if (
            not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key))
            or isinstance(value, (Mapping, list, tuple))
            or value is None
        ):
            reader.fail(f"{at}.variables.{key}", "must be a variable name with a plain value")
    description = raw.get("description") or ""
    return Environment(
        name,
        suffix,
        env_file,
        profile,
        {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in variables.items()},
        str(description),
    )


# -- the workspace as an environment sees it ----------------------------------------------------
def view(ws: Workspace, env: Environment) -> Workspace:
    """`ws` with the environment's databases and env files (development: `ws` itself)."""
    if env.is_default:
        return ws
    if not ws.is_local:
        raise UserError(
            f"The {env.name} environment is local: its databases live on this "
            f"machine's stack, never on target '{ws.target}'. Leave out --env or "
            f"--target."
        )
    for svc in ws.registry.with_database:
        for name in (env.database(svc.database or ""), template_name(env, svc)):
            if len(name) > MAX_NAME:
                raise UserError(
                    f"{svc.name}'s {env.name} database would be named {name}, "
                    f"longer than PostgreSQL's {MAX_NAME} characters: shorten "
                    f"environments.{env.name}.database_suffix."
                )
    return _with(
        ws,
        {s.name: env.database(s.database or "") for s in ws.registry.with_database},
        environment=env.name,
        env_file=env.env_file,
    )


def _with(ws: Workspace, databases: Mapping[str, str], **fields: Any) -> Workspace:
    reg = ws.registry
    services = tuple(
        replace(s, database=databases[s.name]) if s.name in databases else s for s in reg.services
    )
    return Workspace(
        ws.root,
        replace(reg, services=services),
        environment=fields.get("environment", ws.environment),
        env_file=fields.get("env_file", ws.env_file),
    )


def stack_facts(ews: Workspace, env: Environment, overlay: Any = None) -> Any:
    """What the environment's env files should say (`env.align.StackFacts`): the stack's values,
    the environment's databases in DATABASE_URL and TEST_DATABASE_URL, and its variables."""
    facts = connections.stack_facts(ews, overlay)
    if env.is_default:
        return facts
    return replace(
        facts,
        environment=env.name,
        variables=dict(env.variables),
        database_keys=("DATABASE_URL", "DIRECT_URL", "TEST_DATABASE_URL"),
    )


def template_name(env: Environment, svc: Service) -> str:
    return f"{env.database(svc.database or '')}{TEMPLATE_SUFFIX}"


# -- making the databases -----------------------------------------------------------------------
def existing(ws: Workspace, databases: Iterable[str]) -> set[str]:
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        return {
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(databases),)
            )
        }


def _copy(ws: Workspace, database: str, name: str) -> Any:
    """init.sql as if it made `database` under the name `name` (initsql.renamed_database)."""
    from lomash_tasks.stack import initsql

    script = initsql.read_script(ws)
    if database not in script.databases:
        raise UserError(
            f"{ws.relative(ws.init_sql)} has no CREATE DATABASE {database}, so "
            f"{name} cannot be made the way the real one is. Add it to init.sql "
            f"(`inv db.init` runs it)."
        )
    return initsql.renamed_database(script, database, name)


def create(ws: Workspace, database: str, name: str, missing_locale: str = "compile") -> Any:
    """Make database `name` as init.sql makes `database`: its CREATE, its grants, its sections
    (extensions, schema owner and grants), and any role they need, sent by psql from init.sql's
    own lines (an error names init.sql's line). A failure drops `name` again. Returns the plan."""
    from lomash_tasks.stack import initsql
    from lomash_tasks.stack.initsql import runs

    copy = _copy(ws, database, name)
    plan = initsql.make_plan(ws, copy, initsql.inventory(ws, copy), only=name)
    runs.preflight(ws, plan, missing_locale, f"Nothing was created ({name}).")
    try:
        initsql.run_plan(ws, plan)
    except UserError as err:
        _drop(ws, name)
        raise UserError(
            f"Making {name} as init.sql makes {database} failed (it was dropped again):\n{err.text}"
        ) from None
    if plan.roles:  # a role made now takes its password from the .env, as db.init does
        initsql.set_role_passwords(ws)
    return plan


@dataclass
class Ensured:
    service: str
    database: str
    created: bool


def ensure(
    ws: Workspace, env: Environment, services: Iterable[Service], missing_locale: str = "compile"
) -> list[Ensured]:
    """The environment's databases of `services` (development ones, from the base `ws`): each
    missing one made as init.sql makes the real one."""
    from lomash_tasks.db.migrate import check_reachable

    chosen = [s for s in services if s.has_database]
    if env.is_default or not chosen:
        return []
    check_reachable(ws)
    have = existing(ws, [env.database(s.database or "") for s in chosen])
    out = []
    for svc in chosen:
        name = env.database(svc.database or "")
        if name not in have:
            create(ws, svc.database or "", name, missing_locale)
        out.append(Ensured(svc.name, name, name not in have))
    return out


def mark_missing(ws: Workspace, env: Environment, states: list[Any]) -> None:
    """The environment's databases that do not exist yet, as `db.status` errors with the fix."""
    names = [ws.registry.service(s.service).db for s in states]
    have = existing(ws, names)
    for state, name in zip(states, names):
        if name not in have:
            state.error = (
                f"{name} does not exist yet: `inv db.migrate --env {env.name}` "
                f"makes and migrates it (or `inv db.init --env {env.name}`)"
            )


# -- reset: a clone of the template -------------------------------------------------------------
def template_key(ws: Workspace, svc: Service) -> str:
    """What the template is made from: init.sql's bytes and each migration (name, checksum)."""
    from lomash_tasks.db.migrate.state import migration_folders

    digest = hashlib.sha256(ws.init_sql.read_bytes() if ws.init_sql.is_file() else b"")
    for migration in migration_folders(ws.migrations_dir(svc)):
        digest.update(f"\n{migration.name}:".encode())
        digest.update(migration.checksum.encode() if migration.has_file else b"-")
    return digest.hexdigest()[:32]


@dataclass
class ResetResult:
    service: str
    database: str
    how: str = "template"  # "template" (a clone) or "init.sql" (made and migrated)
    template_made: bool = False  # the template was (re)made for this reset
    migrate: Any = None  # the template's (or the database's) MigrateResult
    seed: Any = None  # SeedResult
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.migrate is None or self.migrate.ok) and (self.seed is None or self.seed.ok)

    @property
    def error(self) -> str | None:
        if self.migrate is not None and not self.migrate.ok:
            return f"migrating {self.database} failed: {self.migrate.error}"
        if self.seed is not None and not self.seed.ok:
            return f"seeding {self.database} failed: {self.seed.error}"
        return None


def reset(
    ws: Workspace,
    env: Environment,
    svc: Service,
    runner: str = "auto",
    timeout: float = 300.0,
    profile: str | None = None,
    missing_locale: str = "compile",
    template: bool = True,
    seed_timeout: float = 60.0,
) -> ResetResult:
    """Drop the service's database of `env` and make it again, migrated and seeded (the
    environment's seed profile unless `profile`). With `template` (the default) it is a clone
    of the service's template database, made first when missing or out of date; without, it is
    made by init.sql and migrated from scratch. Local only; callers confirm first."""
    from lomash_tasks.db.migrate import check_reachable
    from lomash_tasks.db.seeds import seed_one

    if env.is_default:
        raise UserError(
            "environments.reset is for another environment than development "
            "(`inv db.reset --service S` resets a development database)."
        )
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: nothing to reset.")
    connections.refuse_remote(
        ws.registry.postgres.host, f"drop {svc.name}'s {env.name} database", allow_remote=False
    )
    check_reachable(ws)
    began = time.monotonic()
    name = env.database(svc.database or "")
    ews = view(ws, env)
    result = ResetResult(svc.name, name, how="template" if template else "init.sql")
    with _session(ws, name) as conn:  # one reset of `name` at a time, across processes
        if template:
            result.template_made, result.migrate = _fresh_template(
                ws, conn, env, svc, runner, timeout, missing_locale
            )
            if result.migrate is not None and not result.migrate.ok:
                result.seconds = time.monotonic() - began
                return result
            _drop(conn, name)
            _clone(ws, conn, svc, name, template_name(env, svc))
        else:
            _drop(conn, name)
            create(ws, svc.database or "", name, missing_locale)
            result.migrate = _migrate(ews, svc, runner, timeout)
            if not result.migrate.ok:
                result.seconds = time.monotonic() - began
                return result
    seed_profile = env.seed_profile if profile is None else profile
    result.seed = seed_one(ews, ews.registry.service(svc.name), seed_timeout, seed_profile)
    result.seconds = time.monotonic() - began
    return result


@contextlib.contextmanager
def _session(ws: Workspace, name: str) -> Iterator[Any]:
    """A superuser session in `postgres` holding an advisory lock on `name` (one reset or
    template build of a database at a time, across processes) while the block runs."""
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"lomash-tasks reset {name}",))
        yield conn  # the lock goes with the session


def _drop(target: Any, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE), on a superuser connection (or a new one for a ws)."""
    from psycopg import sql

    query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    if isinstance(target, Workspace):
        with connections.pg_connect(target, superuser=True, timeout=10, autocommit=True) as conn:
            conn.execute(query)
    else:
        target.execute(query)


def _migrate(ws: Workspace, svc: Service, runner: str, timeout: float) -> Any:
    from lomash_tasks.db import migrate

    return migrate.migrate(ws, [svc.name], runner=runner, jobs=1, timeout=timeout).results[0]


def _fresh_template(
    ws: Workspace,
    conn: Any,
    env: Environment,
    svc: Service,
    runner: str,
    timeout: float,
    missing_locale: str,
) -> tuple[bool, Any]:
    """(made now, its MigrateResult when made): the template, up to date with init.sql and the
    service's migrations (its comment holds the key it was made for)."""
    from psycopg import sql

    name = template_name(env, svc)
    mark = f"{TEMPLATE_MARK} {template_key(ws, svc)}"
    row = conn.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') "
        "FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    if row is not None and row[0] == mark:
        return False, None
    _drop(conn, name)
    create(ws, svc.database or "", name, missing_locale)
    result = _migrate(_with(ws, {svc.name: name}), svc, runner, timeout)
    if not result.ok:
        _drop(conn, name)  # never clone a half-migrated template
        return True, result
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(mark))
    )
    return True, result


def _clone(ws: Workspace, conn: Any, svc: Service, name: str, template: str) -> None:
    """`name` as a copy of `template`, owned as init.sql has the real database owned, with the
    grants init.sql gives it (a clone copies what is inside a database, not its ACL): sent as
    they are when they are plain SQL, else through psql as init.sql's own lines."""
    from psycopg import sql

    from lomash_tasks.stack import initsql
    from lomash_tasks.stack.initsql.script import tokens

    copy = _copy(ws, svc.database or "", name)
    owner = copy.databases[name].owner or ""
    query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    if owner:
        query = sql.SQL("{} OWNER {}").format(query, sql.Identifier(owner))
    conn.execute(query)
    statements = copy.about(name)
    try:
        if all(
            s.terminator == ";" and not any(t.kind == "var" for t in tokens(s.text))
            for s in statements
        ):
            for stmt in statements:
                conn.execute(stmt.text)
        elif statements:
            grants = initsql.Plan(copy)
            grants.keep = {s.start for s in statements}
            initsql.keep_metas(grants)
            initsql.run_plan(ws, grants)
    except Exception:
        _drop(conn, name)
        raise
