"""aws: buckets, queues, secrets and the SES sender on the stack's AWS endpoint (moto).

Everything is checked with an independent boto3 client made here, not through the suite.
"""

from __future__ import annotations

import json
import shutil

import boto3
import pytest
from botocore.config import Config
from conftest import assert_user_error, free_port, make_workspace

from lomash_tasks import aws as aws_ops
from lomash_tasks.env import ops as environment
from lomash_tasks.workspace import Workspace

pytestmark = pytest.mark.xdist_group("stack")


def independent(stack, name):
    aws = stack.ws.registry.aws
    return boto3.client(
        name,
        endpoint_url=f"http://{aws.host}:{aws.port}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def own_ws(stack, tmp_root, request):
    """A workspace copy of our own (with .env files) that reaches the session's stack."""
    dest = tmp_root / f"aws-{request.node.name[:40]}"
    if dest.exists():
        shutil.rmtree(dest)
    make_workspace(dest)
    ws = Workspace(dest, stack.ws.registry)
    environment.copy_env(ws)
    return ws


def test_bootstrap_creates_everything_and_a_rerun_is_already_done(stack, own_ws):
    first = aws_ops.bootstrap(own_ws)
    assert {o.status for o in first.outcomes} <= {"created", "exists", "updated", "unchanged"}
    s3 = independent(stack, "s3")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"lomash-dev-media", "lomash-dev-assets"} <= names
    for bucket in ("lomash-dev-media", "lomash-dev-assets"):
        where = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"]
        assert where == "eu-west-2"
    sqs = independent(stack, "sqs")
    urls = sqs.list_queues().get("QueueUrls", [])
    for queue in ("lomash-notifications", "lomash-analytics-events"):
        assert any(u.endswith("/" + queue) for u in urls)
        assert any(u.endswith("/" + queue + "-dlq") for u in urls)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        policy = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        assert policy["deadLetterTargetArn"].endswith(":" + queue + "-dlq")
        assert int(policy["maxReceiveCount"]) == 5
    sm = independent(stack, "secretsmanager")
    listed = {s["Name"] for s in sm.list_secrets(MaxResults=100)["SecretList"]}
    assert {"lomash/dev/auth", "lomash/dev/order", "lomash/dev/gateway"} <= listed
    order = json.loads(sm.get_secret_value(SecretId="lomash/dev/order")["SecretString"])
    assert order["STRIPE_SECRET_KEY"] == "sk_test_placeholder"
    assert order["DATABASE_URL"].startswith("postgresql://lomash_order:")
    assert "PORT" not in order and "SECRETS_MANAGER_PREFIX" not in order
    ses = independent(stack, "ses")
    assert "no-reply@lomashwood.local" in ses.list_identities()["Identities"]

    again = aws_ops.bootstrap(own_ws)
    assert again.state == "already done", again.outcomes
    assert {o.status for o in again.outcomes} == {"exists", "unchanged"}


def test_changed_env_value_updates_only_that_secret_in_place(stack, own_ws):
    aws_ops.sync_secrets(own_ws)
    env = own_ws.root / "services" / "auth-service" / ".env"
    env.write_text(env.read_text().replace("JWT_SECRET=", "JWT_SECRET=rotated-", 1))
    outcomes = {o.name: o.status for o in aws_ops.sync_secrets(own_ws)}
    assert outcomes["lomash/dev/auth"] == "updated"
    assert {s for n, s in outcomes.items() if n != "lomash/dev/auth"} == {"unchanged"}
    sm = independent(stack, "secretsmanager")
    versions = sm.list_secret_version_ids(SecretId="lomash/dev/auth")["Versions"]
    assert len(versions) >= 2  # the same secret, a new version


def test_inv_bootstrap_never_prints_secret_values(stack, own_ws):
    env = dict(stack.env, INVOKE_WORKSPACE_ROOT=str(own_ws.root))
    result = stack.inv("aws.bootstrap", env=env, check=True)
    assert "aws.bootstrap:" in result.stdout
    for value in ("changeme_local", "sk_test_placeholder"):
        assert value not in result.stdout + result.stderr
    status = stack.inv("aws.status", "--json", env=env, check=True)
    found = json.loads(status.stdout)
    assert all(b["exists"] for b in found["buckets"])
    assert all(q["exists"] and q["dlq"] and q["max_receive_count"] == 5 for q in found["queues"])


def test_secrets_skip_services_without_env(stack, workspace):
    ws = Workspace(workspace, stack.ws.registry)
    outcomes = aws_ops.sync_secrets(ws)
    assert {o.status for o in outcomes} == {"skipped"}
    assert "inv env.copy" in outcomes[0].detail


def test_endpoint_down_is_a_clear_error(stack, inv):
    result = inv("aws.buckets", env={"INVOKE_INFRA_AWS_PORT": str(free_port())})
    assert_user_error(result, "Cannot reach the AWS endpoint", "inv stack.up")


def test_wait_reports_ready(stack):
    result = stack.inv("aws.wait", "--timeout", "10", check=True)
    assert "is ready" in result.stdout


def test_secret_values_rules():
    values = {
        "DATABASE_URL": "postgresql://u:pw@h/db",
        "PORT": "3001",
        "JWT_SECRET": "x",
        "SECRETS_MANAGER_PREFIX": "lomash/dev/auth",
        "EMPTY_SECRET": "",
        "CACHE_URL": "redis://localhost:6379/0",
        "REDIS_URL": "redis://:pw@h:6379/0",
    }
    assert aws_ops.secret_values(values) == {
        "DATABASE_URL": "postgresql://u:pw@h/db",
        "JWT_SECRET": "x",
        "REDIS_URL": "redis://:pw@h:6379/0",
    }
