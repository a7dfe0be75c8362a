"""Apply the workspace's `infra/docker/postgres/init.sql`, the way the official image does.

The one place that runs init.sql: the embedded backend at a cluster's first start, and
`db.init` on any backend. The script is idempotent (it creates only what is missing); it runs
through psql (`\\gexec`, `\\connect`) as the superuser over TCP, with the password in the
environment, never on the command line. Afterwards each service role's password is set from
its env file, so a password edited in a `.env` takes effect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lomash_tasks import commands, connections
from lomash_tasks.errors import UserError
from lomash_tasks.workspace import Workspace


@dataclass
class InitOutcome:
    """What init.sql changed: roles and databases it created (none on a re-run)."""

    created_roles: list[str] = field(default_factory=list)
    created_databases: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created_roles or self.created_databases)

    def summary(self) -> str:
        if not self.changed:
            return "every role and database already existed"
        parts = []
        if self.created_roles:
            parts.append(f"created {len(self.created_roles)} roles")
        if self.created_databases:
            parts.append(f"created {len(self.created_databases)} databases")
        return ", ".join(parts)


def _inventory(ws: Workspace) -> tuple[set[str], set[str]]:
    with connections.pg_connect(ws, superuser=True, timeout=10, autocommit=True) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    return roles, dbs


def _missing(ws: Workspace, roles: set[str], dbs: set[str]) -> list[str]:
    wanted = ws.registry.with_database
    return sorted({s.role for s in wanted if s.role not in roles}
                  | {s.database for s in wanted if s.database not in dbs})


def missing_objects(ws: Workspace) -> list[str]:
    """The registry's roles and databases that do not exist on the server (none once init.sql
    has run)."""
    return _missing(ws, *_inventory(ws))


def apply_init_sql(ws: Workspace, psql: Path | None = None, timeout: float = 60.0,
                   ) -> InitOutcome:
    """Run init.sql as the superuser, then sync role passwords; report what was created."""
    if not ws.init_sql.is_file():
        raise UserError(f"{ws.relative(ws.init_sql)} does not exist: the workspace has no "
                        f"database init script.")
    if psql is None:
        from lomash_tasks.stack.pgtools import find_psql

        psql = find_psql()
    reg = ws.registry
    roles_before, dbs_before = _inventory(ws)
    pg = reg.postgres
    env = dict(os.environ)
    env.update(PGPASSWORD=connections.superuser_password(ws), PGCONNECT_TIMEOUT="10",
               PGAPPNAME="lomash-tasks")
    argv = [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.host, "-p", str(pg.port),
            "-U", pg.superuser, "-d", "postgres", "-f", str(ws.init_sql)]
    try:
        commands.run(argv, env=env, cwd=ws.init_sql.parent, timeout=timeout, effect=True)
    except commands.CommandTimeout:
        raise UserError(f"Applying {ws.relative(ws.init_sql)} took longer than {timeout:.0f}s "
                        f"against {pg.address}; check the server (`inv stack.status`).") from None
    except commands.CommandError as err:
        raise UserError(f"Applying {ws.relative(ws.init_sql)} to PostgreSQL at {pg.address} "
                        f"failed (psql exit {err.returncode}):\n{err.tail(30)}\n"
                        f"Fix the script and run again: it only creates what is missing.") \
            from None
    set_role_passwords(ws)
    roles_after, dbs_after = _inventory(ws)
    wanted_roles = {s.role for s in reg.with_database}
    wanted_dbs = {s.database for s in reg.with_database}
    missing = _missing(ws, roles_after, dbs_after)
    if missing:
        raise UserError(f"{ws.relative(ws.init_sql)} ran, but these roles/databases of the "
                        f"registry still do not exist: {', '.join(missing)}. Make init.sql and "
                        f"invoke.yaml agree.")
    return InitOutcome(sorted((roles_after - roles_before) & wanted_roles),
                       sorted((dbs_after - dbs_before) & wanted_dbs))


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
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(svc.role), sql.Literal(creds.password)))
