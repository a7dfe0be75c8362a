"""The work behind `--target NAME`: plain functions the db and aws tasks call.

    status(ws, target, names)                    -> [MigrationState]  through the tunnel
    migrate(ws, target, names, via=..., ...)     -> RemoteMigrate      ECS tasks or the tunnel,
                                                                       after the target's backup
    resolve(ws, target, svc, applied=...|rolled_back=...)              through the tunnel
    database_url(ws, target, svc)                -> str                (masked from then on)
    psql(ws, target, svc, bindir)                -> exit code
    aws_status(ws, target)                       -> TargetAwsStatus

Every call is written to the audit log (who, what, when, result).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from lomash_tasks import aws as aws_ops
from lomash_tasks import connections
from lomash_tasks.console import Console, Report
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.remote import audit, backup, credentials, ecs, guard, session
from lomash_tasks.remote.awscalls import calls, code_of
from lomash_tasks.remote.targets import Target
from lomash_tasks.workspace import Workspace

VIAS = ("auto", "ecs", "tunnel")


def reachable(rws: Workspace, target: Target, timeout: float = 5.0) -> None:
    """The target's database answers from here: the tunnel's end (whose far side the tunnel
    has checked), or the server itself for `via: direct`."""
    from lomash_tasks.stack.ports import unreachable

    pg = rws.registry.postgres
    reason = unreachable(pg.host, pg.port, timeout)
    if reason is None:
        return
    how = "through the tunnel" if target.via == "bastion" else "directly (via: direct)"
    raise UserError(
        f"Target '{target.name}': its database {target.postgres.address} does not "
        f"answer {how} ({reason}). Check the target's postgres host and port, and "
        f"the network from here (VPN, security groups), or reach it through a "
        f"bastion."
    )


def _services(ws: Workspace, names: Iterable[str] | None) -> list[Service]:
    from lomash_tasks.db.migrate import select

    return select(ws, names)[0]


def status(
    ws: Workspace, target: Target, names: Iterable[str] | None = None, out: Console | None = None
) -> list[Any]:
    from lomash_tasks.db import migrate as migrations

    services = _services(ws, names)
    with audit.action(ws, target.name, "db.status", services=[s.alias for s in services]) as e:
        with session.opened(ws, target, services, log=out.info if out else None) as rws:
            reachable(rws, target)
            states = migrations.status(rws, [s.name for s in services])
        e["result"] = (
            "done"
            if not any(s.error for s in states)
            else "failed: " + "; ".join(f"{s.service}: {s.error}" for s in states if s.error)
        )
    return states


@dataclass
class RemoteMigrate:
    via: str
    tasks: list[ecs.TaskResult] = field(default_factory=list)
    report: Any = None  # MigrateReport for --via tunnel
    backup: Any = None  # backup.BackupResult, when the target takes one

    @property
    def ok(self) -> bool:
        if self.report is not None:
            return bool(self.report.ok)
        return all(t.ok for t in self.tasks)


def migrate(
    ws: Workspace,
    target: Target,
    names: Iterable[str] | None = None,
    via: str = "auto",
    yes: bool = False,
    runner: str = "auto",
    jobs: int = 0,
    timeout: float | None = None,
    retry_failed: bool = False,
    out: Console | None = None,
    tunnel_timeout: float = 300.0,
    bindir: str = "",
) -> RemoteMigrate:
    """`timeout` (a --timeout flag) bounds each ECS task (default: the target's ecs.timeout)
    or each service's run through the tunnel (default: `tunnel_timeout`, i.e. db.timeout)."""
    from lomash_tasks import console as _console
    from lomash_tasks.db import migrate as migrations

    out = out or _console.get()
    via = (via or "auto").strip().lower()
    if via not in VIAS:
        raise UserError(
            f"Unknown --via '{via}': use ecs (one-off ECS tasks), tunnel (this "
            f"machine's runners through the tunnel) or auto (ECS when the target "
            f"has it)."
        )
    if via == "auto":
        via = "ecs" if target.ecs is not None else "tunnel"
    if via == "ecs" and retry_failed:
        raise UserError(
            "--retry-failed marks rows in _prisma_migrations from this machine: use "
            "it with `--via tunnel`."
        )
    services = _services(ws, names)
    if via == "ecs":
        for svc in services:
            target.ecs_service(svc)
    result = RemoteMigrate(via)
    with audit.action(
        ws, target.name, "db.migrate", via=via, services=[s.alias for s in services]
    ) as entry:
        guard.confirm(
            target,
            f"db.migrate --target {target.name} ({', '.join(s.alias for s in services)})",
            yes,
            out,
        )
        if target.backup is not None:  # a failed backup raises: nothing is migrated
            entry["backup"] = {"kind": target.backup.kind, "result": "failed"}
            taken = backup.take(ws, target, services, out=out, bindir=bindir)
            entry["backup"] = taken.audit(ws)
            result.backup = taken
            for line in taken.lines(ws):
                out.ok(line)
        if via == "ecs":
            result.tasks = ecs.run(
                target,
                services,
                lambda svc, line: out.print(f"{svc} | {line}"),
                timeout=timeout,
                log=out.info,
            )
            entry["tasks"] = [
                {
                    "service": t.service,
                    "task": t.task_arn,
                    "exit_code": t.exit_code,
                    "stop_code": t.stop_code,
                    "error": t.error,
                }
                for t in result.tasks
            ]
        else:
            with session.opened(ws, target, services, log=out.info) as rws:
                reachable(rws, target)
                result.report = migrations.migrate(
                    rws,
                    [s.name for s in services],
                    runner=runner,
                    jobs=jobs,
                    timeout=timeout or tunnel_timeout,
                    retry_failed=retry_failed,
                    out=out,
                )
            entry["applied"] = result.report.applied_count
        if not result.ok:
            entry["result"] = "failed"
    return result


def resolve(
    ws: Workspace,
    target: Target,
    svc: Service,
    applied: str | None = None,
    rolled_back: str | None = None,
    yes: bool = False,
    timeout: float = 30.0,
    out: Console | None = None,
) -> Any:
    """`db.resolve` on the target's database, through its tunnel: what `prisma migrate resolve`
    does (the rollback workflow's database-only path), guarded and audited."""
    from lomash_tasks import console as _console
    from lomash_tasks.db.migrate.resolve import resolve as resolve_migration

    out = out or _console.get()
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database: no migrations to resolve.")
    what = f"--applied {applied}" if applied else f"--rolled-back {rolled_back}"
    with audit.action(
        ws,
        target.name,
        "db.resolve",
        services=[svc.alias],
        migration=applied or rolled_back,
        action="applied" if applied else "rolled-back",
    ) as entry:
        guard.confirm(
            target, f"db.resolve --target {target.name} --service {svc.alias} {what}", yes, out
        )
        with session.opened(ws, target, [svc], log=out.info) as rws:
            reachable(rws, target)
            result = resolve_migration(
                rws,
                rws.registry.service(svc.name),
                applied=applied,
                rolled_back=rolled_back,
                timeout=timeout,
            )
        entry["rows"] = result.rolled_back
    return result


def database_url(ws: Workspace, target: Target, svc: Service) -> str:
    if not svc.has_database:
        raise UserError(f"{svc.name} has no database, so it has no DATABASE_URL.")
    with audit.action(ws, target.name, "db.url", services=[svc.alias]):
        return credentials.database_url(target, svc)


def psql(ws: Workspace, target: Target, svc: Service, bindir: str = "") -> int:
    from lomash_tasks.db import ops as database

    if not svc.has_database:
        raise UserError(f"{svc.name} has no database to open psql on.")
    with audit.action(ws, target.name, "db.psql", services=[svc.alias]) as entry:
        with session.opened(ws, target, [svc]) as rws:
            code = database.run_psql(rws, rws.registry.service(svc.name), bindir=bindir)
        entry["result"] = f"psql exited {code}"
    return code


@dataclass
class Resource:
    """A secret, the ECS cluster or a task definition the target needs, and whether it has it."""

    name: str
    service: str  # the service it belongs to ("cluster" for the cluster)
    exists: bool = False
    detail: str = ""


@dataclass
class TargetAwsStatus(Report):
    """`aws.status --target`: what the target's account has of what the suite needs."""

    target: str
    region: str
    secrets: list[Resource] = field(default_factory=list)
    ecs: list[Resource] = field(default_factory=list)

    columns = ("kind", "name", "exists", "service", "detail")

    def kinds(self) -> dict[str, list[Resource]]:
        return {"secrets": self.secrets, "ecs": self.ecs}

    def heading(self) -> str:
        return f"target {self.target} ({self.region})"

    def rows(self) -> list[list[Any]]:
        return [
            [kind, i.name, "yes" if i.exists else "no", i.service, i.detail]
            for kind, items in self.kinds().items()
            for i in items
        ]

    def data(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: [asdict(i) for i in items] for kind, items in self.kinds().items()}

    def failure(self) -> str | None:
        missing = sum(not i.exists for items in self.kinds().values() for i in items)
        if not missing:
            return None
        return (
            f"aws.status: {missing} missing on {self.target} (see the table): see "
            f"the README, 'Staging and production'."
        )


def aws_status(ws: Workspace, target: Target) -> TargetAwsStatus:
    """What the target's account has of what the suite needs: each service's secret (described,
    never read), the ECS cluster, each task definition with its container and log settings."""
    import botocore.exceptions as bx

    found = TargetAwsStatus(target.name, target.aws.region)
    with audit.action(ws, target.name, "aws.status"):
        sm = connections.target_client(target.aws, "secretsmanager")
        for svc in ws.registry.with_database:
            name = target.secret_name(svc)
            with calls(target, f"describe secret {name}"):
                exists = aws_ops.secret_exists(sm, name)
            found.secrets.append(Resource(name, svc.name, exists))
        if target.ecs is None:
            return found
        client = connections.target_client(target.aws, "ecs")
        with calls(target, f"describe cluster {target.ecs.cluster}"):
            clusters = client.describe_clusters(clusters=[target.ecs.cluster]).get("clusters", [])
        state = clusters[0].get("status", "?") if clusters else "missing"
        found.ecs.append(Resource(target.ecs.cluster, "cluster", state == "ACTIVE", state))
        for svc in ws.registry.with_database:
            spec = target.ecs.services.get(svc.alias)
            if spec is None:
                continue
            row = Resource(spec.task_definition, svc.name)
            try:
                with calls(target, f"describe task definition {spec.task_definition}"):
                    definition = client.describe_task_definition(
                        taskDefinition=spec.task_definition
                    )["taskDefinition"]
                row.exists = True
                try:
                    _, group, _ = ecs._log_settings(definition, spec.container)
                    row.detail = f"container {spec.container}, logs " + (group or "NOT awslogs")
                except LookupError as exc:
                    row.detail = str(exc)
            except bx.ClientError as exc:
                row.detail = code_of(exc)
            found.ecs.append(row)
    return found
