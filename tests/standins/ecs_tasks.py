"""A stand-in for the one part of ECS that cannot run here: a Fargate task in a VPC.

moto's server fails `run_task` with an awsvpc network (HTTP 500) and never stops a task on its
own, so this small HTTP endpoint answers RunTask, DescribeTasks and StopTask itself and forwards
every other ECS call (RegisterTaskDefinition, DescribeTaskDefinition, CreateCluster, ...) to
moto unchanged. What it does for a task is what ECS does, with real peers:

- checks the request as ECS would (FARGATE needs an awsvpcConfiguration with subnets and
  security groups; the task definition and the overridden container must exist in moto);
- runs the container's command (the override, else the definition's) as a local process in the
  folder given for that container, with the definition's `environment` and its `secrets`
  resolved from moto's Secrets Manager (`valueFrom` ARN[:json-key::]);
- writes each output line to moto's CloudWatch Logs (awslogs group, stream
  `<prefix>/<container>/<task id>`), then reports STOPPED with the exit code,
  stopCode `EssentialContainerExited`; `stop_task` ends the process (stopCode `UserInitiated`).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PREFIX = "AmazonEC2ContainerServiceV20141113."
ACCOUNT = "123456789012"


class Task:
    def __init__(self, arn, cluster, definition, request):
        self.arn = arn
        self.cluster = cluster
        self.definition = definition
        self.request = request
        self.last_status = "PROVISIONING"
        self.stop_code = ""
        self.stopped_reason = ""
        self.exit_code = None
        self.proc: subprocess.Popen | None = None
        self.container = definition["containerDefinitions"][0]["name"]

    def shape(self):
        containers = []
        for c in self.definition["containerDefinitions"]:
            entry = {"name": c["name"], "lastStatus": self.last_status, "taskArn": self.arn}
            if (
                self.last_status == "STOPPED"
                and c["name"] == self.container
                and self.exit_code is not None
            ):
                entry["exitCode"] = self.exit_code
            containers.append(entry)
        data = {
            "taskArn": self.arn,
            "clusterArn": self.cluster,
            "taskDefinitionArn": self.definition["taskDefinitionArn"],
            "lastStatus": self.last_status,
            "desiredStatus": "STOPPED" if self.last_status == "STOPPED" else "RUNNING",
            "launchType": "FARGATE",
            "containers": containers,
            "overrides": self.request.get("overrides", {}),
            "startedBy": self.request.get("startedBy", ""),
        }
        if self.last_status == "STOPPED":
            data["stopCode"] = self.stop_code
            data["stoppedReason"] = self.stopped_reason
        return data


class EcsStandIn:
    def __init__(
        self,
        moto_url: str,
        workdirs: dict[str, Path],
        region: str = "eu-west-2",
        env: dict[str, str] | None = None,
    ):
        self.moto_url = moto_url
        self.workdirs = workdirs
        self.region = region
        self.env = env or {}
        self.requests: list[tuple[str, dict]] = []
        self.tasks: dict[str, Task] = {}
        self.fail_next: list[dict] = []  # `failures` for the next run_task answer
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = (self.headers.get("X-Amz-Target") or "").replace(PREFIX, "")
                if action in ("RunTask", "DescribeTasks", "StopTask"):
                    request = json.loads(body or b"{}")
                    stand_in.requests.append((action, request))
                    status, answer = getattr(stand_in, action.lower())(request)
                    data = json.dumps(answer).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self._forward(body)

            def _forward(self, body):
                parts = urlsplit(stand_in.moto_url)
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request("POST", self.path, body=body, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for k, v in reply.getheaders():
                    if k.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "server",
                        "date",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        for task in self.tasks.values():
            if task.proc is not None and task.proc.poll() is None:
                os.killpg(task.proc.pid, signal.SIGKILL)
        self.server.shutdown()
        self.server.server_close()

    # -- boto3 clients on moto ---------------------------------------------------------------
    def client(self, service):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    @staticmethod
    def _error(kind, message):
        return 400, {"__type": kind, "message": message}

    # -- the three calls ---------------------------------------------------------------------
    def runtask(self, req):
        if req.get("launchType") != "FARGATE":
            return self._error("InvalidParameterException", "launchType must be FARGATE here")
        vpc = (req.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        if not vpc.get("subnets") or not vpc.get("securityGroups"):
            return self._error(
                "InvalidParameterException",
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            )
        bad = [s for s in vpc["subnets"] if s.startswith("subnet-missing")]
        if bad:
            return self._error(
                "InvalidParameterException",
                f"Error retrieving subnet "
                f"information for [{bad[0]}]: The subnet ID '{bad[0]}' does not "
                f"exist (Service: AmazonEC2; Status Code: 400)",
            )
        import botocore.exceptions

        try:
            definition = self.client("ecs").describe_task_definition(
                taskDefinition=req["taskDefinition"]
            )["taskDefinition"]
        except botocore.exceptions.ClientError:
            return self._error("ClientException", "Unable to describe task definition.")
        names = {c["name"] for c in definition["containerDefinitions"]}
        for override in (req.get("overrides") or {}).get("containerOverrides", []):
            if override.get("name") not in names:
                return self._error(
                    "InvalidParameterException",
                    f"Override for container named {override.get('name')} is "
                    f"not a container in the TaskDefinition.",
                )
        if self.fail_next:
            failures, self.fail_next = self.fail_next, []
            return 200, {"tasks": [], "failures": failures}
        cluster = f"arn:aws:ecs:{self.region}:{ACCOUNT}:cluster/{req.get('cluster', 'default')}"
        arn = (
            f"arn:aws:ecs:{self.region}:{ACCOUNT}:task/{req.get('cluster', 'default')}/"
            f"{uuid.uuid4().hex}"
        )
        task = Task(arn, cluster, definition, req)
        self.tasks[arn] = task
        threading.Thread(target=self._run, args=(task,), daemon=True).start()
        return 200, {"tasks": [task.shape()], "failures": []}

    def describetasks(self, req):
        found, failures = [], []
        for arn in req.get("tasks", []):
            task = self.tasks.get(arn)
            if task is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(task.shape())
        return 200, {"tasks": found, "failures": failures}

    def stoptask(self, req):
        task = self.tasks.get(req.get("task", ""))
        if task is None:
            return self._error("InvalidParameterException", "The referenced task was not found.")
        with self.lock:
            if task.last_status != "STOPPED":
                task.stop_code = "UserInitiated"
                task.stopped_reason = req.get("reason") or "Task stopped by user"
                if task.proc is not None and task.proc.poll() is None:
                    os.killpg(task.proc.pid, signal.SIGTERM)
        return 200, {"task": task.shape()}

    # -- the "container" ---------------------------------------------------------------------
    def _environment(self, container):
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **self.env}
        for item in container.get("environment", []):
            env[item["name"]] = item["value"]
        sm = self.client("secretsmanager")
        for item in container.get("secrets", []):
            ref = item["valueFrom"]
            parts = ref.split(":")
            secret_id = ":".join(parts[:7]) if ref.startswith("arn:") else ref
            key = parts[7] if ref.startswith("arn:") and len(parts) > 7 else ""
            value = sm.get_secret_value(SecretId=secret_id)["SecretString"]
            env[item["name"]] = json.loads(value)[key] if key else value
        return env

    def _run(self, task: Task):
        container = next(
            c for c in task.definition["containerDefinitions"] if c["name"] == task.container
        )
        command = container.get("command") or []
        for override in (task.request.get("overrides") or {}).get("containerOverrides", []):
            if override.get("name") == task.container and override.get("command"):
                command = override["command"]
                task.container = override["name"]
        options = (container.get("logConfiguration") or {}).get("options") or {}
        group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix", "")
        stream = f"{prefix}/{task.container}/{task.arn.rsplit('/', 1)[-1]}"
        logs = self.client("logs")
        if group:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        time.sleep(0.3)  # provisioning
        try:
            task.proc = subprocess.Popen(
                command,
                cwd=self.workdirs[task.container],
                env=self._environment(container),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            task.stop_code, task.stopped_reason = (
                "TaskFailedToStart",
                f"CannotStartContainerError: {exc}",
            )
            task.last_status = "STOPPED"
            return
        task.last_status = "RUNNING"
        for line in task.proc.stdout:
            if group and line.strip():
                logs.put_log_events(
                    logGroupName=group,
                    logStreamName=stream,
                    logEvents=[
                        {"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")}
                    ],
                )
        code = task.proc.wait()
        with self.lock:
            task.exit_code = code if code >= 0 else 128 - code
            if not task.stop_code:
                task.stop_code = "EssentialContainerExited"
                task.stopped_reason = "Essential container in task exited"
            task.last_status = "STOPPED"
