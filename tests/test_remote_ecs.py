"""`db.migrate --target T` as ECS one-off tasks. moto cannot run an awsvpc task, so RunTask,
DescribeTasks and StopTask are answered by a stand-in (tests/standins/ecs_tasks.py, named in
every test below) that runs the container's command as a real local process; the task
definitions, the cluster, Secrets Manager and CloudWatch Logs are moto's, the database a real
PostgreSQL, and the migration real Prisma."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import SUITE_ROOT, assert_user_error
from remote_peers import Rds, aws_env, store_secrets, target_config
from standins.ecs_tasks import EcsStandIn

pytestmark = pytest.mark.xdist_group("remote")  # one worker: they share its stack, sshd and moto

PRISMA = ["npx", "prisma", "migrate", "deploy"]


@pytest.fixture
def rds(stack):
    made = Rds.create(stack.ws, {"auth", "product", "order"})
    yield made
    made.drop(stack.ws)


@pytest.fixture
def fargate(stack, rds, tmp_path):
    """moto (task definitions, cluster, logs, secrets) behind the stand-in for Fargate tasks."""
    moto = f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}"
    dirs = {svc.name: stack.root / svc.path for svc in stack.ws.registry.with_database}
    stand_in = EcsStandIn(moto, dirs, env={"CHECKPOINT_DISABLE": "1"})
    prefix = f"test/{rds.tag}"
    store_secrets(stack, prefix, rds.urls)
    ecs, logs, sm = (stand_in.client(s) for s in ("ecs", "logs", "secretsmanager"))
    cluster = f"{rds.tag}-cluster"
    ecs.create_cluster(clusterName=cluster)
    group = f"/ecs/{rds.tag}"
    logs.create_log_group(logGroupName=group)
    services = {}
    for svc in stack.ws.registry.with_database:
        if svc.alias not in rds.urls:
            continue
        arn = sm.describe_secret(SecretId=f"{prefix}/{svc.alias}")["ARN"]
        family = f"{rds.tag}-{svc.name}"
        ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": svc.name,
                    "image": f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/{svc.name}:test",
                    "memory": 512,
                    "essential": True,
                    "command": ["node", "dist/main.js"],
                    "environment": [{"name": "PRISMA_HIDE_UPDATE_MESSAGE", "value": "1"}],
                    "secrets": [{"name": "DATABASE_URL", "valueFrom": f"{arn}:DATABASE_URL::"}],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": group,
                            "awslogs-region": "eu-west-2",
                            "awslogs-stream-prefix": "migrate",
                        },
                    },
                }
            ],
        )
        services[svc.alias] = {"task_definition": family, "container": svc.name}
    settings = {
        "cluster": cluster,
        "subnets": ["subnet-0a1", "subnet-0b2"],
        "security_groups": ["sg-0mig"],
        "services": services,
        "poll": 0.2,
        "timeout": 120,
        "command": PRISMA,
    }

    def config(name="staging", **changes):
        ecs_cfg = json.loads(json.dumps(settings))
        for key, value in changes.items():
            if key in ecs_cfg["services"]:
                ecs_cfg["services"][key].update(value)
            else:
                ecs_cfg[key] = value
        path = target_config(
            tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}.yaml",
            name,
            stack=stack,
            rds=rds,
            prefix=prefix,
            sshd=None,
            ecs=ecs_cfg,
            production=name == "production",
        )
        text = path.read_text().replace(moto, stand_in.url)  # every AWS call via the stand-in
        path.write_text(text)
        return str(path)

    env = {**stack.env, **aws_env(stack)}
    yield stand_in, config, env, rds, cluster
    stand_in.close()


def runs(stand_in):
    return [r for a, r in stand_in.requests if a == "RunTask"]


def test_migrate_runs_prisma_as_an_ecs_task_on_the_fargate_stand_in(stack, fargate):
    stand_in, config, env, rds, cluster = fargate
    result = stack.inv(
        "-f", config(), "db.migrate", "--target", "staging", "--service", "auth", env=env
    )
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    (req,) = runs(stand_in)
    assert req["cluster"] == cluster
    assert req["taskDefinition"] == f"{rds.tag}-auth-service"
    assert req["launchType"] == "FARGATE" and req["count"] == 1
    assert req["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a1", "subnet-0b2"],
            "securityGroups": ["sg-0mig"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert req["overrides"] == {"containerOverrides": [{"name": "auth-service", "command": PRISMA}]}
    # the task's CloudWatch lines were streamed (Prisma's own words), and the exit code shown
    assert "auth-service | " in text and "All migrations have been successfully applied" in text, (
        text
    )
    assert "exit code 0" in text and "EssentialContainerExited" in text
    rows = rds.query(
        stack.ws, "auth", "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL"
    )
    assert rows[0][0] >= 1  # real Prisma migrated the "RDS" database
    assert rds.passwords[0] not in text


def test_a_task_that_exits_non_zero_on_the_fargate_stand_in(stack, fargate):
    stand_in, config, env, rds, _ = fargate
    failing = ["node", "-e", "console.log('Applying migration 0002'); process.exit(3)"]
    result = stack.inv(
        "-f",
        config(order={"command": failing}),
        "db.migrate",
        "--target",
        "staging",
        "--service",
        "order",
        "--service",
        "auth",
        env=env,
    )
    text = result.stdout + result.stderr
    assert_user_error(
        result,
        "order-payment-service | Applying migration 0002",
        "exit code 3 (EssentialContainerExited: Essential container in task exited)",
        "1 of 2 migration task(s) failed",
    )
    assert "auth-service" in text and "exit code 0" in text  # the other service still ran


def test_a_task_past_the_deadline_is_stopped_and_said_so_on_the_fargate_stand_in(stack, fargate):
    stand_in, config, env, rds, _ = fargate
    hang = [
        "node",
        "-e",
        "console.log('waiting for the advisory lock'); setInterval(() => {}, 1000)",
    ]
    began = time.monotonic()
    result = stack.inv(
        "-f",
        config(auth={"command": hang}),
        "db.migrate",
        "--target",
        "staging",
        "--service",
        "auth",
        "--timeout",
        "3",
        env=env,
    )
    assert_user_error(
        result,
        "waiting for the advisory lock",
        "ran past the deadline of 3 s: stopped it",
        "UserInitiated",
    )
    stops = [r for a, r in stand_in.requests if a == "StopTask"]
    assert len(stops) == 1 and "deadline" in stops[0]["reason"]
    assert time.monotonic() - began < 60
    (task,) = stand_in.tasks.values()
    assert task.proc.poll() is not None  # the "container" really ended


def test_tasks_that_fail_to_start_on_the_fargate_stand_in(stack, fargate):
    stand_in, config, env, rds, _ = fargate
    stand_in.fail_next = [
        {
            "arn": "arn:aws:ecs:eu-west-2:123456789012:container-instance/x",
            "reason": "Capacity is unavailable at this time. Please try again "
            "later or in a different availability zone",
        }
    ]
    capacity = stack.inv(
        "-f", config(), "db.migrate", "--target", "staging", "--service", "auth", env=env
    )
    assert_user_error(capacity, "ECS did not start the task: Capacity is unavailable")
    subnet = stack.inv(
        "-f",
        config(subnets=["subnet-missing-9"]),
        "db.migrate",
        "--target",
        "staging",
        "--service",
        "auth",
        env=env,
    )
    assert_user_error(subnet, "InvalidParameterException", "subnet-missing-9")
    assert not stand_in.tasks


def test_production_needs_yes_in_ci_and_the_typed_name_otherwise_on_the_fargate_stand_in(
    stack, fargate
):
    stand_in, config, env, rds, _ = fargate
    path = config("production")
    ci = stack.inv(
        "-f",
        path,
        "db.migrate",
        "--target",
        "production",
        "--service",
        "auth",
        env={**env, "CI": "true"},
    )
    assert_user_error(ci, "production", "--yes")
    wrong = stack.inv(
        "-f",
        path,
        "db.migrate",
        "--target",
        "production",
        "--service",
        "auth",
        env=env,
        input="yes\n",
    )
    assert_user_error(wrong, "Not confirmed", "nothing was done")
    assert not runs(stand_in)
    typed = stack.inv(
        "-f",
        path,
        "db.migrate",
        "--target",
        "production",
        "--service",
        "auth",
        env=env,
        input="production\n",
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr
    assert "Type the target's name" in typed.stdout
    assert len(runs(stand_in)) == 1
    yes = stack.inv(
        "-f",
        path,
        "db.migrate",
        "--target",
        "production",
        "--service",
        "auth",
        "--yes",
        env={**env, "CI": "true"},
    )
    assert yes.returncode == 0, yes.stdout + yes.stderr
    audit = [
        json.loads(line)
        for line in (stack.root / ".lomash" / "remote-audit.log").read_text().splitlines()
    ]
    mine = [e for e in audit if e["target"] == "production"]
    assert [e["result"][:40] for e in mine] == [
        "failed: Target 'production' is productio",
        "failed: Not confirmed (the answer was no",
        "done",
        "done",
    ]  # refusals are recorded too
    assert "under CI, db.migrate --target production (auth) needs --yes" in mine[0]["result"]
    assert all(e["who"] and e["when"] for e in mine)


def test_ctrl_c_while_a_task_runs_reports_its_fate_on_the_fargate_stand_in(stack, fargate):
    stand_in, config, env, rds, _ = fargate
    hang = ["node", "-e", "console.log('long migration'); setInterval(() => {}, 1000)"]
    full = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
    full.update(env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invoke",
            "-f",
            config(auth={"command": hang}),
            "db.migrate",
            "--target",
            "staging",
            "--service",
            "auth",
        ],
        cwd=SUITE_ROOT,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        t.last_status == "RUNNING" for t in stand_in.tasks.values()
    ):
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    (task,) = stand_in.tasks.values()
    assert proc.returncode == 130, out + err
    assert "Interrupted" in err and "is RUNNING" in err and "not stopped" in err, out + err
    assert task.arn in err
    assert task.proc.poll() is None  # left to finish, as reported
    assert not [a for a, _ in stand_in.requests if a == "StopTask"]


def test_aws_status_on_a_target(stack, fargate):
    stand_in, config, env, rds, cluster = fargate
    result = stack.inv("-f", config(), "aws.status", "--target", "staging", "--json", env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    secrets = {r["service"]: r["exists"] for r in found["secrets"]}
    assert secrets["auth-service"] and secrets["order-payment-service"]
    assert not secrets["content-service"]
    ecs_rows = {r["name"]: r for r in found["ecs"]}
    assert ecs_rows[cluster]["exists"]
    assert ecs_rows[f"{rds.tag}-auth-service"]["detail"].startswith("container auth-service")


def test_moto_still_cannot_run_an_awsvpc_task(stack):
    """Why the stand-in exists. When this fails, moto's server runs awsvpc tasks: drop the
    stand-in's RunTask and let these tests use moto's."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    kw = {
        "endpoint_url": f"http://127.0.0.1:{stack.env['INVOKE_INFRA_AWS_PORT']}",
        "region_name": "eu-west-2",
        "aws_access_key_id": "t",
        "aws_secret_access_key": "t",
        "config": Config(retries={"max_attempts": 1, "mode": "standard"}),
    }
    ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"g-{vpc}", Description="d", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="awsvpc-probe")
    ecs.register_task_definition(
        family="awsvpc-probe",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "x", "memory": 512}],
    )
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.run_task(
            cluster="awsvpc-probe",
            taskDefinition="awsvpc-probe",
            count=1,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
            },
        )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
