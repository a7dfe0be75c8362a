"""The one place that opens connections to the stack: Postgres, Redis, the AWS endpoint, SMTP.

Addresses come from the registry (`infra.*`: both backends publish every part there, on the
host's loopback); credentials come from the workspace's env files (`.env`, or `.env.example`
before `env.copy` has run). Heavy client libraries are imported here, inside the functions.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from lomash_tasks.env import files as envfiles
from lomash_tasks.env import urls
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.workspace import Workspace

DEFAULT_PASSWORD = "changeme_local"


# -- credentials --------------------------------------------------------------------------------
def _root_value(ws: Workspace, key: str) -> str | None:
    pair = ws.env_pair(None)
    for path in (pair.env, pair.example):
        if path.is_file():
            value = envfiles.read_env(path).get(key)
            if value:
                return value
    return None


def superuser_password(ws: Workspace) -> str:
    return _root_value(ws, "POSTGRES_PASSWORD") or DEFAULT_PASSWORD


def redis_password(ws: Workspace) -> str:
    return _root_value(ws, "REDIS_PASSWORD") or DEFAULT_PASSWORD


def stack_facts(ws: Workspace, overlay: Any = None) -> Any:
    """What `.env` files should name (`env.align.StackFacts`): the registry, the overlay's
    hosts and ports (`env.overlays.Overlay`; default `host`) and the passwords the running stack
    uses, read here where the stack reads them."""
    from lomash_tasks.env import overlays
    from lomash_tasks.env.align import StackFacts

    return StackFacts(
        ws.registry,
        overlay or overlays.load("host", ws.registry),
        superuser_password=superuser_password(ws),
        redis_password=redis_password(ws),
    )


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def libpq_login(
    ws: Workspace,
    svc: Service | None,
    app: str,
    dbname: str | None = None,
    superuser: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """How a libpq program (psql, pg_dump) logs in, as `pg_connect` would (the service's role in
    its database by default, the superuser with `superuser` or no service): the connection flags
    and the environment, `app` its application_name. The password goes in PGPASSWORD, never on
    the command line; a target's secret URL's `sslmode`/`sslrootcert` become
    PGSSLMODE/PGSSLROOTCERT."""
    import os
    from urllib.parse import parse_qsl

    user, password, database = _pg_login(ws, svc, dbname, superuser, None)
    pg = ws.registry.postgres
    env = dict(os.environ)
    env.update(PGPASSWORD=password, PGCONNECT_TIMEOUT="10", PGAPPNAME=app)
    secret = ws.database_urls.get(svc.name, "") if svc is not None and not superuser else ""
    query = dict(parse_qsl(urlsplit(secret).query))
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if query.get(key):
            env[var] = query[key]
    return ["-h", pg.host, "-p", str(pg.port), "-U", user, "-d", database], env


def service_credentials(ws: Workspace, svc: Service) -> Credentials:
    """The service's role and password, as its own env file's DATABASE_URL gives them: the
    `.env` (the stack sets the role's password from it), then another environment's file
    (`.env.test`), then the example."""
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database (it owns no Postgres role or database).")
    remote = ws.database_urls.get(svc.name)
    if remote is not None:  # a target's secret: never the local .env
        given = urlsplit(remote)
        return Credentials(unquote(given.username or svc.role or ""), unquote(given.password or ""))
    pair = ws.env_pair(svc)
    for path in dict.fromkeys((ws.base_env(svc), pair.env, pair.example)):
        if not path.is_file():
            continue
        parts = urls.parse(envfiles.read_env(path).get("DATABASE_URL") or "")
        if parts is not None and parts.has_password:  # read as its author meant ('@', '#')
            return Credentials(parts.user or svc.role or "", parts.password)
    return Credentials(svc.role or "", DEFAULT_PASSWORD)


# -- URLs ---------------------------------------------------------------------------------------
def database_url(ws: Workspace, svc: Service, database: str | None = None) -> str:
    """A host-reachable `postgresql://` URL for the service's role and database."""
    creds = service_credentials(ws, svc)
    pg = ws.registry.postgres
    remote = ws.database_urls.get(svc.name)
    if remote is not None:  # the secret's URL (its query: sslmode, ...) at the tunnel's address
        parts = urlsplit(remote)
        netloc = (
            f"{quote(creds.user, safe='')}:{quote(creds.password, safe='')}@{pg.host}:{pg.port}"
        )
        return parts._replace(netloc=netloc, path=f"/{database or svc.database}").geturl()
    return (
        f"postgresql://{quote(creds.user, safe='')}:{quote(creds.password, safe='')}"
        f"@{pg.host}:{pg.port}/{database or svc.database}?schema=public"
    )


# -- safety -------------------------------------------------------------------------------------
def is_local(host: str) -> bool:
    """True for loopback names and addresses (what a destructive task may touch unasked)."""
    if host in ("localhost", "localhost.localdomain", "") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def refuse_remote(host: str, what: str, allow_remote: bool) -> None:
    if not allow_remote and not is_local(host):
        raise UserError(
            f"Refusing to {what} on {host}: it is not a local address. "
            f"Pass --allow-remote if you really mean that server."
        )


# -- clients ------------------------------------------------------------------------------------
# The suite's own sessions on the local stack keep their own deadlines (db.timeout, the seed
# timeout, ...) whatever a monorepo's init.sql sets cluster-wide by ALTER SYSTEM
# (statement_timeout, lock_timeout, idle_in_transaction_session_timeout).
LOCAL_SESSION_OPTIONS = (
    "-c statement_timeout=0 -c lock_timeout=0 -c idle_in_transaction_session_timeout=0"
)


def pg_connect(
    ws: Workspace,
    svc: Service | None = None,
    dbname: str | None = None,
    superuser: bool = False,
    timeout: float = 5.0,
    credentials: Credentials | None = None,
    **kwargs: Any,
) -> Any:
    """A psycopg connection: as the service's role (default), the superuser (`superuser`), or
    whoever `credentials` name (a URL's user and password, tried as written). On the local
    stack, the session's timeouts are the suite's (LOCAL_SESSION_OPTIONS)."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a core dependency
        raise UserError("psycopg is not installed: run `pip install -e .`.") from None
    pg = ws.registry.postgres
    user, password, dbname = _pg_login(ws, svc, dbname, superuser, credentials)
    if ws.is_local:
        kwargs.setdefault("options", LOCAL_SESSION_OPTIONS)
    return psycopg.connect(
        host=pg.host,
        port=pg.port,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=max(1, int(timeout + 0.999)),
        application_name="lomash-tasks",
        **kwargs,
    )


def _pg_login(
    ws: Workspace,
    svc: Service | None,
    dbname: str | None,
    superuser: bool,
    credentials: Credentials | None,
) -> tuple[str, str, str]:
    """(user, password, database) of a session, as `pg_connect` describes them."""
    if (superuser or svc is None and credentials is None) and not ws.is_local:
        raise UserError(
            f"The suite never connects as the superuser to target '{ws.target}': "
            f"roles, databases and resets are not managed remotely."
        )
    if credentials is not None:
        return (
            credentials.user,
            credentials.password,
            dbname or (svc.db if svc is not None else "postgres"),
        )
    if superuser or svc is None:
        return ws.registry.postgres.superuser, superuser_password(ws), dbname or "postgres"
    creds = service_credentials(ws, svc)
    return creds.user, creds.password, dbname or svc.db


def pg_wire(
    ws: Workspace,
    sql: str | list[str],
    svc: Service | None = None,
    dbname: str | None = None,
    superuser: bool = False,
    timeout: float = 5.0,
    credentials: Credentials | None = None,
) -> list[list[tuple[str | None, ...]]]:
    """Each statement's rows (text values), in one short session logged in as `pg_connect`
    would (`wire.pg_query`: no psycopg). For checks; raises wire.WireError or OSError."""
    with pg_session(ws, svc, dbname, superuser, timeout, credentials) as session:
        return [session.query(s) for s in ([sql] if isinstance(sql, str) else sql)]


def pg_session(
    ws: Workspace,
    svc: Service | None = None,
    dbname: str | None = None,
    superuser: bool = False,
    timeout: float = 5.0,
    credentials: Credentials | None = None,
) -> Any:
    """A short session (`wire.pg_session`: `.query(sql)` -> rows) logged in as `pg_connect`
    would."""
    from lomash_tasks import wire

    pg = ws.registry.postgres
    user, password, dbname = _pg_login(ws, svc, dbname, superuser, credentials)
    return wire.pg_session(pg.host, pg.port, user, password, dbname, timeout=timeout)


def redis_wire(ws: Workspace, commands: list[list[str]], timeout: float = 2.0) -> list[Any]:
    """AUTH with the workspace's password, then the commands: every reply, AUTH's first
    (`wire.resp`)."""
    from lomash_tasks import wire

    rd = ws.registry.redis
    return wire.resp(rd.host, rd.port, [["AUTH", redis_password(ws)], *commands], timeout)


def aws_wire(
    ws: Workspace, service: str, timeout: float = 5.0, **request: Any
) -> tuple[int, bytes]:
    """One SigV4-signed request to the local AWS endpoint with the workspace's keys
    (`wire.aws_call`): status and body."""
    from lomash_tasks import wire

    aws = ws.registry.aws
    return wire.aws_call(
        aws.url,
        aws.region,
        _root_value(ws, "AWS_ACCESS_KEY_ID") or "test",
        _root_value(ws, "AWS_SECRET_ACCESS_KEY") or "test",
        service,
        timeout=timeout,
        **request,
    )


def redis_client(ws: Workspace, index: int = 0, timeout: float = 5.0) -> Any:
    import redis

    rd = ws.registry.redis
    return redis.Redis(
        host=rd.host,
        port=rd.port,
        db=index,
        password=redis_password(ws),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
    )


def aws_client(ws: Workspace, service: str, timeout: float = 10.0) -> Any:
    """A boto3 client for the local AWS endpoint (path-style S3, test credentials)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - a core dependency
        raise UserError("boto3 is not installed: run `pip install -e .`.") from None
    aws = ws.registry.aws
    key_id = _root_value(ws, "AWS_ACCESS_KEY_ID") or "test"
    secret = _root_value(ws, "AWS_SECRET_ACCESS_KEY") or "test"
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    return boto3.client(
        service,
        endpoint_url=aws.url,
        region_name=aws.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def smtp_client(ws: Workspace, timeout: float = 5.0) -> Any:
    import smtplib

    smtp = ws.registry.smtp
    return smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)


def target_client(aws: Any, service: str, timeout: float = 20.0) -> Any:
    """A boto3 client for a target's AWS account (`remote.targets.Aws`: region, profile and,
    for a stand-in endpoint, endpoint_url). Credentials come from boto3's own chain (the
    profile, an OIDC role's environment, an instance role): never from the workspace's files."""
    try:
        import boto3
        import botocore.exceptions
        from botocore.config import Config
    except ImportError:  # pragma: no cover - a core dependency
        raise UserError("boto3 is not installed: run `pip install -e .`.") from None
    try:
        session = boto3.Session(profile_name=aws.profile or None, region_name=aws.region)
    except botocore.exceptions.ProfileNotFound:
        raise UserError(
            f"AWS profile '{aws.profile}' is not configured on this machine: add it "
            f"(`aws configure sso --profile {aws.profile}`) or change the target's "
            f"aws.profile."
        ) from None
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return session.client(service, endpoint_url=aws.endpoint_url or None, config=config)
