"""What the migrations of one service are: the folders of `prisma/migrations/` and the rows of
`_prisma_migrations`, compared (applied, pending, failed, modified, missing, without a file), and
`status()` reading them. Prisma's rules (6.19.3): folders in name order, checksums of the script
as Prisma reads it, a later row of a name winning, rolled-back rows ignored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lomash_tasks import connections
from lomash_tasks.db.migrate.problems import classify, first_line
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

TABLE = "_prisma_migrations"
MIGRATION_FILE = "migration.sql"

# Prisma's own DDL for PostgreSQL (schema-engine, sql-schema-connector flavour/postgres).
TABLE_DDL = f"""CREATE TABLE IF NOT EXISTS "{TABLE}" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""


# -- the migration folders ----------------------------------------------------------------------
@dataclass(frozen=True)
class LocalMigration:
    name: str
    path: Path  # the migration.sql file (it may be missing: see `has_file`)

    @property
    def has_file(self) -> bool:
        return self.path.is_file()

    @property
    def checksum(self) -> str:
        return checksum(self.path)

    def sql(self) -> str:
        return script_text(self.path.read_bytes())


def script_text(data: bytes) -> str:
    """A migration's text as Prisma reads it: UTF-8, each invalid sequence read as U+FFFD.

    A byte-order mark is kept (Prisma sends it, and PostgreSQL then reports a syntax error).
    """
    return data.decode("utf-8", errors="replace")


def checksum(path: Path) -> str:
    """Prisma's migration checksum: the hex SHA-256 of the script it reads (`sha256sum` of the
    file whenever the file is valid UTF-8; otherwise of the text with U+FFFD replacements)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = script_text(data).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def local_migrations(folder: Path) -> list[LocalMigration]:
    """The migration folders that hold a migration.sql, in name order (Prisma's order)."""
    return [m for m in migration_folders(folder) if m.has_file]


def migration_folders(folder: Path) -> list[LocalMigration]:
    """Every folder under prisma/migrations/, with or without its migration.sql, in name order.

    Prisma counts a folder without migration.sql as a migration and refuses it (P3015) when
    it has to apply it; files beside the folders (migration_lock.toml) are not migrations.
    """
    if not folder.is_dir():
        return []
    return [
        LocalMigration(child.name, child / MIGRATION_FILE)
        for child in sorted(folder.iterdir(), key=lambda p: p.name)
        if child.is_dir()
    ]


# -- what the database says ---------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: str
    name: str
    checksum: str
    started_at: datetime | None
    finished_at: datetime | None
    rolled_back_at: datetime | None
    logs: str | None
    applied_steps_count: int

    @property
    def active(self) -> bool:
        return self.rolled_back_at is None

    @property
    def failed(self) -> bool:
        return self.active and self.finished_at is None


@dataclass
class MigrationState:
    """Folders versus rows for one service: applied, pending, failed, modified, missing."""

    service: str
    local: list[LocalMigration] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    error: str | None = None  # could not read the database at all

    @property
    def _active(self) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for row in self.rows:  # ordered by started_at: a later row for a name wins
            if row.active:
                out[row.name] = row
        return out

    @property
    def applied(self) -> list[str]:
        return [n for n, r in self._active.items() if r.finished_at is not None]

    @property
    def failed(self) -> list[Row]:
        return [r for r in self._active.values() if r.finished_at is None]

    @property
    def pending(self) -> list[LocalMigration]:
        active = self._active
        return [m for m in self.local if m.name not in active]

    @property
    def modified(self) -> list[str]:
        active = self._active
        return [
            m.name
            for m in self.local
            if m.name in active
            and m.has_file
            and active[m.name].finished_at is not None
            and active[m.name].checksum != m.checksum
        ]

    @property
    def missing(self) -> list[str]:
        names = {m.name for m in self.local}
        return [n for n in self.applied if n not in names]

    @property
    def no_file(self) -> list[str]:
        """Folders without migration.sql (Prisma's P3015 when it has to read one)."""
        return [m.name for m in self.local if not m.has_file]

    def warnings(self) -> list[str]:
        out = []
        pending = {m.name for m in self.pending}
        for name in self.no_file:
            if name not in pending:
                out.append(
                    f"migration {name} is recorded as applied but prisma/migrations/{name}/"
                    f"{MIGRATION_FILE} is gone (`prisma migrate status` refuses this "
                    f"with P3015): restore the file from git"
                )
        for name in self.modified:
            out.append(
                f"migration {name} was edited after it was applied (its checksum differs "
                f"from the database's); the edit is not applied: put changes in a new "
                f"migration instead"
            )
        for name in self.missing:
            out.append(
                f"migration {name} is recorded as applied but its folder "
                f"prisma/migrations/{name} is gone"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "error": self.error,
            "applied": self.applied,
            "pending": [m.name for m in self.pending],
            "failed": [r.name for r in self.failed],
            "modified": self.modified,
            "missing": self.missing,
            "no_file": self.no_file,
        }


def read_rows(conn: Any) -> tuple[bool, list[Row]]:
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'public."{TABLE}"',)).fetchone()[
        0
    ]
    if not exists:
        return False, []
    cur = conn.execute(
        f"SELECT id, migration_name, checksum, started_at, finished_at, rolled_back_at, logs, "
        f'applied_steps_count FROM public."{TABLE}" ORDER BY started_at, migration_name'
    )
    return True, [Row(*r) for r in cur.fetchall()]


def read_state(conn: Any, svc: Service, folder: Path) -> MigrationState:
    _, rows = read_rows(conn)
    return MigrationState(svc.name, migration_folders(folder), rows)


def connect(ws: Workspace, svc: Service, timeout: float) -> Any:
    """A connection as the service's role, autocommit; a failure becomes one clear line."""
    import psycopg

    try:
        return connections.pg_connect(ws, svc, timeout=timeout, autocommit=True)
    except psycopg.Error as exc:
        address = ws.registry.postgres.address
        raise ConnectProblem(
            classify(str(exc), svc, address)
            or f"Can't connect to {svc.database} at {address}: {first_line(str(exc))}"
        ) from None


class ConnectProblem(Exception):
    pass


def status(ws: Workspace, svc: Service, timeout: float = 5.0) -> MigrationState:
    """Applied / pending / failed / modified / missing for one service, read directly."""
    folder = ws.migrations_dir(svc)
    try:
        conn = connect(ws, svc, timeout)
    except ConnectProblem as exc:
        return MigrationState(svc.name, migration_folders(folder), error=str(exc))
    with conn:
        return read_state(conn, svc, folder)
