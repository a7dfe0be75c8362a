"""Where PostgreSQL's programs are: the server binaries (initdb, pg_ctl, postgres) and psql.

Looked up in order: the configured folder (`stack.postgres_bindir`), `pg_config --bindir`, the
usual Debian and Homebrew layouts; psql on PATH first.
"""

from __future__ import annotations

import glob
import re
import shutil
from pathlib import Path

from lomash_tasks import commands
from lomash_tasks.errors import UserError

INSTALL_HINT = (
    "Install PostgreSQL with its contrib extensions (Debian/Ubuntu: `apt-get install "
    "postgresql postgresql-contrib`; macOS: `brew install postgresql@16`), or point "
    "the suite at a folder holding initdb, pg_ctl, postgres and psql with "
    "INVOKE_STACK_POSTGRES_BINDIR=/path/to/bin (config key stack.postgres_bindir)."
)
TOOLS = ("initdb", "pg_ctl", "postgres", "psql")


def find_bindir(configured: str = "") -> Path:
    """Where initdb/pg_ctl/postgres/psql live: config, `pg_config --bindir`, the usual layouts."""
    candidates: list[Path] = []
    if configured:
        path = Path(configured).expanduser()
        if not all((path / t).exists() for t in TOOLS):
            raise UserError(
                f"stack.postgres_bindir is {configured}, but that folder does not "
                f"hold {', '.join(TOOLS)}. {INSTALL_HINT}"
            )
        return path
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = commands.run([pg_config, "--bindir"], timeout=5).stdout.strip()
            if out:
                candidates.append(Path(out))
        except commands.CommandError:
            pass
    candidates += sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_version_key, reverse=True
    )
    candidates += sorted(
        (
            Path(p)
            for p in glob.glob("/opt/homebrew/opt/postgresql@*/bin")
            + glob.glob("/usr/local/opt/postgresql@*/bin")
        ),
        key=_version_key,
        reverse=True,
    )
    candidates += [
        Path("/opt/homebrew/bin"),
        Path("/usr/local/bin"),
        Path("/usr/local/pgsql/bin"),
        Path("/usr/pgsql/bin"),
    ]
    for path in candidates:
        if all((path / t).exists() for t in TOOLS):
            return path
    raise UserError(
        f"PostgreSQL server binaries ({', '.join(TOOLS)}) were not found. {INSTALL_HINT}"
    )


def _version_key(path: Path) -> tuple[int, ...]:
    numbers = re.findall(r"(\d+)", str(path))
    return tuple(int(n) for n in numbers[-1:]) or (0,)


PSQL_HINT = (
    "psql (the PostgreSQL client) was not found on PATH or next to the server "
    "binaries. Install it: Debian/Ubuntu `apt-get install postgresql-client`, Fedora "
    "`dnf install postgresql`, macOS `brew install libpq` (then add its bin folder to "
    "PATH)."
)


def find_psql(bindir: str = "") -> Path:
    """psql: on PATH, else next to the PostgreSQL server binaries (see stack.postgres_bindir)."""
    return find_client("psql", bindir)


def find_client(name: str, bindir: str = "") -> Path:
    """A PostgreSQL client program (psql, pg_dump, pg_restore): on PATH, else next to the
    server binaries (see stack.postgres_bindir)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    try:
        folder = find_bindir(bindir)
    except UserError:
        folder = None
    if folder is not None and (folder / name).exists():
        return folder / name
    raise UserError(
        PSQL_HINT
        if name == "psql"
        else PSQL_HINT.replace(
            "psql (the PostgreSQL client)", f"{name} (a PostgreSQL client program)"
        )
    )
