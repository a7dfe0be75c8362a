"""Migrations where production runs them: one ECS one-off task per service.

For each service: `run_task` on the service's own task definition (launch type FARGATE, the
target's subnets and security groups), its container's command overridden to
`prisma migrate deploy`; then every task is watched until it stops or the deadline passes
(`describe_tasks`), its CloudWatch log lines are printed as they come (the task definition's
awslogs group, stream `<prefix>/<container>/<task id>`), and each result names the container's
exit code and the task's stopCode / stoppedReason. Past the deadline a task is stopped
(`stop_task`), and the result says so. On Ctrl-C the tasks are left to finish (a migration cut
in half helps nobody) and their state is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from lomash_tasks import connections
from lomash_tasks.console import FAIL, OK, Report
from lomash_tasks.errors import UserError
from lomash_tasks.registry import Service
from lomash_tasks.remote.awscalls import calls, code_of
from lomash_tasks.remote.targets import Target

STARTED_BY = "lomash-tasks"


@dataclass
class TaskResult:
    service: str
    task_definition: str = ""
    container: str = ""
    task_arn: str = ""
    last_status: str = ""
    exit_code: int | None = None
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    stop_code: str = ""
    stopped_reason: str = ""
    error: str | None = None
    timed_out: bool = False
    log_lines: int = 0
    seconds: float = 0.0
    # internal
    log_group: str = ""
    log_stream: str = ""
    token: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]

    @property
    def result_text(self) -> str:
        return f"{FAIL} {self.error}" if self.error else f"{OK} exit code 0"

    @property
    def exit_code_text(self) -> str | int:
        """The container's exit code; with sidecars, every container's (`app: 0, envoy: -`)."""
        if len(self.exit_codes) > 1:
            return ", ".join(
                f"{name}: {'-' if code is None else code}" for name, code in self.exit_codes.items()
            )
        return "" if self.exit_code is None else self.exit_code

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("token", "log_group", "log_stream"):
            data.pop(key)
        data["ok"] = self.ok
        return data


@dataclass
class TaskReport(Report):
    """The migration tasks of one `db.migrate --target ... --via ecs`, as a table and as the
    GitHub step summary's markdown."""

    tasks: list[TaskResult]
    title: str

    columns = ("service", "task", "exit code", "stopCode", "stoppedReason", "log lines", "result")

    def heading(self) -> str:
        return self.title

    def rows(self) -> list[list[Any]]:
        return [
            [
                t.service,
                t.task_id or "-",
                t.exit_code_text,
                t.stop_code or "-",
                t.stopped_reason or "-",
                t.log_lines,
                t.result_text,
            ]
            for t in self.tasks
        ]

    def data(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.tasks]

    def markdown(self) -> str:
        return (
            f"### {self.title}\n\n| service | task | exit code | stopCode | result |\n"
            f"|---|---|---|---|---|\n"
            + "\n".join(
                f"| {t.service} | {t.task_id or '-'} | {t.exit_code} | "
                f"{t.stop_code or '-'} | {t.error or 'ok'} |"
                for t in self.tasks
            )
        )


def _log_settings(definition: dict[str, Any], container: str) -> tuple[dict[str, Any], str, str]:
    containers = definition.get("containerDefinitions") or []
    found = next((c for c in containers if c.get("name") == container), None)
    if found is None:
        names = ", ".join(c.get("name", "?") for c in containers) or "none"
        raise LookupError(
            f"task definition {definition.get('family', '?')} has no container "
            f"'{container}' (it has: {names})"
        )
    logging = found.get("logConfiguration") or {}
    options = logging.get("options") or {}
    if logging.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return found, "", ""
    return found, options["awslogs-group"], options.get("awslogs-stream-prefix", "")


def start(target: Target, svc: Service, ecs: Any) -> TaskResult:
    """run_task for one service; a result with `error` when ECS did not start it."""
    import botocore.exceptions as bx

    spec = target.ecs_service(svc)
    cfg = target.ecs
    assert cfg is not None  # ecs_service() refuses a target without an `ecs:` section
    result = TaskResult(svc.name, spec.task_definition, spec.container)
    try:
        with calls(target, f"describe task definition {spec.task_definition}"):
            definition = ecs.describe_task_definition(taskDefinition=spec.task_definition)[
                "taskDefinition"
            ]
        _, result.log_group, prefix = _log_settings(definition, spec.container)
        result.task_definition = definition.get("taskDefinitionArn", spec.task_definition)
        with calls(target, f"run a task on {spec.task_definition}"):
            answer = ecs.run_task(
                cluster=cfg.cluster,
                taskDefinition=spec.task_definition,
                count=1,
                launchType="FARGATE",
                startedBy=STARTED_BY,
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": list(cfg.subnets),
                        "securityGroups": list(cfg.security_groups),
                        "assignPublicIp": "ENABLED" if cfg.assign_public_ip else "DISABLED",
                    }
                },
                overrides={
                    "containerOverrides": [{"name": spec.container, "command": list(spec.command)}]
                },
            )
    except LookupError as exc:
        result.error = str(exc)
        return result
    except bx.ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        result.error = f"ECS did not start the task ({code_of(exc)}: {message})"
        return result
    failures = answer.get("failures") or []
    tasks = answer.get("tasks") or []
    if failures or not tasks:
        reasons = "; ".join(
            f"{f.get('reason', '?')}" + (f" ({f['detail']})" if f.get("detail") else "")
            for f in failures
        )
        result.error = f"ECS did not start the task: {reasons or 'no task in its answer'}"
        return result
    task = tasks[0]
    result.task_arn = task["taskArn"]
    result.last_status = task.get("lastStatus", "")
    if result.log_group:
        result.log_stream = (
            f"{prefix}/{spec.container}/{result.task_id}"
            if prefix
            else f"{spec.container}/{result.task_id}"
        )
    return result


def _drain_logs(
    target: Target, logs: Any, result: TaskResult, on_line: Callable[[str, str], None]
) -> None:
    import botocore.exceptions as bx

    if not result.log_stream:
        return
    while True:
        kwargs: dict[str, Any] = {
            "logGroupName": result.log_group,
            "logStreamName": result.log_stream,
            "startFromHead": True,
        }
        if result.token:
            kwargs["nextToken"] = result.token
        try:
            with calls(target, f"read log stream {result.log_stream}"):
                page = logs.get_log_events(**kwargs)
        except bx.ClientError as exc:
            if code_of(exc) == "ResourceNotFoundException":
                return  # the task has not written its first line yet
            raise
        for event in page.get("events") or []:
            result.log_lines += 1
            on_line(result.service, str(event.get("message", "")).rstrip("\n"))
        token = page.get("nextForwardToken")
        if not token or token == result.token:
            result.token = token
            return
        result.token = token


def _finish(result: TaskResult, task: dict[str, Any]) -> None:
    result.last_status = task.get("lastStatus", "")
    result.stop_code = task.get("stopCode", "") or ""
    result.stopped_reason = task.get("stoppedReason", "") or ""
    result.exit_codes = {c.get("name", "?"): c.get("exitCode") for c in task.get("containers", [])}
    result.exit_code = result.exit_codes.get(result.container)
    if result.timed_out:
        return
    if result.exit_code == 0:
        return
    why = f"{result.stop_code}: {result.stopped_reason}".strip(": ")
    if result.exit_code is None:
        reasons = [c.get("reason") for c in task.get("containers", []) if c.get("reason")]
        result.error = (
            f"the task stopped without an exit code ({why or 'no reason given'}"
            + (f"; {'; '.join(reasons)}" if reasons else "")
            + ")"
        )
    else:
        result.error = f"exit code {result.exit_code} ({why or 'no stop reason'})"


def run(
    target: Target,
    services: Iterable[Service],
    on_line: Callable[[str, str], None],
    timeout: float | None = None,
    log: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TaskResult]:
    """Start one task per service, watch them all, return each one's result."""
    if target.ecs is None:
        raise UserError(
            f"Target '{target.name}' has no ECS settings (targets.{target.name}.ecs):"
            f" use `--via tunnel` to migrate it from here."
        )
    chosen = [s for s in services if s.has_database]
    for svc in chosen:
        target.ecs_service(svc)  # every service named before anything starts
    cfg = target.ecs
    limit = float(timeout or cfg.timeout)
    ecs = connections.target_client(target.aws, "ecs")
    logs = connections.target_client(target.aws, "logs")
    began = time.monotonic()
    deadline = began + limit
    results: list[TaskResult] = []
    running: dict[str, TaskResult] = {}
    stopping: set[str] = set()
    try:
        for svc in chosen:  # inside the try: Ctrl-C between two starts still reports the first
            r = start(target, svc, ecs)
            results.append(r)
            if r.ok and r.task_arn:
                running[r.task_arn] = r
                if log:
                    log(
                        f"{r.service}: task {r.task_id} started on {cfg.cluster} "
                        f"({r.task_definition.rsplit('/', 1)[-1]}, container {r.container})."
                    )
        while running:
            with calls(target, "describe the migration tasks"):
                answer = ecs.describe_tasks(cluster=cfg.cluster, tasks=list(running))
            for task in answer.get("tasks") or []:
                result = running.get(task["taskArn"])
                if result is None:
                    continue
                result.last_status = task.get("lastStatus", "")
                _drain_logs(target, logs, result, on_line)
                if result.last_status == "STOPPED":
                    _finish(result, task)
                    result.seconds = time.monotonic() - began
                    del running[task["taskArn"]]
            for failure in answer.get("failures") or []:
                result = running.pop(failure.get("arn", ""), None)
                if result is not None:
                    result.error = f"ECS lost track of the task: {failure.get('reason', '?')}"
            if not running:
                break
            if time.monotonic() >= deadline:
                for arn, result in running.items():
                    if arn in stopping:
                        continue
                    stopping.add(arn)
                    result.timed_out = True
                    result.error = (
                        f"ran past the deadline of {limit:.0f} s: stopped it "
                        f"(stop_task; it was {result.last_status or 'running'})"
                    )
                    if log:
                        log(
                            f"{result.service}: task {result.task_id} ran past the deadline of "
                            f"{limit:.0f} s: stopping it."
                        )
                    with calls(target, f"stop task {result.task_id}"):
                        ecs.stop_task(
                            cluster=cfg.cluster,
                            task=arn,
                            reason=f"{STARTED_BY}: deadline of {limit:.0f} s passed",
                        )
                if time.monotonic() >= deadline + 60:
                    for result in running.values():
                        result.error = f"{result.error or ''}; it had not stopped 60 s later"
                    break
            sleep(cfg.poll)
    except KeyboardInterrupt:
        fates = []
        for arn, result in running.items():
            try:
                with calls(target, "describe the migration tasks"):
                    task = (
                        ecs.describe_tasks(cluster=cfg.cluster, tasks=[arn]).get("tasks") or [{}]
                    )[0]
                result.last_status = task.get("lastStatus", result.last_status)
            except Exception:
                pass
            fates.append(
                f"{result.service}: task {result.task_id} is {result.last_status or '?'}"
                f" on {cfg.cluster} (not stopped; follow it with `aws ecs describe-tasks"
                f" --cluster {cfg.cluster} --tasks {arn}`)"
            )
        done = [
            f"{r.service}: {'exit code 0' if r.ok else r.error}"
            for r in results
            if r.task_arn not in running
        ]
        raise UserError(
            "Interrupted while the migration tasks ran. " + "; ".join(fates + done) + ".", code=130
        ) from None
    return results
