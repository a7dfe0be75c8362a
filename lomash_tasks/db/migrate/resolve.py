"""`db.resolve`: what `prisma migrate resolve` does to `_prisma_migrations`, without the Prisma
binary it needs (it does not run offline).

* `--applied NAME`: the migration folder must exist (else Prisma's P3017); a row of it that is
  finished already is refused (P3008); its failed rows are marked rolled back; then a row is
  inserted as Prisma's resolve writes it: a v4 UUID, the script's checksum, started_at =
  finished_at = now, logs '' and applied_steps_count 0. The script itself is not run.
* `--rolled-back NAME`: its failed rows (finished_at and rolled_back_at NULL) get
  rolled_back_at = now; a migration with no row is refused (P3011), one with no failed row too
  (P3012). The next `db.migrate` applies it again.

Both take Prisma's advisory lock first, like every Prisma migrate command.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lomash_tasks.db.migrate import native
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace


@dataclass
class ResolveResult:
    service: str
    migration: str
    action: str  # "applied" | "rolled-back"
    rolled_back: list[str]  # ids of failed rows marked rolled back

    def as_dict(self) -> dict:
        return {
            "service": self.service,
            "migration": self.migration,
            "action": self.action,
            "rolled_back_rows": self.rolled_back,
        }


def resolve(
    ws: Workspace,
    svc: Service,
    applied: str | None = None,
    rolled_back: str | None = None,
    timeout: float = 30.0,
) -> ResolveResult:
    if bool(applied) == bool(rolled_back):
        raise UserError(
            "db.resolve needs exactly one of --applied MIGRATION or --rolled-back "
            "MIGRATION, e.g. `inv db.resolve --service auth --rolled-back "
            "20260301000000_add_notes`."
        )
    name = applied or rolled_back or ""
    folder = ws.migrations_dir(svc)
    local = {m.name: m for m in native.migration_folders(folder)}
    if applied and (name not in local or not local[name].has_file):
        known = ", ".join(list(local)[-3:]) or "none"
        raise UserError(
            f"{svc.name} has no migration {name} in {ws.relative(folder)} (P3017): "
            f"name a folder of it (the last ones: {known})."
        )
    with native.locked_table(ws, svc, timeout, min(timeout, 10.0)) as conn:
        _, rows = native.read_rows(conn)
        mine = [r for r in rows if r.name == name]
        failed = [r for r in mine if r.finished_at is None and r.rolled_back_at is None]
        if applied:
            if any(r.finished_at is not None for r in mine):
                raise UserError(
                    f"migration {name} of {svc.name} is already recorded as applied "
                    f"(P3008): nothing to resolve."
                )
            with conn.transaction():
                ids = _roll_back(conn, failed)
                record_applied(conn, local[name])
            return ResolveResult(svc.name, name, "applied", ids)
        if not mine:
            raise UserError(
                f"migration {name} of {svc.name} cannot be rolled back: it was never "
                f"applied to {svc.database} (P3011)."
            )
        if not failed:
            raise UserError(
                f"migration {name} of {svc.name} cannot be rolled back: it is not "
                f"in a failed state (P3012)."
            )
        with conn.transaction():
            ids = _roll_back(conn, failed)
        return ResolveResult(svc.name, name, "rolled-back", ids)


def record_applied(conn, migration: native.LocalMigration) -> None:
    """One row saying `migration` is applied, exactly as `prisma migrate resolve --applied`
    writes it: a v4 UUID, the script's checksum, started_at = finished_at = now, logs '' and
    applied_steps_count 0 (its script is not run)."""
    now = native.utc_now_ms()
    conn.execute(
        f'INSERT INTO public."{native.TABLE}" (id, checksum, logs, started_at, finished_at, '
        f"migration_name) VALUES (%s, %s, '', %s, %s, %s)",
        (str(uuid.uuid4()), migration.checksum, now, now, migration.name),
    )


def _roll_back(conn, rows) -> list[str]:
    ids = [r.id for r in rows]
    for rid in ids:
        conn.execute(
            f'UPDATE public."{native.TABLE}" SET rolled_back_at = %s WHERE id = %s',
            (native.utc_now_ms(), rid),
        )
    return ids
