"""What the last `inv setup` verified, kept with the fingerprint it was verified under.

A step whose full check passed (or whose work finished) keeps a fingerprint of everything the
check depends on in `.lomash/setup-verified.json`; the next run takes the same fingerprint first,
and when it is equal, the step's result is the one verified then: "already done", without the
full check. The fingerprints are cheap but never trust alone: each one is taken from the files
and the running servers at this moment:

    files       size, mtime and inode of every file the check reads (.env files and their
                examples, init.sql, seeds), the listing of each migrations folder with each
                migration.sql's size and mtime
    PostgreSQL  one short superuser session (`connections.pg_wire`, no psycopg): the server's
                start time (a restart or a re-created cluster), every database's and role's OID
                (a database or role dropped or re-created), the settings ALTER SYSTEM wrote
    each database   a login with the service's own DATABASE_URL credentials, its extensions
                and a digest of `_prisma_migrations` (a row edited or removed by hand)

A fingerprint that cannot be taken (a server that does not answer, a login refused) is None,
never equal: the step runs its full check, which says what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lomash_tasks import connections
from lomash_tasks.workspace import Workspace

FILE = "setup-verified.json"


class Ledger:
    """The fingerprints kept by earlier runs, one per step."""

    def __init__(self, ws: Workspace) -> None:
        self.path = ws.state_dir / FILE
        self.lock = threading.Lock()  # steps that run side by side keep theirs one at a time
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}

    def same(self, step: str, fingerprint: Any) -> bool:
        return fingerprint is not None and self.data.get(step) == _plain(fingerprint)

    def keep(self, step: str, fingerprint: Any) -> None:
        if fingerprint is None:
            self.forget(step)
            return
        with self.lock:
            self.data[step] = _plain(fingerprint)
            self._save()

    def forget(self, step: str) -> None:
        with self.lock:
            if self.data.pop(step, None) is not None:
                self._save()

    def _save(self) -> None:
        from lomash_tasks.env.files import write_atomic
        from lomash_tasks.errors import UserError

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")
        except (OSError, UserError):
            pass  # a record that cannot be kept only makes the next run check in full


def _plain(value: Any) -> Any:
    """As JSON keeps it (tuples become lists), so a loaded record compares equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


# -- files -----------------------------------------------------------------------------------------
RACY = 1.0  # seconds: a file changed this recently may change again within one clock tick


def stat(path: Path) -> list[Any] | None:
    """Size, mtime and inode. A file modified within the last RACY seconds gets a mark that
    never compares equal (git's "racy" rule: a second edit within the file system's clock tick
    would keep size and mtime), so it is checked in full again next time."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - st.st_mtime_ns < RACY * 1e9:
        return [st.st_size, st.st_mtime_ns, st.st_ino, f"racy {time.time_ns()}"]
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def env_files(ws: Workspace) -> dict[str, Any]:
    """Every .env file and its example (the root's and each service's)."""
    out = {}
    for pair in ws.env_pairs():
        out[ws.relative(pair.env)] = stat(pair.env)
        out[ws.relative(pair.example)] = stat(pair.example)
    return out


def migration_files(ws: Workspace) -> dict[str, Any]:
    """Each database service's migrations folder: every entry, and each migration.sql's stat."""
    out: dict[str, Any] = {}
    for svc in ws.registry.with_database:
        folder = ws.migrations_dir(svc)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            out[svc.name] = None
            continue
        out[svc.name] = {
            "folder": stat(folder),
            **{
                n: stat(folder / n / "migration.sql") if (folder / n).is_dir() else stat(folder / n)
                for n in names
            },
        }
    return out


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


# -- PostgreSQL ------------------------------------------------------------------------------------
CLUSTER_SQL = [
    "SELECT pg_postmaster_start_time()::text",
    "SELECT d.datname, d.oid::text, s.tup_deleted::text FROM pg_database d "
    "LEFT JOIN pg_stat_database s ON s.datid = d.oid ORDER BY 1",
    "SELECT rolname, oid::text FROM pg_roles ORDER BY 1",
    "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' "
    "ORDER BY 1, 2",
]
DATABASE_SQL = [
    "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1",
    "SELECT to_regclass('public._prisma_migrations') IS NOT NULL",
]
MIGRATIONS_SQL = (
    "SELECT md5(coalesce(string_agg(concat_ws(' ', id, checksum, migration_name, "
    "finished_at, rolled_back_at, applied_steps_count, logs), ',' ORDER BY id), "
    "'')) FROM _prisma_migrations"
)


def cluster(ws: Workspace, timeout: float = 3.0) -> dict[str, Any] | None:
    """The server's run and catalog, as one superuser session sees them; None when it cannot
    be asked."""
    try:
        started, dbs, roles, settings = connections.pg_wire(
            ws, CLUSTER_SQL, superuser=True, timeout=timeout
        )
    except Exception:
        return None
    return {
        "started": started[0][0],
        "databases": {name: oid for name, oid, _ in dbs},
        "rows_deleted": {name: deleted for name, _, deleted in dbs},
        "roles": {name: oid for name, oid in roles},
        "auto_conf": [list(s) for s in settings],
    }


def databases(ws: Workspace, timeout: float = 3.0) -> dict[str, Any] | None:
    """Per database service, logged in as its own DATABASE_URL says: its extensions and a
    digest of `_prisma_migrations`; None when any of them cannot be asked."""
    services = ws.registry.with_database

    def one(svc: Any) -> Any:
        try:
            with connections.pg_session(ws, svc=svc, timeout=timeout) as session:
                exts, table = (session.query(sql) for sql in DATABASE_SQL)
                rows = session.query(MIGRATIONS_SQL)[0][0] if table[0][0] == "t" else None
        except Exception:
            return None
        return {"extensions": [e[0] for e in exts], "migrations": rows}

    if not services:
        return {}
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        found = dict(zip((s.name for s in services), pool.map(one, services)))
    return None if any(v is None for v in found.values()) else found


# -- the AWS endpoint ------------------------------------------------------------------------------
def aws_resources(ws: Workspace, timeout: float = 3.0) -> dict[str, Any] | None:
    """What the endpoint holds, asked with signed requests (`connections.aws_wire`, no boto3):
    bucket names, each queue with its redrive policy, each secret with its last change, the
    SES identities; None when any answer is missing."""
    import re

    def call(service: str, **request: Any) -> bytes:
        status, body = connections.aws_wire(ws, service, timeout=timeout, **request)
        if status != 200:
            raise OSError(f"{service} answered HTTP {status}")
        return body

    def queues() -> dict[str, Any]:
        body = call(
            "sqs",
            method="POST",
            path="/",
            body=b"Action=ListQueues&Version=2012-11-05",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        urls = _json_or_tags(body, "QueueUrls", rb"<QueueUrl>(.*?)</QueueUrl>")
        out = {}
        for url in sorted(urls):
            form = (
                f"Action=GetQueueAttributes&Version=2012-11-05&QueueUrl="
                f"{_form(url)}&AttributeName.1=RedrivePolicy"
            ).encode()
            body = call(
                "sqs",
                method="POST",
                path="/",
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            try:
                out[url.rsplit("/", 1)[-1]] = (json.loads(body).get("Attributes") or {}).get(
                    "RedrivePolicy"
                )
            except ValueError:
                found = re.search(rb"<Name>RedrivePolicy</Name>\s*<Value>(.*?)</Value>", body, re.S)
                out[url.rsplit("/", 1)[-1]] = found.group(1).decode() if found else None
        return out

    def secrets() -> list[Any]:
        body = call(
            "secretsmanager",
            method="POST",
            body=b"{}",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "secretsmanager.ListSecrets",
            },
        )
        return sorted(
            [s.get("Name"), s.get("LastChangedDate")]
            for s in json.loads(body).get("SecretList") or []
        )

    def buckets() -> list[str]:
        return sorted(b.decode() for b in re.findall(rb"<Name>(.*?)</Name>", call("s3")))

    def identities() -> list[str]:
        body = call(
            "ses",
            method="POST",
            path="/",
            body=b"Action=ListIdentities&Version=2010-12-01",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return sorted(m.decode() for m in re.findall(rb"<member>(.*?)</member>", body))

    asks = {"buckets": buckets, "queues": queues, "secrets": secrets, "ses": identities}
    try:
        with ThreadPoolExecutor(max_workers=len(asks)) as pool:
            futures = {name: pool.submit(fn) for name, fn in asks.items()}
            return {name: f.result() for name, f in futures.items()}
    except Exception:
        return None


def _json_or_tags(body: bytes, key: str, pattern: bytes) -> list[str]:
    import re

    try:
        return [str(v) for v in json.loads(body).get(key) or []]
    except ValueError:
        return [m.decode() for m in re.findall(pattern, body)]


def _form(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
