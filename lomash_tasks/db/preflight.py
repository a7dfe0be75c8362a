"""Before migrating: does each service's `.env` name its own role and database at the stack's
address, and does it log in?

A migration run with the wrong URL fails late and says little ("password authentication
failed"); these checks say which file and key, which role and database the URL really uses,
what the stack serves instead, and the fix: `inv env.copy --align` when the file disagrees with
the stack (or DIRECT_URL with DATABASE_URL), `inv db.init` when only the server's copy of the
role's password is stale (it sets it from the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lomash_tasks import connections
from lomash_tasks.env import files as envfiles
from lomash_tasks.env import overlays, urls
from lomash_tasks.env.align import LOOPBACK, ws_rel
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

KEYS = ("DATABASE_URL", "DIRECT_URL")
ALIGN = "`inv env.copy --align` aligns the file with the stack (and keeps a backup)"


@dataclass(frozen=True)
class UrlCheck:
    """One service's URL (DATABASE_URL or DIRECT_URL) against the stack."""

    service: str
    file: str
    key: str
    user: str
    database: str
    address: str  # host:port as the URL names it
    problems: tuple[str, ...] = ()  # how the URL disagrees with the stack
    login: str | None = None  # why logging in failed (None: it logged in, or not tried)
    fix: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and self.login is None

    def line(self) -> str:
        head = (
            f"{self.service}: {self.key} in {self.file} logs in as {self.user or '(none)'} to "
            f"{self.database or '(none)'} at {self.address}"
        )
        said = "; ".join(
            self.problems + ((f"logging in failed: {self.login}",) if self.login else ())
        )
        return f"{head}: {said}. Fix: {self.fix}" if said else f"{head}: ok"

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "file": self.file,
            "key": self.key,
            "user": self.user,
            "database": self.database,
            "address": self.address,
            "ok": self.ok,
            "problems": list(self.problems),
            "login": self.login,
            "fix": self.fix,
        }


@dataclass
class _Url:
    key: str
    user: str = ""
    password: str = ""
    database: str = ""
    host: str = ""
    port: int | None = None
    problems: list[str] = field(default_factory=list)


def check_connections(
    ws: Workspace,
    services: list[Service] | None = None,
    overlay: str = "host",
    timeout: float = 5.0,
) -> list[UrlCheck]:
    """Each database service's DATABASE_URL (and DIRECT_URL, when set) against the stack: its
    role and database as the registry has them, its host and port as the overlay names the
    stack's PostgreSQL, and a real login at the stack's address with the URL's user, password
    and database (what the service and the migrations will use)."""
    reg = ws.registry
    expect_host, expect_port = overlays.load(overlay, reg).hosts["postgres"]
    chosen = [s for s in (services or reg.services) if s.has_database]
    out: list[UrlCheck] = []
    for svc in chosen:
        pair = ws.env_pair(svc)
        path = pair.env if pair.env.is_file() else pair.example
        rel = ws_rel(ws, path)
        env = envfiles.read_env(path) if path.is_file() else None
        tried: dict[tuple[str, str, str], str | None] = {}
        for key in KEYS:
            value = env.get(key) if env is not None else None
            if not value:
                if key == "DATABASE_URL":
                    out.append(
                        UrlCheck(
                            svc.name,
                            rel,
                            key,
                            "",
                            "",
                            "",
                            (
                                f"{key} is "
                                f"{'missing' if env is not None else 'not there: no ' + rel}",
                            ),
                            fix="`inv env.copy` writes it (`--align` into an existing file)",
                        )
                    )
                continue
            url = _parse(key, value)
            if not url.problems:
                if url.user != svc.role:
                    url.problems.append(f"the stack's role for {svc.name} is {svc.role}")
                if url.database != svc.database:
                    url.problems.append(f"its database is {svc.database}")
                if (
                    not (url.host == expect_host or {url.host, expect_host} <= LOOPBACK)
                    or url.port != expect_port
                ):
                    url.problems.append(f"the stack's PostgreSQL is at {expect_host}:{expect_port}")
            login = None
            if url.user and url.database:
                who = (url.user, url.password, url.database)
                if who not in tried:
                    tried[who] = _login(ws, svc, url, timeout)
                login = tried[who]
            fix = ALIGN
            if (
                not url.problems
                and login is not None
                and "password" in login
                and key == "DATABASE_URL"
            ):
                fix = f"`inv db.init` sets role {svc.role}'s password on the server from {rel}"
            elif not url.problems and login is not None and "does not answer" in login:
                fix = "start the stack (`inv stack.up`, then `inv db.wait`)"
            out.append(
                UrlCheck(
                    svc.name,
                    rel,
                    key,
                    url.user,
                    url.database,
                    f"{url.host}:{url.port}",
                    tuple(url.problems),
                    login,
                    fix,
                )
            )
    return out


def require(ws: Workspace, overlay: str = "host", timeout: float = 5.0) -> list[UrlCheck]:
    """`check_connections`, raising one UserError that lists every failing URL."""
    checks = check_connections(ws, overlay=overlay, timeout=timeout)
    bad = [c for c in checks if not c.ok]
    if bad:
        raise UserError(
            "The services' database URLs do not match the stack, so nothing was "
            "migrated:\n" + "\n".join(f"  {c.line()}" for c in bad)
        )
    return checks


def _parse(key: str, value: str) -> _Url:
    url = _Url(key)
    parts = urls.parse(value)
    if parts is None:
        url.problems.append("it does not parse as a URL")
        return url
    if parts.scheme not in ("postgres", "postgresql"):
        url.problems.append(f"its scheme is '{parts.scheme}', not postgresql")
    url.user, url.password, url.database = parts.user, parts.password, parts.database
    url.host, url.port = parts.host, parts.port or 5432
    return url


def _login(ws: Workspace, svc: Service, url: _Url, timeout: float) -> str | None:
    """None when the URL's user, password and database log in at the stack's address; else
    why not, in one phrase naming the role and database."""
    import psycopg

    pg = ws.registry.postgres
    creds = connections.Credentials(url.user, url.password)
    try:
        with connections.pg_connect(
            ws, svc, dbname=url.database, timeout=timeout, credentials=creds
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as err:
        said = " ".join(str(err).split())
        low = said.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            return (
                f"PostgreSQL at {pg.address} refused role {url.user} on database "
                f"{url.database} (password authentication failed)"
            )
        if (
            f'database "{url.database.lower()}" does not exist' in low
            or "does not exist" in low
            and "database" in low
        ):
            return f"database {url.database} does not exist on {pg.address}"
        if "role" in low and "does not exist" in low:
            return f"role {url.user} does not exist on {pg.address}"
        if "permission denied" in low or "not permitted" in low:
            return f"role {url.user} may not connect to database {url.database}"
        if "refused" in low or "timeout" in low or "could not" in low:
            return f"PostgreSQL does not answer at {pg.address} ({said[:160]})"
        return f"{said[:200]} (as role {url.user} on database {url.database})"
    return None
