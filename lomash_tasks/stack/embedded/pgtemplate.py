"""A cache of ready PostgreSQL clusters, so a new workspace skips initdb and init.sql.

The first embedded PostgreSQL made on a machine (initdb, then init.sql applied, then a clean
stop) is copied to `<cache>/postgres/<key>/`; a later new workspace whose key matches starts
from a copy of it (a fraction of a second instead of several). The key covers everything the
cluster is made from: the server's version, the superuser and its password, init.sql's bytes,
the initdb options, and what was decided for init.sql on this machine (the libraries
preloaded; each locale used as it is, compiled, or replaced), so a cluster made for another
script, preload or locale is never reused. Service role passwords are set from the env files at
every start anyway. The cache is `stack.cache_dir` (default: where the platform keeps a user's
caches, through platformdirs: $XDG_CACHE_HOME/lomash-tasks or ~/.cache/lomash-tasks on Linux,
~/Library/Caches/lomash-tasks on macOS); `off` disables it. `stack.down --volumes` never
touches it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from lomash_tasks import commands

FORMAT = "2"  # bump when the way clusters are made changes
SKIP = shutil.ignore_patterns("postmaster.pid", "postmaster.opts", "lomash.conf")
WAL_SEGMENT = re.compile(r"[0-9A-F]{24}")


def checkpoint_segment(bindir: Path, data_dir: Path) -> str | None:
    """The WAL segment a cleanly shut down cluster needs (None when it was not shut down
    cleanly, or pg_controldata cannot tell)."""
    try:
        out = commands.run(
            [bindir / "pg_controldata", "-D", data_dir], timeout=10, env={"LC_ALL": "C"}
        ).stdout
    except commands.CommandError:
        return None
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    if fields.get("Database cluster state", "").strip() != "shut down":
        return None
    segment = fields.get("Latest checkpoint's REDO WAL file", "").strip()
    return segment if WAL_SEGMENT.fullmatch(segment) else None


def cache_root(configured: str) -> Path | None:
    """The cache folder, or None when the cache is off."""
    value = (configured or "").strip()
    if value.lower() in ("off", "none", "false", "0", "no"):
        return None
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("lomash-tasks", appauthor=False))


def key(
    server_version: str,
    superuser: str,
    password: str,
    init_sql: bytes,
    initdb_args: list[str],
    decisions: str = "",
) -> str:
    digest = hashlib.sha256()
    for part in (FORMAT, server_version, superuser, password, " ".join(initdb_args), decisions):
        digest.update(part.encode() + b"\0")
    digest.update(init_sql)
    return digest.hexdigest()[:24]


def location(root: Path, cache_key: str) -> Path:
    return root / "postgres" / cache_key


def restore(template: Path, data_dir: Path, owner: tuple[int, int] | None) -> bool:
    """Copy a cached cluster to `data_dir` (owned by `owner`); False when there is none."""
    if not (template / "PG_VERSION").is_file():
        return False
    if data_dir.exists():
        shutil.rmtree(data_dir)
    copy_tree(template, data_dir)
    data_dir.chmod(0o700)
    if owner is not None:
        chown_tree(data_dir, *owner)
    return True


def copy_tree(src: Path, dest: Path, jobs: int = 4) -> None:
    """`shutil.copytree(src, dest, symlinks=True, ignore=SKIP)`, `jobs` folders at a time. A
    cluster is thousands of small files, and creating each one costs the file system more than
    its bytes; files created in one folder wait on that folder's lock, so the work is split by
    folder (each database is one): 0.82-0.98 s against 1.68-2.07 s copying the files themselves
    8 at a time, interleaved, on a 98 MB, 3,360-file cluster on ext4 (one `cp -a`: 2.2 s)."""
    from concurrent.futures import ThreadPoolExecutor

    by_folder: dict[str, list[tuple[str, str]]] = {}
    for folder, dirs, names in os.walk(src):
        skipped = SKIP(folder, dirs + names)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]  # copied as links
        dirs[:] = [d for d in dirs if d not in skipped and d not in links]
        target = os.path.join(dest, os.path.relpath(folder, src))
        os.makedirs(target, exist_ok=True)
        shutil.copystat(folder, target)
        by_folder[target] = [
            (os.path.join(folder, name), os.path.join(target, name))
            for name in names + links
            if name not in skipped
        ]

    def copy_folder(pairs: list[tuple[str, str]]) -> None:
        for pair in pairs:
            shutil.copy2(*pair, follow_symlinks=False)

    biggest_first = sorted(by_folder.values(), key=len, reverse=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for _ in pool.map(copy_folder, biggest_first):
            pass


def _skip(keep_wal: str | None):
    """What not to copy: run-time files, and (after a clean shutdown) every WAL segment but
    the one holding the last checkpoint (the others are only recycled space)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(SKIP(folder, names))
        if keep_wal and os.path.basename(folder) == "pg_wal":
            skipped |= {n for n in names if WAL_SEGMENT.fullmatch(n) and n != keep_wal}
        return skipped

    return ignore


def save(data_dir: Path, template: Path, keep_wal: str | None = None) -> bool:
    """Copy a cleanly stopped cluster into the cache (atomically); False if one is there."""
    if (template / "PG_VERSION").is_file():
        return False
    template.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (template.parent, template.parent.parent):
        folder.chmod(0o700)
    temp = template.parent / f".tmp-{template.name}-{os.getpid()}"
    if temp.exists():
        shutil.rmtree(temp)
    shutil.copytree(data_dir, temp, symlinks=True, ignore=_skip(keep_wal))
    temp.chmod(0o700)
    try:
        os.rename(temp, template)
    except OSError:  # another run saved it first
        shutil.rmtree(temp, ignore_errors=True)
        return False
    return True


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)
