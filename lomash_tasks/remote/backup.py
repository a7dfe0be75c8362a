"""The backup `db.migrate --target T` takes first when the target asks for one (`backup:`).

    result = take(ws, target, services, out)     # raises a UserError when it fails: then the
                                                 # migration does not start

- `pg_dump`: each service's database, dumped through the target's tunnel as the service's own
  role (its secret's credentials, the password in the environment), in PostgreSQL's custom
  format, to `.lomash/backups/<target>/<UTC time>/<alias>-<database>.dump`: folders 0700,
  files 0600 from the moment they exist. Each dump is checked readable (`pg_restore --list`)
  before it counts. A dump that fails (the server, the version of pg_dump, a full disk) is
  removed and named: nothing is migrated.
- `snapshot`: an RDS snapshot of the target's instance (or Aurora cluster) through boto3,
  waited for until it is available, within the backup's deadline.

The audit log's line of the migration names what was taken (files, or the snapshot's id).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lomash_tasks import commands, connections
from lomash_tasks.console import Console
from lomash_tasks.errors import UserError
from lomash_tasks.helpers import poll_until
from lomash_tasks.registry import Service
from lomash_tasks.remote.awscalls import calls, code_of
from lomash_tasks.remote.targets import Target
from lomash_tasks.workspace import Workspace

FOLDER = "backups"
POLL = 5.0  # seconds between two looks at a snapshot's status


@dataclass
class Dump:
    service: str
    database: str
    path: Path
    bytes: int
    seconds: float


@dataclass
class BackupResult:
    kind: str
    dumps: list[Dump] = field(default_factory=list)
    snapshot: str = ""
    seconds: float = 0.0

    def audit(self, ws: Workspace) -> dict[str, Any]:
        """What the audit log records of it."""
        if self.kind == "snapshot":
            return {"kind": self.kind, "snapshot": self.snapshot, "seconds": round(self.seconds, 2)}
        return {
            "kind": self.kind,
            "seconds": round(self.seconds, 2),
            "files": [
                {
                    "service": d.service,
                    "database": d.database,
                    "path": ws.relative(d.path),
                    "bytes": d.bytes,
                }
                for d in self.dumps
            ],
        }

    def lines(self, ws: Workspace) -> list[str]:
        if self.kind == "snapshot":
            return [f"backup: RDS snapshot {self.snapshot} is available ({self.seconds:.1f}s)"]
        return [
            f"backup: {d.service} -> {ws.relative(d.path)} ({_size(d.bytes)}, {d.seconds:.1f}s)"
            for d in self.dumps
        ]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def take(
    ws: Workspace,
    target: Target,
    services: Iterable[Service],
    out: Console | None = None,
    bindir: str = "",
) -> BackupResult:
    """The target's backup (see the module docstring); a UserError when it fails."""
    assert target.backup is not None
    chosen = [s for s in services if s.has_database]
    began = time.monotonic()
    if target.backup.kind == "snapshot":
        result = BackupResult("snapshot", snapshot=_snapshot(target, out))
    else:
        result = BackupResult("pg_dump", dumps=_dumps(ws, target, chosen, out, bindir))
    result.seconds = time.monotonic() - began
    return result


# -- pg_dump through the tunnel -------------------------------------------------------------------
def folder_for(ws: Workspace, target: Target, when: str) -> Path:
    """`.lomash/backups/<target>/<when>/`, every level owner-only."""
    path = ws.ensure_state_dir(FOLDER, target.name, when)
    for level in (path, path.parent, path.parent.parent):
        os.chmod(level, 0o700)
    return path


def _dumps(
    ws: Workspace, target: Target, services: list[Service], out: Console | None, bindir: str
) -> list[Dump]:
    from lomash_tasks.remote import ops, session
    from lomash_tasks.stack.pgtools import find_client

    pg_dump, pg_restore = find_client("pg_dump", bindir), find_client("pg_restore", bindir)
    folder = folder_for(ws, target, stamp())
    done: list[Dump] = []
    try:
        with session.opened(ws, target, services, log=out.info if out else None) as rws:
            ops.reachable(rws, target)
            for svc in services:
                remote = rws.registry.service(svc.name)
                done.append(_dump(rws, target, remote, folder, pg_dump, pg_restore))
                if out is not None:
                    out.info(
                        f"backup of {svc.name}: {ws.relative(done[-1].path)} "
                        f"({_size(done[-1].bytes)})"
                    )
    except BaseException:
        if not any(folder.iterdir()):
            folder.rmdir()
        raise
    return done


def _dump(
    rws: Workspace, target: Target, svc: Service, folder: Path, pg_dump: Path, pg_restore: Path
) -> Dump:
    assert target.backup is not None
    began = time.monotonic()
    path = folder / f"{svc.alias}-{svc.database}.dump"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner-only from the start
    os.close(fd)
    login, env = connections.libpq_login(rws, svc, "lomash-tasks backup")
    argv = [str(pg_dump), "--format=custom", "--no-password", *login, "-f", str(path)]
    where = f"Target '{target.name}': the backup of {svc.name} ({svc.database})"
    try:
        done = commands.run(
            argv, env=env, replace_env=True, timeout=target.backup.timeout, check=False
        )
    except commands.CommandTimeout:
        path.unlink(missing_ok=True)
        raise UserError(
            f"{where} did not finish within {target.backup.timeout:.0f} s "
            f"(targets.{target.name}.backup.timeout) and was stopped: the migration "
            f"did not start."
        ) from None
    if done.code != 0:
        path.unlink(missing_ok=True)
        raise UserError(
            f"{where} failed, so the migration did not start: {_why(done.stderr, pg_dump, folder)}"
        )
    check = commands.run([str(pg_restore), "--list", str(path)], timeout=120, check=False)
    if check.code != 0:
        path.unlink(missing_ok=True)
        raise UserError(
            f"{where} wrote a file pg_restore cannot read ("
            f"{check.stderr.strip().splitlines()[-1] if check.stderr.strip() else check.code}): "
            f"the migration did not start."
        )
    return Dump(svc.name, svc.database or "", path, path.stat().st_size, time.monotonic() - began)


def _why(stderr: str, pg_dump: Path, folder: Path) -> str:
    text = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:]) or "no output"
    low = text.lower()
    if "no space left on device" in low or "disk quota exceeded" in low:
        free = shutil.disk_usage(folder).free
        return (
            f"the disk holding {folder} is full ({_size(free)} free): {text}. Free space "
            f"there (or make .lomash/backups a link to a larger disk) and run again."
        )
    if "server version mismatch" in low:
        return (
            f"{text}. Install a pg_dump at least as new as the server (Debian/Ubuntu: "
            f"postgresql-client-<version>) or point stack.postgres_bindir at one."
        )
    if "permission denied" in low:
        return (
            f"{text}. The service's role may not read everything in its database: dump "
            f"as a role that may (its secret's DATABASE_URL), or grant it."
        )
    return text


# -- an RDS snapshot ------------------------------------------------------------------------------
def _snapshot(target: Target, out: Console | None) -> str:
    import botocore.exceptions as bx

    backup = target.backup
    assert backup is not None
    rds = connections.target_client(target.aws, "rds")
    when = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = "".join(c if c.isalnum() else "-" for c in target.name.lower())
    ident = f"lomash-{name}-{when}"[:255]  # letters, digits and hyphens, a letter first
    what = f"cluster {backup.cluster}" if backup.cluster else f"instance {backup.instance}"
    tags = [{"Key": "made-by", "Value": "lomash-tasks db.migrate"}]
    try:
        with calls(target, f"snapshot RDS {what}"):
            if backup.cluster:
                rds.create_db_cluster_snapshot(
                    DBClusterSnapshotIdentifier=ident, DBClusterIdentifier=backup.cluster, Tags=tags
                )
            else:
                rds.create_db_snapshot(
                    DBSnapshotIdentifier=ident, DBInstanceIdentifier=backup.instance, Tags=tags
                )
    except bx.ClientError as exc:
        raise UserError(
            f"Target '{target.name}': RDS refused a snapshot of {what} "
            f"({code_of(exc)}: {exc.response.get('Error', {}).get('Message', '')}): "
            f"the migration did not start. Check targets.{target.name}.backup."
        ) from None
    if out is not None:
        out.info(
            f"backup: RDS snapshot {ident} of {what} requested; waiting until it is "
            f"available (up to {backup.timeout:.0f} s)"
        )
    status = "?"

    def available() -> bool:
        nonlocal status
        with calls(target, f"describe RDS snapshot {ident}"):
            if backup.cluster:
                found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=ident)[
                    "DBClusterSnapshots"
                ]
            else:
                found = rds.describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"]
        status = (found[0].get("Status") if found else "missing") or "?"
        if status in ("failed", "missing", "deleted", "incompatible-restore"):
            raise UserError(
                f"Target '{target.name}': RDS snapshot {ident} of {what} is "
                f"{status}: the migration did not start."
            )
        return status == "available"

    if poll_until(available, timeout=backup.timeout, interval=POLL):
        return ident
    raise UserError(
        f"Target '{target.name}': RDS snapshot {ident} of {what} was still "
        f"'{status}' after {backup.timeout:.0f} s "
        f"(targets.{target.name}.backup.timeout): the migration did not "
        f"start. RDS goes on making it; run again once it is available."
    )
