"""Targets: the places beyond this machine the tasks can act on (`--target NAME`).

They live in config under `targets:` (see the README, "Staging and production"), one mapping per
target, and are turned into frozen dataclasses here, validated like the registry: a mistake is
one error naming the key; an unknown target lists the known ones. `local` is not configured: it
is the default, the workspace's own stack, exactly as without `--target`.

    targets:
      staging:
        aws: {region: eu-west-2, profile: lomash-staging}
        postgres:
          host: lomash-staging.abc123.eu-west-2.rds.amazonaws.com
          port: 5432
          databases: {auth: lomash_auth}          # per service; default: the registry's
        bastion: {host: bastion.example, user: ec2-user, key_file: ~/.ssh/staging.pem,
                  known_hosts: ~/.ssh/known_hosts}
        secrets: {prefix: lomash/staging}          # secret <prefix>/<alias>, key DATABASE_URL
        backup: pg_dump                            # or snapshot: before db.migrate --target
        ecs:
          cluster: lomash-staging
          subnets: [subnet-0a1b2c]
          security_groups: [sg-0d4e5f]
          services:
            auth: {task_definition: lomash-staging-auth, container: auth-service}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lomash_tasks.errors import UserError, suggest
from lomash_tasks.registry import CONFIG_FILE, ConfigReader, Registry, Service

LOCAL = "local"
DEFAULT_COMMAND = ("npx", "prisma", "migrate", "deploy")
VIAS = ("direct", "bastion")


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way: the bastion, or a jump host in front of it."""

    host: str
    port: int = 22
    user: str = ""
    key_file: str = ""
    known_hosts: str = "~/.ssh/known_hosts"
    timeout: float = 10.0
    jump: Hop | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int = 5432
    databases: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Aws:
    region: str
    profile: str = ""
    endpoint_url: str = ""  # a stand-in endpoint (tests, LocalStack); "" = AWS itself


@dataclass(frozen=True)
class EcsService:
    task_definition: str
    container: str
    command: tuple[str, ...] = DEFAULT_COMMAND


@dataclass(frozen=True)
class Ecs:
    cluster: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    services: Mapping[str, EcsService] = field(default_factory=dict, hash=False, compare=False)
    assign_public_ip: bool = False
    timeout: float = 900.0  # seconds a migration task may run before it is stopped
    poll: float = 2.0  # seconds between describe_tasks calls


BACKUP_KINDS = ("pg_dump", "snapshot")


@dataclass(frozen=True)
class Backup:
    """What `db.migrate --target` takes before it migrates (`backup:` of the target)."""

    kind: str  # pg_dump (through the tunnel, to .lomash/backups/) | snapshot (RDS)
    instance: str = ""  # snapshot: the RDS instance, or ...
    cluster: str = ""  # ... the Aurora cluster
    timeout: float = 1800.0  # seconds a dump (per service) or the snapshot may take


@dataclass(frozen=True)
class Target:
    name: str
    aws: Aws
    postgres: Postgres
    secret_prefix: str
    via: str = "direct"  # direct | bastion
    bastion: Hop | None = None
    ecs: Ecs | None = None
    production: bool = False
    backup: Backup | None = None

    def database(self, svc: Service) -> str:
        db = self.postgres.databases
        return db.get(svc.alias) or db.get(svc.name) or svc.database or ""

    def secret_name(self, svc: Service) -> str:
        return f"{self.secret_prefix.rstrip('/')}/{svc.alias}"

    def ecs_service(self, svc: Service) -> EcsService:
        if self.ecs is None:
            raise UserError(
                f"Target '{self.name}' has no ECS settings (targets.{self.name}.ecs): "
                f"migrate it through the tunnel with `--via tunnel`, or add its "
                f"cluster, network and task definitions."
            )
        found = self.ecs.services.get(svc.alias) or self.ecs.services.get(svc.name)
        if found is None:
            raise UserError(
                f"Target '{self.name}' names no task definition for {svc.name}: add "
                f"targets.{self.name}.ecs.services.{svc.alias} "
                f"(task_definition, container), or use `--via tunnel`."
            )
        return found


# -- loading ------------------------------------------------------------------------------------
def names(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("targets") or {}
    return (
        [LOCAL] + [str(n) for n in raw if str(n) != LOCAL] if isinstance(raw, Mapping) else [LOCAL]
    )


def load(
    config: Mapping[str, Any], name: str | None, registry: Registry, source: str = CONFIG_FILE
) -> Target | None:
    """The target called `name` (None for `local` or no name); every target is validated."""
    wanted = (name or LOCAL).strip()
    raw = config.get("targets") or {}
    reader = ConfigReader(source)
    if not isinstance(raw, Mapping):
        reader.fail("targets", "must be a mapping of target name to its settings")
    loaded = {str(n): _target(reader, str(n), raw[n], registry) for n in raw if str(n) != LOCAL}
    if wanted == LOCAL:
        return None
    if wanted not in loaded:
        known = [LOCAL] + sorted(loaded)
        raise UserError(
            f"Unknown target '{wanted}'.{suggest(wanted, known)} Known targets: "
            f"{', '.join(known)} (configured under 'targets' in {source})."
        )
    return loaded[wanted]


TARGET_KEYS = {"aws", "postgres", "via", "bastion", "secrets", "ecs", "production", "backup"}


def _target(reader: ConfigReader, name: str, raw: Any, registry: Registry) -> Target:
    at = f"targets.{name}"
    reader.known(raw, at, sorted(TARGET_KEYS))
    aw = reader.mapping(raw, "aws", at)
    reader.known(aw, f"{at}.aws", {"region", "profile", "endpoint_url"})
    aws = Aws(
        reader.text(aw, "region", f"{at}.aws"),
        reader.text(aw, "profile", f"{at}.aws", required=False) or "",
        reader.text(aw, "endpoint_url", f"{at}.aws", required=False) or "",
    )
    pg = reader.mapping(raw, "postgres", at)
    reader.known(pg, f"{at}.postgres", {"host", "port", "databases"})
    databases = pg.get("databases") or {}
    reader.known(
        databases,
        f"{at}.postgres.databases",
        {s.alias for s in registry.with_database} | {s.name for s in registry.with_database},
    )
    postgres = Postgres(
        reader.host(pg, "host", f"{at}.postgres"),
        reader.port(pg, "port", f"{at}.postgres") if pg.get("port") is not None else 5432,
        {str(k): reader.text(databases, k, f"{at}.postgres.databases") for k in databases},
    )
    sec = reader.mapping(raw, "secrets", at)
    reader.known(sec, f"{at}.secrets", {"prefix"})
    prefix = reader.text(sec, "prefix", f"{at}.secrets")
    bastion = None
    if raw.get("bastion") is not None:
        bastion = _hop(reader, raw["bastion"], f"{at}.bastion")
    via = (
        reader.choice(raw, "via", at, VIAS)
        if raw.get("via") is not None
        else ("bastion" if bastion else "direct")
    )
    if via == "bastion" and bastion is None:
        reader.fail(f"{at}.bastion", "is missing (via: bastion needs host, user and key_file)")
    ecs = _ecs(reader, raw["ecs"], f"{at}.ecs", registry) if raw.get("ecs") is not None else None
    backup = (
        _backup(reader, raw["backup"], f"{at}.backup", postgres)
        if raw.get("backup") is not None
        else None
    )
    return Target(
        name,
        aws,
        postgres,
        prefix,
        via,
        bastion if via == "bastion" else None,
        ecs,
        reader.boolean(raw, "production", at, name == "production"),
        backup,
    )


_RDS_HOST = re.compile(
    r"^(?P<id>[a-z][a-z0-9-]*)\.(?P<cluster>cluster-(?:ro-)?)?[a-z0-9]+\."
    r"[a-z0-9-]+\.rds\.amazonaws\.com$"
)


def _backup(reader: ConfigReader, raw: Any, at: str, postgres: Postgres) -> Backup:
    """`backup: pg_dump`, `backup: snapshot`, or a mapping (kind, instance | cluster,
    timeout). A snapshot's instance or cluster defaults to the one the RDS host name names."""
    if isinstance(raw, str):
        raw = {"kind": raw}
    reader.known(raw, at, {"kind", "instance", "cluster", "timeout"})
    kind = reader.text(raw, "kind", at)
    if kind not in BACKUP_KINDS:
        reader.fail(
            f"{at}.kind" if "kind" in raw and len(raw) > 1 else at,
            f"must be pg_dump (a dump of each database through the tunnel) or snapshot "
            f"(an RDS snapshot), not {kind!r}.{suggest(kind, BACKUP_KINDS)}",
        )
    instance = reader.text(raw, "instance", at, required=False) or ""
    cluster = reader.text(raw, "cluster", at, required=False) or ""
    if kind == "pg_dump" and (instance or cluster):
        reader.fail(at, "names an RDS instance or cluster, which only `kind: snapshot` uses")
    if instance and cluster:
        reader.fail(at, "names both an instance and a cluster: a snapshot is of one of them")
    if kind == "snapshot" and not (instance or cluster):
        found = _RDS_HOST.match(postgres.host.lower())
        if found is None:
            reader.fail(
                f"{at}.instance",
                f"is missing: the RDS instance (or `cluster`) to "
                f"snapshot cannot be told from the host "
                f"{postgres.host}",
            )
        elif found.group("cluster"):
            cluster = found.group("id")
        else:
            instance = found.group("id")
    return Backup(kind, instance, cluster, reader.seconds(raw, "timeout", at, 1800.0))


def _hop(reader: ConfigReader, raw: Any, at: str) -> Hop:
    reader.known(raw, at, {"host", "port", "user", "key_file", "known_hosts", "timeout", "jump"})
    jump = _hop(reader, raw["jump"], f"{at}.jump") if raw.get("jump") is not None else None
    return Hop(
        host=reader.host(raw, "host", at),
        port=reader.port(raw, "port", at) if raw.get("port") is not None else 22,
        user=reader.text(raw, "user", at),
        key_file=reader.text(raw, "key_file", at),
        known_hosts=reader.text(raw, "known_hosts", at, required=False) or "~/.ssh/known_hosts",
        timeout=reader.seconds(raw, "timeout", at, 10.0),
        jump=jump,
    )


def _command(
    reader: ConfigReader, raw: Mapping[str, Any], at: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = raw.get("command")
    if value is None:
        return default
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(v, str) and v for v in value)
    ):
        reader.fail(
            f"{at}.command",
            f"must be a non-empty list of arguments (no shell string), not {value!r}",
        )
    return tuple(value)


def _ecs(reader: ConfigReader, raw: Any, at: str, registry: Registry) -> Ecs:
    reader.known(
        raw,
        at,
        {
            "cluster",
            "subnets",
            "security_groups",
            "services",
            "assign_public_ip",
            "timeout",
            "poll",
            "command",
        },
    )
    command = _command(reader, raw, at, DEFAULT_COMMAND)
    services_raw = reader.mapping(raw, "services", at)
    valid = {s.alias for s in registry.with_database} | {s.name for s in registry.with_database}
    services: dict[str, EcsService] = {}
    for key in services_raw:
        where = f"{at}.services.{key}"
        if key not in valid:
            reader.fail(where, f"is not a service with a database.{suggest(str(key), valid)}")
        svc_raw = reader.mapping(services_raw, key, f"{at}.services")
        reader.known(svc_raw, where, {"task_definition", "container", "command"})
        svc = registry.service(key)
        services[svc.alias] = EcsService(
            reader.text(svc_raw, "task_definition", where),
            reader.text(svc_raw, "container", where),
            _command(reader, svc_raw, where, command),
        )
    subnets = reader.names(raw, "subnets", at)
    groups = reader.names(raw, "security_groups", at)
    if not subnets:
        reader.fail(f"{at}.subnets", "needs at least one subnet")
    if not groups:
        reader.fail(f"{at}.security_groups", "needs at least one security group")
    return Ecs(
        reader.text(raw, "cluster", at),
        subnets,
        groups,
        services,
        reader.boolean(raw, "assign_public_ip", at, False),
        reader.seconds(raw, "timeout", at, 900.0),
        reader.seconds(raw, "poll", at, 2.0),
    )
