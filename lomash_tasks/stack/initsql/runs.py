"""Running init.sql: once whole on a new cluster, later only what is missing.

- `first_run` (the embedded backend's new cluster; Compose's image does the same itself): the
  whole script through psql with ON_ERROR_STOP, as the official image runs it, after checking
  what it needs from the server (`needs.py`). A failure names the statement, its line in
  init.sql and the fix; the caller throws the new cluster away.
- `apply` (`db.init`, any backend): compares the script (`script.py`) with the server and runs
  only what creates something missing: the roles, the databases, and for a database created
  now its `GRANT ... ON DATABASE` lines and its sections (the statements after `\\c dbname`);
  an extension missing from an existing database; an ALTER SYSTEM whose value is not in
  postgresql.auto.conf yet. On an initialised cluster nothing runs, whatever the script's
  idempotence. The statements are sent by psql from a copy of the script with everything else
  blanked out, so psql's error lines are init.sql's own line numbers. A failure drops the
  databases this run created (the next run makes them whole).
- `check_rebuild` / `apply_plan` (`db.reset`): what recreating one database runs, checked
  before it is dropped.

psql runs as the superuser over TCP, the password in the environment, never on the command
line. Afterwards each service role's password is set from its env file, so a password edited
in a `.env` takes effect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.errors import UserError
from lomash_tasks.stack.initsql import needs
from lomash_tasks.stack.initsql.script import (
    CONNECT_COMMANDS,
    DATABASE,
    EXTENSION,
    GRANT_DB,
    OTHER,
    RELOAD,
    ROLE,
    SAY_COMMANDS,
    SETTING,
    Meta,
    Script,
    Statement,
    read,
    redact,
    split_list,
)
from lomash_tasks.workspace import Workspace


@dataclass
class InitOutcome:
    """What a run of init.sql changed, and what it decided and said on the way."""

    created_roles: list[str] = field(default_factory=list)
    created_databases: list[str] = field(default_factory=list)
    added_extensions: list[str] = field(default_factory=list)  # "database: extension"
    applied_settings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # locale choices, restarts needed, ...
    skipped: list[str] = field(default_factory=list)  # statements left out, and why

    @property
    def changed(self) -> bool:
        return bool(
            self.created_roles
            or self.created_databases
            or self.added_extensions
            or self.applied_settings
        )

    def summary(self) -> str:
        if not self.changed:
            return "nothing was missing"
        parts = []
        if self.created_roles:
            parts.append(f"created {len(self.created_roles)} roles")
        if self.created_databases:
            parts.append(
                f"created {len(self.created_databases)} databases "
                f"({', '.join(self.created_databases)})"
            )
        if self.added_extensions:
            parts.append(f"added extensions {', '.join(self.added_extensions)}")
        if self.applied_settings:
            parts.append(f"set {', '.join(self.applied_settings)}")
        return ", ".join(parts)


def read_script(ws: Workspace) -> Script:
    if not ws.init_sql.is_file():
        raise UserError(
            f"{ws.relative(ws.init_sql)} does not exist: the workspace has no database init script."
        )
    return read(ws.init_sql)


# -- the server's state ---------------------------------------------------------------------
@dataclass
class Inventory:
    roles: set[str]
    databases: set[str]
    extensions: dict[str, set[str]]  # per existing database the script has sections for
    auto_conf: dict[str, str]  # postgresql.auto.conf: name -> value
    known_settings: set[str]  # pg_settings names (a library's once it is loaded)


def inventory(ws: Workspace, script: Script | None = None) -> Inventory:
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        open_dbs = {
            r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")
        }
        auto = {}
        known: set[str] = set()
        if script is not None and script.settings:
            auto = {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT name, setting FROM pg_file_settings "
                    "WHERE sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno"
                )
            }
            known = {r[0] for r in conn.execute("SELECT name FROM pg_settings")}
    wanted = sorted({s.database for s in (script.of_kind(EXTENSION) if script else [])} & open_dbs)
    extensions: dict[str, set[str]] = {}
    if wanted:  # one connection per database: side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            extensions = dict(zip(wanted, pool.map(lambda db: _extensions(ws, db), wanted)))
    return Inventory(roles, dbs, extensions, auto, known)


def _extensions(ws: Workspace, database: str) -> set[str]:
    with connections.pg_connect(
        ws, superuser=True, dbname=database, timeout=10, autocommit=True
    ) as conn:
        return {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}


def _missing(ws: Workspace, roles: set[str], dbs: set[str]) -> list[str]:
    wanted = ws.registry.with_database
    return sorted(
        {s.db_role for s in wanted if s.db_role not in roles}
        | {s.db for s in wanted if s.db not in dbs}
    )


def missing_objects(ws: Workspace) -> list[str]:
    """The registry's roles and databases that do not exist on the server (none once init.sql
    has run)."""
    inv = inventory(ws)
    return _missing(ws, inv.roles, inv.databases)


# -- the plan -------------------------------------------------------------------------------
@dataclass
class Plan:
    """Which of the script's statements a run sends, and why."""

    script: Script
    keep: set[int] = field(default_factory=set)  # the start offsets of what is sent
    roles: list[str] = field(default_factory=list)  # roles missing that it creates
    databases: list[str] = field(default_factory=list)
    extensions: list[tuple[Statement, str]] = field(default_factory=list)  # (stmt, database)
    settings: list[Statement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    substitutions: dict[str, str] = field(default_factory=dict)
    whole: bool = False  # the script as written (a first run)

    @property
    def empty(self) -> bool:
        return not any(
            isinstance(i, Statement) and i.start in self.keep
            for sec in self.script.sections
            for i in sec.items
        )

    def kept(self, kind: str | None = None) -> list[Statement]:
        return [
            s
            for s in self.script.statements
            if s.start in self.keep and (kind is None or s.kind == kind)
        ]

    def text(self) -> str:
        """The script with everything not sent blanked out (lines keep their numbers) and the
        locales it cannot have replaced by their equivalents."""
        chars = list(self.script.text)
        for sec in self.script.sections:
            for item in sec.items:
                if item.start not in self.keep:
                    for i in range(item.start, item.end):
                        if chars[i] != "\n":
                            chars[i] = " "
        text = "".join(chars)
        for stmt in reversed(self.kept(DATABASE)):  # from the end: offsets stay right
            text = (
                text[: stmt.start]
                + substitute(text[stmt.start : stmt.end], self.substitutions)
                + text[stmt.end :]
            )
        return text


def substitute(sql: str, substitutions: dict[str, str]) -> str:
    """LC_COLLATE/LC_CTYPE/LOCALE values replaced (also inside a \\gexec string's '')."""
    for name, use in substitutions.items():

        def quoted(m: re.Match[str], use: str = use) -> str:
            return m.group(1) + m.group(2) + use + m.group(2)

        sql = re.sub(
            r"(?i)(\b(?:LOCALE|LC_COLLATE|LC_CTYPE)\s*(?:=\s*)?)('{1,2})" + re.escape(name) + r"\2",
            quoted,
            sql,
        )
    return sql


def make_plan(ws: Workspace, script: Script, inv: Inventory, only: str | None = None) -> Plan:
    """What to send so that everything the script creates exists (`only`: one database's
    rebuild: its CREATE, its GRANTs and its sections, and any role they need)."""
    plan = Plan(script)
    if includes := script.includes:
        raise UserError(
            f"init.sql line {includes[0].line} includes another file "
            f"(\\{includes[0].name}): the suite cannot tell what it creates, so it "
            f"only runs init.sql whole, on a new cluster. Inline that file."
        )
    created = [d for d in script.databases if d not in inv.databases and (only in (None, d))]
    if only is not None and only not in created:
        created = [only] if only in script.databases else []
    plan.databases = created
    wanted_roles = set(script.roles) | {s.role for s in ws.registry.with_database}
    if only is not None:  # a rebuild creates only the roles its database needs
        stmt = script.databases.get(only)
        wanted_roles = {stmt.owner} if stmt is not None and stmt.owner else set()
        wanted_roles |= {s.role for s in ws.registry.with_database if s.database == only}
    missing_roles = wanted_roles - inv.roles
    fresh = (
        only is None
        and not (set(script.databases) & inv.databases)
        and not (set(script.roles) & inv.roles)
    )
    keep = plan.keep
    for stmt in script.statements:
        if stmt.kind == ROLE:
            targets = set(stmt.targets)
            if targets & missing_roles or (stmt.dynamic and not targets and missing_roles):
                keep.add(stmt.start)
                plan.roles += [t for t in stmt.targets if t in missing_roles]
        elif stmt.kind == DATABASE:
            if stmt.targets[0] in created:
                keep.add(stmt.start)
        elif stmt.kind == GRANT_DB:
            if set(stmt.targets) & set(created):
                keep.add(stmt.start)
        elif stmt.kind == EXTENSION:
            if stmt.database in created:
                keep.add(stmt.start)
            elif (
                only is None
                and stmt.database in inv.extensions
                and stmt.targets[0] not in inv.extensions[stmt.database]
            ):
                keep.add(stmt.start)
                plan.extensions.append((stmt, stmt.database))
        elif stmt.kind == SETTING:
            if only is None:
                _plan_setting(plan, stmt, inv)
        elif stmt.kind == OTHER:
            if stmt.database in created or fresh:
                keep.add(stmt.start)
    if plan.settings:
        keep.update(s.start for s in script.of_kind(RELOAD))
    keep_metas(plan, say=fresh)
    plan.roles = list(dict.fromkeys(plan.roles))
    return plan


def keep_metas(plan: Plan, say: bool = False) -> None:
    """The meta-commands a plan sends with its statements: variables always; `\\c` when its
    section sends something; `\\echo` only with `say` (a fresh server: its words describe
    the whole script's run)."""
    script, keep = plan.script, plan.keep
    sent = {sec.line: any(s.start in keep for s in sec.statements) for sec in script.sections}
    for sec in script.sections:
        for item in sec.items:
            if not isinstance(item, Meta):
                continue
            if item.name in CONNECT_COMMANDS:
                if sent.get(item.line):
                    keep.add(item.start)
            elif item.name in SAY_COMMANDS:
                if say:
                    keep.add(item.start)
            else:
                keep.add(item.start)


def _plan_setting(plan: Plan, stmt: Statement, inv: Inventory) -> None:
    name = stmt.targets[0]
    if "." in name and name not in inv.known_settings:
        library = name.split(".", 1)[0]
        plan.skipped.append(
            f"init.sql line {stmt.line} (ALTER SYSTEM SET {name}): the server "
            f"does not have {library} loaded, which PostgreSQL before 17 needs "
            f"for it; once {library} is in shared_preload_libraries and the "
            f"server restarted, `inv db.init` applies it"
        )
        return
    wanted = ", ".join(split_list(stmt.values)).lower() if stmt.values else None
    have = inv.auto_conf.get(name)
    have = ", ".join(split_list((have,))).lower() if have is not None else None
    if wanted == have:
        return
    plan.keep.add(stmt.start)
    plan.settings.append(stmt)


def whole_plan(script: Script) -> Plan:
    """The script as written (a first run): every statement and meta-command."""
    plan = Plan(script, whole=True)
    plan.keep = {i.start for sec in script.sections for i in sec.items}
    plan.databases = list(script.databases)
    plan.roles = script.roles
    plan.settings = script.settings
    return plan


# -- before anything is created -------------------------------------------------------------
def preflight(ws: Workspace, plan: Plan, missing_locale: str, what: str) -> None:
    """Extensions available and locales there (or replaced, said) for what the plan sends;
    custom settings loaded on a first run. Raises before anything is created."""
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        exts = [(s, s.targets[0]) for s in plan.kept(EXTENSION)]
        gone = needs.unavailable_extensions(conn, list(dict.fromkeys(e for _, e in exts)))
        if gone:
            stmt = next(s for s, e in exts if e == gone[0])
            raise UserError(
                f"{ws.relative(ws.init_sql)} line {stmt.line} creates extension "
                f"{gone[0]}, which PostgreSQL at {ws.registry.postgres.address} "
                f"does not have (pg_available_extensions"
                f"{'; also missing: ' + ', '.join(gone[1:]) if gone[1:] else ''}): "
                f"{needs.extension_hint(gone[0])}. {what}"
            )
        locales: dict[str, list[Statement]] = {}
        for stmt in plan.kept(DATABASE):
            for name in dict.fromkeys(stmt.locales.values()):
                if name not in plan.substitutions:
                    locales.setdefault(name, []).append(stmt)
        for choice in needs.choose_on_server(conn, locales, missing_locale, what):
            plan.substitutions[choice.name] = choice.use
            plan.notes.append(choice.note() or "")
        if plan.whole:
            known = {r[0] for r in conn.execute("SELECT name FROM pg_settings")}
            for stmt in plan.script.custom_settings:
                if stmt.targets[0] not in known:
                    library = stmt.targets[0].split(".", 1)[0]
                    raise UserError(
                        f"{ws.relative(ws.init_sql)} line {stmt.line} sets "
                        f"{stmt.targets[0]} by ALTER SYSTEM, but no library "
                        f"{library} is loaded (PostgreSQL before 17 refuses it): "
                        f"install {library} or remove the line. {what}"
                    )


# -- running --------------------------------------------------------------------------------
@dataclass
class Failure:
    line: int
    error: list[str]  # psql's ERROR line and its DETAIL/HINT/CONTEXT lines


_ERROR_LINE = re.compile(r"^psql:[^\n]*?:(\d+):\s*(?:ERROR|FATAL|PANIC|error):\s*(.*)$")


def run_plan(ws: Workspace, plan: Plan, psql: Path | None = None, timeout: float = 60.0) -> None:
    """Send the plan's statements through psql; raise Failure-bearing UserError on an error."""
    if psql is None:
        from lomash_tasks.stack.pgtools import find_psql

        psql = find_psql()
    pg = ws.registry.postgres
    login, env = connections.libpq_login(
        ws, None, "lomash-tasks", dbname=plan.script.initial_database, superuser=True
    )
    env["PGOPTIONS"] = connections.LOCAL_SESSION_OPTIONS
    argv = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", *login, "-f", "-"]
    try:
        commands.run(
            argv, env=env, cwd=ws.init_sql.parent, timeout=timeout, effect=True, input=plan.text()
        )
    except commands.CommandTimeout:
        raise UserError(
            f"Applying {ws.relative(ws.init_sql)} took longer than {timeout:.0f}s "
            f"against {pg.address}; check the server (`inv stack.status`)."
        ) from None
    except commands.CommandError as err:
        raise ScriptFailed(ws, plan.script, _failure(err.stderr, err.stdout), err) from None


def _failure(stderr: str, stdout: str) -> Failure | None:
    lines = stderr.splitlines()
    for i, text in enumerate(lines):
        m = _ERROR_LINE.match(text)
        if m:
            block = [m.group(2)]
            for more in lines[i + 1 :]:
                if more.startswith("psql:"):
                    break
                block.append(more.rstrip())
            return Failure(
                int(m.group(1)), [f"ERROR:  {block[0]}"] + [b for b in block[1:] if b.strip()]
            )
    return None


class ScriptFailed(UserError):
    """init.sql stopped at a statement: which one, its line, the error and the fix."""

    def __init__(
        self, ws: Workspace, script: Script, failure: Failure | None, err: commands.CommandError
    ) -> None:
        self.failure = failure
        where = ws.relative(ws.init_sql)
        if failure is None:
            super().__init__(
                f"Applying {where} to PostgreSQL at {ws.registry.postgres.address} "
                f"failed (psql exit {err.code}):\n{redact(err.tail(30))}"
            )
            self.line = 0
            return
        self.line = failure.line
        item = script.item_at(failure.line)
        error = "\n".join("  " + redact(e) for e in failure.error)
        if isinstance(item, Statement):
            head = (
                f"{where} {item.lines()} failed (on database {item.database}):\n  {item.summary()}"
            )
        elif isinstance(item, Meta):
            head = f"{where} line {item.line} failed:\n  \\{item.name} {' '.join(item.args)}"
        else:
            head = f"{where} line {failure.line} failed:"
        super().__init__(f"{head}\n{error}\nFix: {fix_for(' '.join(failure.error), item)}")


def fix_for(error: str, item: Statement | Meta | None) -> str:
    """What to do about an init.sql error, by what PostgreSQL said."""
    if m := re.search(r'invalid locale name: "([^"]+)"|could not create locale "([^"]+)"', error):
        name = m.group(1) or m.group(2)
        return (
            f"the server lacks locale {name}: {needs.install_hint(name)}, or set "
            f"stack.missing_locale to compile or substitute."
        )
    if m := re.search(r'unrecognized configuration parameter "([^".]+)\.([^"]+)"', error):
        return (
            f"{m.group(1)}.{m.group(2)} belongs to the library {m.group(1)}, which must be "
            f"loaded first: put it in the server's shared_preload_libraries and restart "
            f"(the embedded backend does this itself for a new cluster)."
        )
    if m := re.search(
        r'extension "([^"]+)" is not available|could not open extension control '
        r'file "[^"]*/([^"/]+)\.control"',
        error,
    ):
        return needs.extension_hint(m.group(1) or m.group(2)) + "."
    if m := re.search(r'database "([^"]+)" does not exist', error):
        return (
            f"init.sql uses database {m.group(1)} before creating it (or never does): add "
            f"its CREATE DATABASE before the line."
        )
    if m := re.search(r'role "([^"]+)" does not exist', error):
        return (
            f"init.sql uses role {m.group(1)} before creating it (or never does): create "
            f"it earlier in the script."
        )
    if "already exists" in error:
        return (
            "the script creates something that already exists: make the statement "
            "idempotent (IF NOT EXISTS, or a DO block that checks first)."
        )
    if "cannot run inside a transaction block" in error:
        return "CREATE DATABASE cannot run inside BEGIN ... COMMIT: move it out of the block."
    return "correct that statement in init.sql."


# -- the entry points -----------------------------------------------------------------------
def first_run(
    ws: Workspace,
    psql: Path | None = None,
    timeout: float = 60.0,
    substitutions: dict[str, str] | None = None,
    missing_locale: str = "compile",
) -> InitOutcome:
    """The whole script on a new cluster, as the image runs it; then the role passwords."""
    script = read_script(ws)
    plan = whole_plan(script)
    plan.substitutions = dict(substitutions or {})
    preflight(ws, plan, missing_locale, "Nothing was created.")
    run_plan(ws, plan, psql, timeout)
    set_role_passwords(ws)
    _check_registry(ws, inventory(ws))
    return InitOutcome(
        script.roles,
        list(script.databases),
        [],
        [s.targets[0] for s in script.settings],
        [n for n in plan.notes if n],
    )


def apply(
    ws: Workspace, psql: Path | None = None, timeout: float = 60.0, missing_locale: str = "compile"
) -> InitOutcome:
    """`db.init`: create what init.sql creates and the server lacks; then the passwords."""
    script = read_script(ws)
    inv = inventory(ws, script)
    plan = make_plan(ws, script, inv)
    return apply_plan(ws, plan, psql, timeout, missing_locale, inv)


def apply_plan(
    ws: Workspace,
    plan: Plan,
    psql: Path | None = None,
    timeout: float = 60.0,
    missing_locale: str = "compile",
    inv: Inventory | None = None,
) -> InitOutcome:
    """Run a plan: checked first, the databases it created dropped again if it fails."""
    outcome = InitOutcome(skipped=list(plan.skipped))
    if not plan.empty:
        preflight(ws, plan, missing_locale, "Nothing was created.")
        before = inv or inventory(ws)
        try:
            run_plan(ws, plan, psql, timeout)
        except ScriptFailed as failed:
            dropped = _drop_new(ws, before.databases)
            undone = (
                f"\nThe databases this run created were dropped again "
                f"({', '.join(dropped)}): the next run makes them whole."
                if dropped
                else ""
            )
            raise UserError(failed.text + undone) from None
        after = inventory(ws)
        outcome.created_roles = sorted(after.roles - before.roles)
        outcome.created_databases = sorted(after.databases - before.databases)
        outcome.added_extensions = [f"{db}: {s.targets[0]}" for s, db in plan.extensions]
        outcome.applied_settings = [s.targets[0] for s in plan.settings]
        outcome.notes = [n for n in plan.notes if n]
        restart = [s.targets[0] for s in plan.settings if _needs_restart(ws, s.targets[0])]
        if restart:
            outcome.notes.append(
                f"{', '.join(restart)} take effect when PostgreSQL restarts "
                f"(`inv stack.down` then `inv stack.up` on the embedded "
                f"backend)"
            )
    set_role_passwords(ws)
    _check_registry(ws, inventory(ws) if not plan.empty or inv is None else inv)
    return outcome


def _needs_restart(ws: Workspace, name: str) -> bool:
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        row = conn.execute("SELECT context FROM pg_settings WHERE name = %s", (name,)).fetchone()
    return bool(row and row[0] == "postmaster")


def _drop_new(ws: Workspace, before: set[str]) -> list[str]:
    """Drop the databases that were not there `before`; their names."""
    from psycopg import sql

    dropped = []
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        now = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in sorted(now - before):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            dropped.append(name)
    return dropped


def _check_registry(ws: Workspace, inv: Inventory) -> None:
    missing = _missing(ws, inv.roles, inv.databases)
    if missing:
        raise UserError(
            f"{ws.relative(ws.init_sql)} ran, but these roles/databases of the "
            f"registry still do not exist: {', '.join(missing)}. Make init.sql and "
            f"invoke.yaml agree."
        )


def check_rebuild(
    ws: Workspace,
    database: str,
    missing_locale: str = "compile",
    created_elsewhere: Iterable[str] = (),
) -> Plan:
    """What recreating `database` from init.sql sends, checked while it still exists.

    Raises (nothing dropped) when init.sql has no CREATE DATABASE for it, when the database
    has extensions that neither its sections nor `created_elsewhere` (its migrations) create,
    or when an extension or locale the rebuild needs is not on the server."""
    what = f"Nothing was dropped: {database} is as it was."
    where = ws.relative(ws.init_sql)
    script = read_script(ws)
    if database not in script.databases:
        raise UserError(
            f"{where} has no CREATE DATABASE {database}, so db.reset could not "
            f"make it again. {what}"
        )
    inv = inventory(ws, script)
    plan = make_plan(ws, script, inv, only=database)
    if database in inv.databases:
        has = _extensions(ws, database) - {"plpgsql"}
        rebuilt = set(script.extensions(database)) | set(created_elsewhere)
        lost = sorted(has - rebuilt)
        if lost:
            sections = script.sections_of(database)
            why = (
                f"its sections (after `\\c {database}`) do not create them"
                if sections
                else f"it has no section (`\\c {database}` followed by its CREATE EXTENSION lines)"
            )
            noun = "extension" if len(lost) == 1 else "extensions"
            raise UserError(
                f"{database} has {noun} {', '.join(lost)} that rebuilding it from "
                f"{where} would not create again: {why}, nor do its migrations. "
                f"Add {'it' if len(lost) == 1 else 'them'} to init.sql. {what}"
            )
    preflight(ws, plan, missing_locale, what)
    return plan


def set_role_passwords(ws: Workspace) -> None:
    """Each service role's password as its env file's DATABASE_URL says (so .env edits take
    effect); a URL that logs in as another user says nothing about the role's password."""
    from psycopg import sql

    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        for svc in ws.registry.with_database:
            if svc.role not in existing:
                continue
            creds = connections.service_credentials(ws, svc)
            if creds.user != svc.role:  # the URL logs in as someone else: not the role's
                continue
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(svc.role), sql.Literal(creds.password)
                )
            )
