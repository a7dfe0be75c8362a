"""The embedded stack, checked from outside with independent clients.

One stack per test session (the `stack` fixture, started by the backend code that
`inv stack.up --backend embedded` runs); the start/stop and fault tests live in
test_stack_lifecycle.py with stacks of their own.
"""

from __future__ import annotations

import json
import smtplib
import time
import urllib.request
from email.message import EmailMessage

import pytest

ROLES = {
    "lomash_auth": "lomash_auth",
    "lomash_product": "lomash_products",
    "lomash_order": "lomash_orders",
    "lomash_appointment": "lomash_appointments",
    "lomash_content": "lomash_content",
    "lomash_customer": "lomash_customers",
    "lomash_notification": "lomash_notifications",
    "lomash_analytics": "lomash_analytics",
}

pytestmark = pytest.mark.xdist_group("stack")


def port(stack, name):
    return int(stack.env[f"INVOKE_INFRA_{name}_PORT"])


def test_up_reports_every_part_started(stack):
    assert [r.part for r in stack.results] == ["postgres", "redis", "aws", "smtp"]
    assert {r.state for r in stack.results} == {"started"}
    assert all(r.elapsed > 0 for r in stack.results)


def test_postgres_roles_and_databases_exist(stack):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=port(stack, "POSTGRES"),
        user="lomash_master",
        password="changeme_local",
        dbname="postgres",
    ) as conn:
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        dbs = dict(
            conn.execute(
                "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
            )
        )
    assert set(ROLES) <= roles
    for role, db in ROLES.items():
        assert dbs[db] == role


def test_service_role_logs_in_with_its_env_password(stack):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=port(stack, "POSTGRES"),
        user="lomash_auth",
        password="changeme_local",
        dbname="lomash_auth",
    ) as conn:
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {"citext", "pgcrypto"} <= exts
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host="127.0.0.1",
            port=port(stack, "POSTGRES"),
            user="lomash_auth",
            password="wrong",
            dbname="lomash_auth",
            connect_timeout=3,
        )


def test_postgres_listens_on_loopback_only_without_unix_socket(stack):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=port(stack, "POSTGRES"),
        user="lomash_master",
        password="changeme_local",
        dbname="postgres",
    ) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('listen_addresses', 'unix_socket_directories', 'password_encryption')"
            )
        )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "password_encryption": "scram-sha-256",
    }


def test_redis_needs_the_password(stack):
    import redis

    good = redis.Redis(host="127.0.0.1", port=port(stack, "REDIS"), password="changeme_local", db=3)
    assert good.ping()
    good.set("slot:test", "1")
    assert good.get("slot:test") == b"1"
    good.delete("slot:test")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port(stack, "REDIS"), password="wrong").ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port(stack, "REDIS")).get("x")
    assert good.config_get("databases")["databases"] == "16"
    good.close()


def test_redis_password_is_not_on_the_command_line(stack):
    pid = int((stack.root / ".lomash/redis/redis.pid").read_text())
    from lomash_tasks import processes

    cmdline = " ".join(processes.command_line(pid))
    assert cmdline and "changeme_local" not in cmdline
    conf = stack.root / ".lomash/redis/redis.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o600"


def test_s3_buckets_can_be_created(stack):
    import boto3
    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port(stack, 'AWS')}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.create_bucket(
        Bucket="lomash-test-media", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    s3.put_object(Bucket="lomash-test-media", Key="a.txt", Body=b"hello")
    assert s3.get_object(Bucket="lomash-test-media", Key="a.txt")["Body"].read() == b"hello"
    assert "lomash-test-media" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_sent_mail_is_kept_and_listed(stack):
    msg = EmailMessage()
    msg["From"] = "no-reply@lomashwood.local"
    msg["To"] = "customer@example.com"
    msg["Subject"] = "Your booking"
    msg.set_content("See you on Monday.")
    with smtplib.SMTP("127.0.0.1", port(stack, "SMTP"), timeout=5) as client:
        client.send_message(msg)
    kept = list((stack.root / ".lomash/smtp/mail/new").iterdir())
    assert any(b"Your booking" in p.read_bytes() for p in kept)
    url = f"http://127.0.0.1:{port(stack, 'SMTP_WEB')}/api/v2/messages"
    with urllib.request.urlopen(url, timeout=5) as response:
        data = json.loads(response.read())
    assert data["total"] >= 1
    item = next(i for i in data["items"] if i["Content"]["Headers"]["Subject"] == ["Your booking"])
    assert item["To"][0] == {
        "Relays": None,
        "Mailbox": "customer",
        "Domain": "example.com",
        "Params": "",
    }
    assert "See you on Monday." in item["Content"]["Body"]


def test_warm_up_is_a_fast_no_op(stack):
    from lomash_tasks import stack as backends
    from lomash_tasks.stack.base import Settings

    backend = backends.get(stack.ws, Settings(), "embedded")
    start = time.monotonic()
    results = backend.up()
    assert time.monotonic() - start < 0.5
    assert {r.state for r in results} == {"already running"}


def test_inv_up_status_and_wait_on_the_running_stack(stack):
    result = stack.inv("stack.up", "--backend", "embedded", check=True)
    assert result.stdout.count("already running") >= 4, result.stdout
    status = json.loads(
        stack.inv("stack.status", "--backend", "embedded", "--json", check=True).stdout
    )
    assert [s["part"] for s in status] == ["postgres", "redis", "aws", "smtp"]
    assert {s["state"] for s in status} == {"running"}
    assert status[0]["version"].startswith("PostgreSQL 1")
    assert status[0]["address"] == f"127.0.0.1:{port(stack, 'POSTGRES')}"
    waited = stack.inv("stack.wait", "--backend", "embedded", "--timeout", "10", check=True)
    assert waited.stdout.count("ready in") == 4


def test_state_folders_are_private(stack):
    for part in ("redis", "aws", "smtp", "postgres"):
        assert (stack.root / ".lomash" / part).stat().st_mode & 0o077 == 0, part


def test_logs_of_one_part_and_of_all(stack):
    one = stack.inv("stack.logs", "--backend", "embedded", "--part", "smtp", check=True).stdout
    assert "SMTP trap on 127.0.0.1" in one
    every = stack.inv("stack.logs", "--backend", "embedded", check=True).stdout
    for part in ("postgres", "redis", "aws", "smtp"):
        assert f"── {part} (embedded)" in every
    assert "database system is ready to accept connections" in every


def test_logs_follow_needs_one_part(stack):
    from conftest import assert_user_error

    result = stack.inv("stack.logs", "--backend", "embedded", "--follow")
    assert_user_error(result, "--follow needs one part")


def test_sqs_ses_and_secrets_manager_answer_too(stack):
    import boto3

    kwargs = dict(
        endpoint_url=f"http://127.0.0.1:{port(stack, 'AWS')}",
        region_name="eu-west-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    sqs = boto3.client("sqs", **kwargs)
    url = sqs.create_queue(QueueName="lomash-test-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hi")
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hi"
    boto3.client("ses", **kwargs).verify_email_identity(EmailAddress="no-reply@lomashwood.local")
    secrets = boto3.client("secretsmanager", **kwargs)
    secrets.create_secret(Name="lomash/dev/test", SecretString="s3cr3t")
    assert secrets.get_secret_value(SecretId="lomash/dev/test")["SecretString"] == "s3cr3t"


def test_bad_timeout_is_a_user_error(stack):
    from conftest import assert_user_error

    result = stack.inv("stack.wait", "--timeout", "soon")
    assert_user_error(result, "--timeout must be a number of seconds greater than 0", "'soon'")
